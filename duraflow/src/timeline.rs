//! The timeline page of a run: [`RunReport::to_html`] and [`RunReport::write_html`].
//!
//! One self-contained HTML file (inline CSS and script, nothing fetched): a Gantt chart of
//! every task over the run's time, the critical path, the totals, each reduction's merges
//! as one row, the slowest tasks, the failures and the skipped tasks, all filtered by one
//! search box. The run's data is embedded once, as JSON, and the script draws only the
//! Gantt rows in view, so a page of 100,000 tasks stays quick.
//!
//! The embedded data (`<script type="application/json" id="run-data">`) is an object:
//! * `tasks`: every task as `[key, outcome, start, end]`, or `[key, outcome, start, end,
//!   reason, attempts]` for a task that ran; sorted by start; `outcome` indexes `executed`,
//!   `restored`, `failed`, `skipped`; times in microseconds from the run's start; `reason`
//!   indexes `reasons`. Every other field names a task by its index in `tasks` (a key that
//!   has no span is written out as a string instead), so each key is written once.
//! * `reasons`: the distinct miss reasons, as text;
//! * `critical`: the critical path (see [`critical_path`]), as indexes, earliest first;
//! * `failed`: `[task, message]`; `skipped`: `[task, [upstream task, ...]]`;
//! * `started`: the run's start in milliseconds since the Unix epoch; `wall`: the time the
//!   chart spans, in microseconds.

use crate::report::{Outcome, RunReport, TaskSpan};
use hashbrown::HashMap;
use serde::ser::{SerializeSeq, Serializer};
use serde::Serialize;
use std::path::Path;
use std::time::Duration;

const PAGE: &str = include_str!("timeline.html");
const SCRIPT: &str = include_str!("timeline.js");

impl RunReport {
    /// The run as one self-contained HTML page titled `title`: a Gantt timeline of its
    /// tasks (coloured by outcome, the critical path marked), its totals, its reductions
    /// (a root `key` and its merges `key/3.5` counted as one row), its slowest tasks, its
    /// failures and its skipped tasks, with a search box for keys (also read from the
    /// address as `#q=...`). The page loads nothing from the network; keys and
    /// messages are shown as text, whatever characters they hold.
    ///
    /// ```
    /// use duraflow::{Outcome, RunReport, TaskSpan};
    /// use std::time::Duration;
    ///
    /// let report = RunReport {
    ///     executed: 1,
    ///     elapsed: Duration::from_millis(3),
    ///     tasks: vec![TaskSpan {
    ///         key: "<load>".into(),
    ///         outcome: Outcome::Executed,
    ///         start: Duration::ZERO,
    ///         end: Duration::from_millis(3),
    ///     }],
    ///     ..RunReport::default()
    /// };
    /// let html = report.to_html("nightly & co");
    /// assert!(html.contains("<title>nightly &amp; co</title>"));
    /// assert!(html.contains(r#"["\u003cload\u003e",0,0,3000]"#));
    /// ```
    pub fn to_html(&self, title: &str) -> String {
        let data = PageData::new(self);
        let json = serde_json::to_string(&data).expect("the page data is plain JSON");
        let chain_busy: Duration = data
            .critical
            .iter()
            .map(|&i| span_length(data.spans[i]))
            .sum();
        fill(
            PAGE,
            &[
                ("title", &escape_html(title)),
                ("tasks", &self.tasks.len().to_string()),
                ("executed", &self.executed.to_string()),
                ("restored", &self.restored.to_string()),
                ("failed", &self.failed.len().to_string()),
                ("skipped", &self.skipped.len().to_string()),
                ("not_persisted", &self.not_persisted.to_string()),
                ("wall", &format_duration(self.elapsed)),
                ("chain_tasks", &data.critical.len().to_string()),
                ("chain_busy", &format_duration(chain_busy)),
                ("data", &escape_script(&json)),
                ("script", SCRIPT),
            ],
        )
    }

    /// Writes [`RunReport::to_html`] to `path`, titled after the run's start time, replacing
    /// any file there.
    ///
    /// ```
    /// let report = duraflow::RunReport::default();
    /// let path = std::env::temp_dir().join(format!("timeline-{}.html", std::process::id()));
    /// report.write_html(&path)?;
    /// assert!(std::fs::read_to_string(&path)?.starts_with("<!DOCTYPE html>"));
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn write_html(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        let title = format!("duraflow run of {}", utc_time(self.started_at_ms));
        std::fs::write(path, self.to_html(&title))
    }
}

