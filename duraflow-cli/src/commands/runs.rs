//! `runs`: the run journal. Without a run, one line per run kept; with one (an id, or
//! `last`), one line per task of that run.

use super::Outcome;
use crate::error::Fatal;
use crate::format::utc_iso8601;
use crate::store::Store;
use duraflow::{RunEntry, TaskSpan};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// What `runs` prints.
pub struct Options<'a> {
    /// The run to show, by id or `last`; every run when `None`.
    pub run: Option<&'a str>,
    /// Only the tasks with this outcome (`executed`, `restored`, `failed`, `skipped`).
    pub outcome: Option<&'a str>,
    /// JSON instead of a table.
    pub json: bool,
}

/// The entry named `run` (an id or `last`) among `runs`.
pub fn find<'r>(runs: &'r [RunEntry], run: &str, store: &Store) -> Result<&'r RunEntry, Fatal> {
    let found = match run {
        "last" => runs.last(),
        id => runs.iter().find(|entry| entry.id == id),
    };
    found.ok_or_else(|| {
        Fatal::new(format!(
            "no run `{run}` in the journal of {} ({} runs kept; `duraflow runs STORE` lists them)",
            store.path().display(),
            runs.len()
        ))
    })
}

/// Lists the runs of the store at `path`, or the tasks of one.
pub fn run(path: &Path, options: &Options<'_>, out: &mut dyn Write) -> Result<Outcome, Fatal> {
    let store = Store::open_read_only(path)?;
    let runs = store.context_runs()?;
    match options.run {
        None => list(&runs, options.json, out)?,
        Some(run) => tasks(find(&runs, run, &store)?, options, out)?,
    }
    Ok(Outcome::Clean)
}

fn list(runs: &[RunEntry], json: bool, out: &mut dyn Write) -> Result<(), Fatal> {
    if json {
        let rows: Vec<_> = runs
            .iter()
            .map(|entry| {
                let r = &entry.report;
                serde_json::json!({
                    "id": entry.id, "host": entry.host, "pid": entry.pid,
                    "started": utc_iso8601(r.started_at_ms),
                    "duration_ms": r.elapsed.as_secs_f64() * 1000.0,
                    "tasks": r.tasks.len(), "executed": r.executed, "restored": r.restored,
                    "failed": r.failed.len(), "skipped": r.skipped.len(),
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::Value::Array(rows))?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<32}  {:<24}  {:>10}  {:>8}  {:>8}  {:>6}  {:>7}  HOST",
        "ID", "STARTED", "DURATION", "EXECUTED", "RESTORED", "FAILED", "SKIPPED"
    )?;
    for entry in runs {
        let r = &entry.report;
        writeln!(
            out,
            "{:<32}  {:<24}  {:>10}  {:>8}  {:>8}  {:>6}  {:>7}  {}",
            entry.id,
            utc_iso8601(r.started_at_ms),
            format!("{:.1}ms", r.elapsed.as_secs_f64() * 1000.0),
            r.executed,
            r.restored,
            r.failed.len(),
            r.skipped.len(),
            entry.host
        )?;
    }
    Ok(())
}

/// One task of a run as `runs STORE RUN` shows it.
struct Task<'a> {
    span: &'a TaskSpan,
    reason: String,
    attempts: u32,
    error: String,
}

fn tasks(entry: &RunEntry, options: &Options<'_>, out: &mut dyn Write) -> Result<(), Fatal> {
    let report = &entry.report;
    let runs: HashMap<&str, _> = report.runs.iter().map(|r| (r.key.as_str(), r)).collect();
    let failed: HashMap<&str, &str> = report
        .failed
        .iter()
        .map(|f| (f.key.as_str(), f.message.as_str()))
        .collect();
    let skipped: HashMap<&str, String> = report
        .skipped
        .iter()
        .map(|s| {
            (
                s.key.as_str(),
                format!("upstream failed: {}", s.upstream.join(", ")),
            )
        })
        .collect();
    let rows: Vec<Task<'_>> = report
        .tasks
        .iter()
        .filter(|span| options.outcome.is_none_or(|o| span.outcome.as_str() == o))
        .map(|span| {
            let key = span.key.as_str();
            let run = runs.get(key);
            Task {
                span,
                reason: run.map(|r| r.reason.to_string()).unwrap_or_default(),
                attempts: run.map_or(0, |r| r.attempts),
                error: failed
                    .get(key)
                    .map(|m| m.to_string())
                    .or_else(|| skipped.get(key).cloned())
                    .unwrap_or_default(),
            }
        })
        .collect();
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    if options.json {
        let rows: Vec<_> = rows
            .iter()
            .map(|t| {
                serde_json::json!({
                    "key": t.span.key.as_str(), "outcome": t.span.outcome.as_str(),
                    "reason": t.reason, "attempts": t.attempts,
                    "start_ms": ms(t.span.start), "end_ms": ms(t.span.end), "error": t.error,
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::Value::Array(rows))?;
        return Ok(());
    }
    writeln!(
        out,
        "run {} on {} (pid {}), started {}",
        entry.id,
        entry.host,
        entry.pid,
        utc_iso8601(report.started_at_ms)
    )?;
    writeln!(
        out,
        "{:<9}  {:>10}  {:>10}  {:>8}  KEY  REASON / ERROR",
        "OUTCOME", "START", "DURATION", "ATTEMPTS"
    )?;
    for t in &rows {
        let detail = [t.reason.as_str(), t.error.as_str()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(": ");
        writeln!(
            out,
            "{:<9}  {:>10}  {:>10}  {:>8}  {}  {}",
            t.span.outcome.as_str(),
            format!("{:.3}ms", ms(t.span.start)),
            format!("{:.3}ms", ms(t.span.end.saturating_sub(t.span.start))),
            t.attempts,
            crate::format::printable_key(t.span.key.as_str()),
            detail
        )?;
    }
    Ok(())
}
