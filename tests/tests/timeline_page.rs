//! The timeline page (`RunReport::write_html`) as a person sees it: each page is opened in
//! headless Chromium, and the test reads the document after the page's own script ran.
//! Chromium is required: without it these tests fail, saying how to install it.

mod common;

use common::{spawn, CountedAdd, Load, MaybePanic, Mul, Runs};
use dagx::{task, DagRunner, Task};
use duraflow::{
    Context, DurableDag, Family, MemoryStore, Miss, Outcome, RunReport, Skipped, TaskFailure,
    TaskRun, TaskSpan,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const HOSTILE: &str = "</script><img src=x onerror=alert(1)>";

/// Fails with a message saying what the input was.
struct Check;

#[task]
impl Check {
    async fn run(x: &i32) -> Result<i32, String> {
        Err(format!("value {x} is out of range"))
    }
}

/// The `chromium` (or `chromium-browser`) binary on `PATH`.
fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "the timeline page tests need a headless browser, and neither `chromium` nor \
         `chromium-browser` is on PATH: run `apt-get install -y chromium`"
    );
}

/// The document of `page` (opened at `#fragment` if it is not empty) once its script ran,
/// as headless Chromium serializes it.
fn dump_dom(page: &Path, fragment: &str) -> String {
    let browser = chromium();
    let profile = tempfile::tempdir().unwrap();
    let out_path = profile.path().join("dom.html");
    let out = std::fs::File::create(&out_path).unwrap();
    let mut url = format!("file://{}", page.display());
    if !fragment.is_empty() {
        url = format!("{url}#{fragment}");
    }
    let mut child = Command::new(&browser)
        .args(["--headless", "--disable-gpu", "--no-sandbox", "--dump-dom"])
        .arg("--virtual-time-budget=5000")
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(&url)
        .stdout(Stdio::from(out))
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", browser.display()));
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            child.wait().ok();
            panic!(
                "{} did not finish loading {url} within 120 s",
                browser.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "{} failed on {url}: {status}",
        browser.display()
    );
    std::fs::read_to_string(&out_path).unwrap()
}

/// The text of the element with `id` (up to its first child element or its end).
fn text_of<'a>(dom: &'a str, id: &str) -> &'a str {
    let open = format!("id=\"{id}\"");
    let start = dom
        .find(&open)
        .unwrap_or_else(|| panic!("no element #{id} in the page"));
    let text = &dom[start..];
    let text = &text[text.find('>').unwrap() + 1..];
    &text[..text.find('<').unwrap()]
}

/// The markup of the table with `id`.
fn table<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("<table id=\"{id}\""))
        .unwrap_or_else(|| panic!("no table #{id} in the page"));
    let rest = &dom[start..];
    &rest[..rest.find("</table>").unwrap()]
}

/// Gantt rows in the document (only those in view are drawn).
fn gantt_rows(dom: &str) -> usize {
    dom.matches("<div class=\"row ").count()
}

/// Table rows in the body of the table with `id`.
fn body_rows(dom: &str, id: &str) -> usize {
    let table = table(dom, id);
    table[table.find("<tbody>").unwrap()..]
        .matches("<tr>")
        .count()
}

/// A second run over a store that holds `load-1`: `load-1` restored; `load-2` and the
/// hostile key executed; `check` returns `Err`; `explode` panics, so `after-explode` is
/// skipped. Returns the report of that run (which fails, for the panic).
async fn mixed_run() -> RunReport {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    d.add("load-1", Load(1));
    d.run(spawn).await.unwrap();

    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx);
    let one = d.add("load-1", Load(1));
    d.add("load-2", Mul(2)).depends_on(&one);
    d.add("check", Check).depends_on(&one);
    d.add(HOSTILE, Load(3));
    let explode = MaybePanic {
        value: 0,
        panic_with: Some("disk on fire"),
        runs: Runs::new(),
    };
    let explode = d.add("explode", explode);
    let after = CountedAdd {
        add: 1,
        runs: Runs::new(),
    };
    d.add("after-explode", after).depends_on(&explode);
    d.run(spawn).await.unwrap_err();
    d.last_report().expect("the failed run keeps its report")
}