/// What the page's script reads, serialized as documented in the module.
struct PageData<'a> {
    /// The report's spans, by start.
    spans: Vec<&'a TaskSpan>,
    /// Each span's miss reason (an index into `reasons`) and attempts, if it ran.
    runs: Vec<Option<(usize, u32)>>,
    reasons: Vec<String>,
    /// Indexes into `spans`, earliest first.
    critical: Vec<usize>,
    report: &'a RunReport,
    index: HashMap<&'a str, usize>,
}

impl<'a> PageData<'a> {
    fn new(report: &'a RunReport) -> Self {
        let mut spans: Vec<&TaskSpan> = report.tasks.iter().collect();
        spans.sort_by_key(|span| (span.start, span.end));
        let mut index = HashMap::with_capacity(spans.len());
        for (i, span) in spans.iter().enumerate() {
            index.entry(span.key.as_str()).or_insert(i);
        }
        let mut reasons = Vec::new();
        let mut reason_index = HashMap::new();
        let mut runs = vec![None; spans.len()];
        for run in &report.runs {
            let Some(&i) = index.get(run.key.as_str()) else {
                continue;
            };
            let text = run.reason.to_string();
            let next = reason_index.len();
            let reason = *reason_index.entry(text.clone()).or_insert_with(|| {
                reasons.push(text);
                next
            });
            runs[i] = Some((reason, run.attempts));
        }
        let critical = critical_path(&spans);
        PageData {
            spans,
            runs,
            reasons,
            critical,
            report,
            index,
        }
    }

    /// A task as the page names it: its index in `spans`, or its key if it has no span.
    fn task(&self, key: &'a str) -> TaskRef<'a> {
        match self.index.get(key) {
            Some(&i) => TaskRef::Index(i),
            None => TaskRef::Key(key),
        }
    }

    /// The time the chart spans: the run's, or its last task's end if that is later.
    fn wall(&self) -> Duration {
        let last_end = self.spans.iter().map(|span| span.end).max();
        last_end.unwrap_or_default().max(self.report.elapsed)
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum TaskRef<'a> {
    Index(usize),
    Key(&'a str),
}

/// One row of `tasks`: `[key, outcome, start, end]`, plus `reason, attempts` if it ran.
struct TaskRow<'a>(&'a TaskSpan, Option<(usize, u32)>);

impl Serialize for TaskRow<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let TaskRow(span, run) = self;
        let mut row = serializer.serialize_seq(Some(if run.is_some() { 6 } else { 4 }))?;
        row.serialize_element(span.key.as_str())?;
        row.serialize_element(&outcome_code(span.outcome))?;
        row.serialize_element(&micros(span.start))?;
        row.serialize_element(&micros(span.end))?;
        if let Some((reason, attempts)) = run {
            row.serialize_element(reason)?;
            row.serialize_element(attempts)?;
        }
        row.end()
    }
}

impl Serialize for PageData<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let tasks: Vec<TaskRow> = self
            .spans
            .iter()
            .zip(&self.runs)
            .map(|(span, run)| TaskRow(span, *run))
            .collect();
        let failed: Vec<(TaskRef, &str)> = self
            .report
            .failed
            .iter()
            .map(|failure| (self.task(failure.key.as_str()), failure.message.as_str()))
            .collect();
        let skipped: Vec<(TaskRef, Vec<TaskRef>)> = self
            .report
            .skipped
            .iter()
            .map(|skip| {
                let upstream = skip.upstream.iter().map(|up| self.task(up.as_str()));
                (self.task(skip.key.as_str()), upstream.collect())
            })
            .collect();
        let mut page = serializer.serialize_struct("PageData", 7)?;
        page.serialize_field("started", &self.report.started_at_ms)?;
        page.serialize_field("wall", &micros(self.wall()))?;
        page.serialize_field("reasons", &self.reasons)?;
        page.serialize_field("critical", &self.critical)?;
        page.serialize_field("failed", &failed)?;
        page.serialize_field("skipped", &skipped)?;
        page.serialize_field("tasks", &tasks)?;
        page.end()
    }
}

/// The critical path of a run whose dependency edges are unknown: the chain of tasks that
/// ends last in which each task began no earlier than the previous one ended. It starts at
/// the task that ended last and steps back, each time, to the task that ended latest
/// before the current one began. Returns indexes into `spans`, earliest first.
///
/// Ties go to the earlier task in `(end, start, index)` order, and each step goes strictly
/// back in that order, so tasks that take no time cannot make the walk go round in circles.
fn critical_path(spans: &[&TaskSpan]) -> Vec<usize> {
    let mut by_end: Vec<usize> = (0..spans.len()).collect();
    by_end.sort_by_key(|&i| (spans[i].end, spans[i].start, i));
    let mut chain = Vec::new();
    let mut place = by_end.len();
    while place > 0 {
        let current = by_end[place - 1];
        chain.push(current);
        let began = spans[current].start;
        let ended_before = by_end.partition_point(|&i| spans[i].end <= began);
        place = ended_before.min(place - 1);
    }
    chain.reverse();
    chain
}

