//! Incremental re-runs with `#[durable(cache = inputs)]`: after an edit, only the tasks whose
//! fields or inputs changed run again, and a task that runs again but produces the same
//! output stops the change there (early cutoff).
//!
//! ```text
//! cargo run -p duraflow-examples --example incremental
//! ```
//!
//! The pipeline `Source → Words → Count → Summary` runs five times against one `FileStore`;
//! between runs the "source file" (a field of `Source`) or the summary's title (a config
//! value) is edited. Each run prints which tasks ran and why.

use dagx::DagRunner;
use duraflow::{durable, Context, DurableDag, DuraflowError, FileStore, Miss, RunReport};
use serde::Serialize;
use std::sync::Arc;

/// The text of a source file. Editing the file is changing `text`: with `cache = inputs`
/// the task's fields are part of what its record was computed from.
#[derive(Serialize)]
struct Source {
    path: &'static str,
    text: &'static str,
}

#[durable(key = "source-{path}", cache = inputs)]
impl Source {
    fn run(&self) -> String {
        self.text.to_owned()
    }
}

/// The words of the text, lowercased: a reformatted text gives the same words.
#[derive(Serialize)]
struct Words;

#[durable(key = "words", cache = inputs)]
impl Words {
    fn run(text: &String) -> Vec<String> {
        text.split_whitespace().map(str::to_lowercase).collect()
    }
}

/// How many distinct words there are.
#[derive(Serialize)]
struct Count;

#[durable(key = "count", cache = inputs)]
impl Count {
    fn run(words: &Vec<String>) -> usize {
        let mut distinct = words.clone();
        distinct.sort();
        distinct.dedup();
        distinct.len()
    }
}

/// A one-line summary; `title` is a config value.
#[derive(Serialize)]
struct Summary {
    title: &'static str,
}

#[durable(key = "summary", cache = inputs)]
impl Summary {
    fn run(&self, count: &usize) -> String {
        format!("{}: {count} distinct words", self.title)
    }
}

/// One run of the pipeline over `text`, titled `title`.
async fn run_once(
    ctx: &Arc<Context>,
    text: &'static str,
    title: &'static str,
) -> Result<(String, RunReport), DuraflowError> {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let source = d
        .task(Source {
            path: "notes.txt",
            text,
        })
        .depends_on(());
    let words = d.task(Words).depends_on(source);
    let count = d.task(Count).depends_on(words);
    let summary = d.task(Summary { title }).depends_on(count);
    let report = d
        .run(|f| {
            tokio::spawn(f);
        })
        .await?;
    Ok((dag.get(summary).expect("summary ran"), report))
}

/// Prints which tasks ran and why, in the order they finished; returns them as
/// `(key, reason)`.
fn print_report(step: &str, summary: &str, report: &RunReport) -> Vec<(String, Miss)> {
    println!("{step}");
    println!("  -> {summary:?}");
    let ran: Vec<(String, Miss)> = report
        .runs
        .iter()
        .map(|run| (run.key.to_string(), run.reason.clone()))
        .collect();
    for (key, reason) in &ran {
        println!("  ran      {key:<20} ({reason})");
    }
    println!("  restored {} task(s)\n", report.restored);
    ran
}

fn keys(ran: &[(String, Miss)]) -> Vec<&str> {
    ran.iter().map(|(key, _)| key.as_str()).collect()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("duraflow-incremental-{}", std::process::id()));
    println!("store: FileStore in {}\n", dir.display());
    let ctx = Arc::new(Context::new(FileStore::new(&dir)?));

    let steps = [
        ("1. first run: nothing stored yet", "the quick brown fox", "Notes"),
        ("2. nothing edited", "the quick brown fox", "Notes"),
        (
            "3. source reformatted (case and spaces): same words, so `count` and `summary` are restored",
            "The  quick\nbrown FOX",
            "Notes",
        ),
        ("4. a word added to the source", "The quick brown fox jumps", "Notes"),
        ("5. config edited: only the summary's title", "The quick brown fox jumps", "My notes"),
    ];
    let mut runs = Vec::new();
    for (step, text, title) in steps {
        let (summary, report) = run_once(&ctx, text, title).await?;
        runs.push((summary.clone(), print_report(step, &summary, &report)));
    }

    // What each edit re-ran (the example doubles as a check). The pipeline is a chain, so
    // tasks finish in its order.
    let all = ["source-notes.txt", "words", "count", "summary"];
    let ran: Vec<Vec<&str>> = runs.iter().map(|(_, ran)| keys(ran)).collect();
    assert_eq!(ran[0], all);
    assert!(ran[1].is_empty());
    assert_eq!(ran[2], ["source-notes.txt", "words"]);
    assert_eq!(ran[3], all);
    assert_eq!(ran[4], ["summary"]);
    assert!(runs[2]
        .1
        .iter()
        .all(|(_, reason)| *reason == Miss::InputsChanged));
    assert_eq!(runs[3].0, "Notes: 5 distinct words");
    assert_eq!(runs[4].0, "My notes: 5 distinct words");

    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