#[tokio::test]
async fn the_page_shows_a_real_run() {
    let report = mixed_run().await;
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("run.html");
    report.write_html(&page).unwrap();

    let dom = dump_dom(&page, "");
    assert!(
        dom.contains("First rows drawn"),
        "the page's script did not finish"
    );
    assert_eq!(gantt_rows(&dom), 6);
    assert_eq!(text_of(&dom, "shown"), "6 of 6 tasks shown");
    let totals = [
        ("total-tasks", 6),
        ("total-executed", report.executed),
        ("total-restored", 1),
        ("total-failed", 2),
        ("total-skipped", 1),
    ];
    for (id, expected) in totals {
        assert_eq!(text_of(&dom, id), expected.to_string(), "#{id}");
    }
    assert_eq!(
        report.executed, 3,
        "load-2, check and the hostile key; a panic is no output"
    );

    let failures = table(&dom, "failures");
    assert_eq!(body_rows(&dom, "failures"), 2);
    assert!(failures.contains("value 1 is out of range"), "{failures}");
    assert!(failures.contains("disk on fire"), "{failures}");
    let skipped = table(&dom, "skipped");
    assert_eq!(body_rows(&dom, "skipped"), 1);
    assert!(
        skipped.contains(">after-explode</td><td class=\"key\">explode</td>"),
        "{skipped}"
    );
    assert_eq!(body_rows(&dom, "slowest"), 4, "every task that ran");

    // The hostile key is text everywhere: no element came from it.
    assert!(!dom.contains("<img"), "an element was injected");
    let shown = "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;";
    assert!(dom.contains(&format!("<div class=\"key\">{shown}</div>")));
    assert!(!page_source_has_raw(&page, HOSTILE));
}

/// Whether the file holds `text` unescaped.
fn page_source_has_raw(page: &Path, text: &str) -> bool {
    std::fs::read_to_string(page).unwrap().contains(text)
}

#[tokio::test]
async fn the_search_in_the_address_filters_the_rows_and_the_tables() {
    let report = mixed_run().await;
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("run.html");
    report.write_html(&page).unwrap();

    let dom = dump_dom(&page, "q=load");
    assert_eq!(gantt_rows(&dom), 2);
    assert_eq!(text_of(&dom, "shown"), "2 of 6 tasks shown");
    assert!(dom.contains("<div class=\"key\">load-1</div>"));
    assert!(dom.contains("<div class=\"key\">load-2</div>"));
    assert_eq!(body_rows(&dom, "failures"), 0);
    assert_eq!(body_rows(&dom, "skipped"), 0);
    assert_eq!(
        body_rows(&dom, "slowest"),
        1,
        "load-2 ran, load-1 was restored"
    );

    let dom = dump_dom(&page, "q=EXPLODE");
    assert_eq!(gantt_rows(&dom), 2, "case does not matter");
    assert_eq!(body_rows(&dom, "failures"), 1);
    assert!(table(&dom, "failures").contains("disk on fire"));
    assert_eq!(body_rows(&dom, "skipped"), 1);

    let dom = dump_dom(&page, "q=%3C%2Fscript%3E");
    assert_eq!(gantt_rows(&dom), 1);
    assert_eq!(text_of(&dom, "shown"), "1 of 6 tasks shown");
    assert!(!dom.contains("<img"));
}

/// A report of `n` tasks, built directly: most executed, every 10th restored, every 100th
/// failed and the task after it skipped.
fn large_report(n: usize) -> RunReport {
    let mut report = RunReport {
        started_at_ms: 1_764_694_295_000,
        elapsed: Duration::from_micros(n as u64 * 20 + 1_000),
        ..RunReport::default()
    };
    for i in 0..n {
        let key = format!("task-{i:06}");
        let start = Duration::from_micros(i as u64 * 20);
        let (outcome, took) = match i % 100 {
            0 => (Outcome::Failed, 300),
            1 => (Outcome::Skipped, 0),
            _ if i % 10 == 5 => (Outcome::Restored, 0),
            _ => (Outcome::Executed, 50 + (i as u64 * 7919) % 900),
        };
        match outcome {
            Outcome::Executed | Outcome::Failed => report.runs.push(TaskRun {
                key: key.as_str().into(),
                reason: Miss::NoRecord,
                persisted: outcome == Outcome::Executed,
                attempts: 1,
            }),
            Outcome::Restored => report.restored += 1,
            Outcome::Skipped => report.skipped.push(Skipped {
                key: key.as_str().into(),
                upstream: vec![format!("task-{:06}", i - 1).as_str().into()],
            }),
        }
        if outcome == Outcome::Failed {
            report.failed.push(TaskFailure {
                key: key.as_str().into(),
                message: format!("task {i} failed"),
            });
        }
        report.tasks.push(TaskSpan {
            key: key.as_str().into(),
            outcome,
            start,
            end: start + Duration::from_micros(took),
        });
    }
    report.executed = report.runs.len();
    report.not_persisted = report.failed.len();
    report
}