fn span_length(span: &TaskSpan) -> Duration {
    span.end.saturating_sub(span.start)
}

fn outcome_code(outcome: Outcome) -> u8 {
    match outcome {
        Outcome::Executed => 0,
        Outcome::Restored => 1,
        Outcome::Failed => 2,
        Outcome::Skipped => 3,
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// `duration` as the page's script writes it: `1.23 s`, `45.6 ms` or `789 µs`.
fn format_duration(duration: Duration) -> String {
    let micros = micros(duration);
    if micros >= 1_000_000 {
        format!("{:.2} s", duration.as_secs_f64())
    } else if micros >= 1_000 {
        format!("{:.1} ms", micros as f64 / 1e3)
    } else {
        format!("{micros} µs")
    }
}

/// `ms` since the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC` (the proleptic Gregorian
/// calendar, by Howard Hinnant's `civil_from_days`).
fn utc_time(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let (hour, minute, second) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02} UTC")
}

/// `text` safe as HTML text or a quoted attribute value.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON safe inside a `<script>` element: with no `<` in it, no `</script>` can close the
/// element early and no `<!--` can change how it is parsed. `<`, `>` and `&` occur in JSON
/// only inside strings, where their `\u` escapes mean the same characters.
fn escape_script(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// `template` with each `{{name}}` replaced by its value. Values are not scanned again, so
/// a key that reads `{{script}}` stays text.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(template.len() + values.iter().map(|v| v.1.len()).sum::<usize>());
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let close = rest[open..].find("}}").map(|end| open + end);
        let name = close.map(|close| &rest[open + 2..close]);
        match values.iter().find(|(key, _)| Some(*key) == name) {
            Some((_, value)) => {
                out.push_str(&rest[..open]);
                out.push_str(value);
                rest = &rest[close.unwrap_or(open) + 2..];
            }
            None => {
                out.push_str(&rest[..open + 2]);
                rest = &rest[open + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(key: &str, start_ms: u64, end_ms: u64) -> TaskSpan {
        TaskSpan {
            key: key.into(),
            outcome: Outcome::Executed,
            start: Duration::from_millis(start_ms),
            end: Duration::from_millis(end_ms),
        }
    }

    fn chain(spans: &[TaskSpan]) -> Vec<&str> {
        let spans: Vec<&TaskSpan> = spans.iter().collect();
        critical_path(&spans)
            .into_iter()
            .map(|i| spans[i].key.as_str())
            .collect()
    }

    #[test]
    fn the_critical_path_walks_back_from_the_last_task_to_end() {
        let spans = [
            span("load", 0, 10),
            span("short", 0, 2),
            span("parse", 10, 30),
            span("side", 12, 20),
            span("write", 31, 50),
            span("early", 3, 9),
        ];
        assert_eq!(chain(&spans), ["load", "parse", "write"]);
        // Overlapping tasks are not a chain: each link began after the previous ended.
        assert_eq!(chain(&[span("a", 0, 10), span("b", 5, 20)]), ["b"]);
        assert_eq!(chain(&[]), Vec::<&str>::new());
    }

    #[test]
    fn tasks_that_take_no_time_cannot_make_the_walk_loop() {
        let spans = [span("x", 5, 5), span("y", 5, 5), span("z", 5, 5)];
        assert_eq!(chain(&spans), ["x", "y", "z"]);
    }

    #[test]
    fn the_embedded_data_cannot_close_its_script_element() {
        let escaped = escape_script(r#"["</script><!--x-->&"]"#);
        assert!(!escaped.contains('<') && !escaped.contains('>'));
        let back: Vec<String> = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back, ["</script><!--x-->&"]);
        assert!(!SCRIPT.contains("</script") && !SCRIPT.contains("<!--"));
    }

    #[test]
    fn templates_fill_each_name_once() {
        let filled = fill("<b>{{a}}</b>{{b}}{{", &[("a", "{{b}}"), ("b", "2")]);
        assert_eq!(filled, "<b>{{b}}</b>2{{");
        assert_eq!(fill("{{nope}}", &[]), "{{nope}}");
    }

    #[test]
    fn start_times_read_as_utc_dates() {
        assert_eq!(utc_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_time(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc_time(1_764_694_295_123), "2025-12-02 16:51:35 UTC");
    }

    #[test]
    fn durations_read_as_the_script_writes_them() {
        assert_eq!(format_duration(Duration::from_micros(789)), "789 µs");
        assert_eq!(format_duration(Duration::from_micros(45_600)), "45.6 ms");
        assert_eq!(format_duration(Duration::from_millis(1_234)), "1.23 s");
    }
}