#[test]
fn a_page_of_100_000_tasks_loads_and_draws_only_the_rows_in_view() {
    let report = large_report(100_000);
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("large.html");
    report.write_html(&page).unwrap();
    let size = std::fs::metadata(&page).unwrap().len();

    let dom = dump_dom(&page, "");
    let first_rows_ms = dom
        .split("data-first-rows-ms=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page records when its first rows were drawn");
    eprintln!("100,000 tasks: {size} bytes, first rows drawn after {first_rows_ms} ms");
    assert_eq!(text_of(&dom, "total-tasks"), "100000");
    assert_eq!(text_of(&dom, "total-failed"), "1000");
    assert_eq!(text_of(&dom, "total-skipped"), "1000");
    assert_eq!(text_of(&dom, "shown"), "100,000 of 100,000 tasks shown");
    let rows = gantt_rows(&dom);
    assert!(
        (1..100).contains(&rows),
        "{rows} Gantt rows in the document"
    );
    assert!(dom.contains("<div class=\"key\">task-000000</div>"));
    assert_eq!(body_rows(&dom, "slowest"), 20);
    assert_eq!(
        body_rows(&dom, "failures"),
        200,
        "a table draws at most 200 rows"
    );
    assert!(text_of(&dom, "failures-more").starts_with("800 more failures not shown"));

    let dom = dump_dom(&page, "q=task-09999");
    assert_eq!(text_of(&dom, "shown"), "10 of 100,000 tasks shown");
    assert_eq!(gantt_rows(&dom), 10);
}

/// Two runs of a reduction over inputs `load-0..200` (the second without `load-77`), beside
/// a task `batch/3` that only looks like a merge. Returns the second run's report.
async fn reduction_run() -> RunReport {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    let mut report = None;
    for skip in [None, Some(77)] {
        let dag = DagRunner::new();
        let d = DurableDag::new(&dag, ctx.clone());
        let inputs: Family<i32> = (0..200)
            .filter(|i| Some(*i) != skip)
            .map(|i| {
                let key = format!("load-{i}");
                let handle = d.add(&key, Load(i)).depends_on(());
                (key, handle)
            })
            .collect();
        d.reduce("total", &inputs, |parts: &[&i32]| {
            parts.iter().copied().sum()
        });
        d.add("batch/3", Load(3));
        report = Some(d.run(spawn).await.unwrap());
    }
    report.unwrap()
}

#[tokio::test]
async fn a_reduction_is_one_row_of_its_merges() {
    let report = reduction_run().await;
    let merges: Vec<&TaskSpan> = report
        .tasks
        .iter()
        .filter(|span| span.key.as_str() == "total" || span.key.as_str().starts_with("total/"))
        .collect();
    let count = |outcome| merges.iter().filter(|span| span.outcome == outcome).count();
    let (executed, restored) = (count(Outcome::Executed), count(Outcome::Restored));
    assert!(merges.len() > 8, "{} merges", merges.len());
    assert!(
        executed >= 1 && restored >= 1,
        "{executed} ran, {restored} restored"
    );
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("reduce.html");
    report.write_html(&page).unwrap();

    let dom = dump_dom(&page, "");
    assert_eq!(body_rows(&dom, "reductions"), 1, "batch/3 is no merge");
    let row = table(&dom, "reductions");
    let cells = format!(
        "<td class=\"reduction\" data-index=\"{}\">total</td><td class=\"num\">{}</td>",
        report
            .tasks
            .iter()
            .position(|span| span.key.as_str() == "total")
            .unwrap(),
        merges.len()
    );
    assert!(row.contains(&cells), "{cells} not in {row}");
    let counts = format!(
        "<td class=\"num\">{executed}</td><td class=\"num\">{restored}</td><td class=\"num\">0</td>"
    );
    assert!(row.contains(&counts), "{counts} not in {row}");

    let dom = dump_dom(&page, "q=total");
    let shown = format!("{} of {} tasks shown", merges.len(), report.tasks.len());
    assert_eq!(text_of(&dom, "shown"), shown);
    let dom = dump_dom(&page, "q=load-");
    assert_eq!(body_rows(&dom, "reductions"), 0);
    assert_eq!(
        text_of(&dom, "reductions-more"),
        "No reduction matches the search."
    );
}
