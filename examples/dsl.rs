//! `durable_dag!`: a whole durable DAG as one block, with the wiring generated.
//!
//! ```text
//! cargo run -p duraflow-examples --example dsl
//! ```
//!
//! Nodes are written in any order (here the result first) and depend on other nodes by
//! name; `@ "..."` gives a node its own key. The DAG runs twice against one store: the
//! first run executes every task, the second restores every output and executes nothing.

use dagx::DagRunner;
use duraflow::{durable, durable_dag, Context, DurableDag, MemoryStore, RunReport};
use std::sync::Arc;

/// A document's text (inline here; a real task would read a file or a URL).
struct Document {
    name: &'static str,
    text: &'static str,
}

#[durable(key = "document-{name}")]
impl Document {
    fn run(&self) -> String {
        println!("  running Document {{ name: {:?} }}", self.name);
        self.text.to_owned()
    }
}

/// The number of words of its input. The same task type runs for each document, so each
/// node gets its own key with `@`.
struct WordCount;

#[durable(key = "word-count")]
impl WordCount {
    async fn run(text: &String) -> usize {
        println!("  running WordCount on {} bytes", text.len());
        text.split_whitespace().count()
    }
}

/// The sum of two counts.
struct Total;

#[durable(key = "total")]
impl Total {
    fn run(a: &usize, b: &usize) -> usize {
        println!("  running Total");
        a + b
    }
}

async fn run_once(ctx: &Arc<Context>) -> (RunReport, usize) {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    durable_dag! {
        dag: d;
        total = Total <- (readme_words, design_words);
        readme_words @ "words-readme" = WordCount <- readme;
        design_words @ "words-design" = WordCount <- design;
        readme = Document { name: "readme", text: "run it twice" };
        design = Document { name: "design", text: "tasks persist their outputs under keys" };
    }
    let report = d
        .run(|f| {
            tokio::spawn(f);
        })
        .await
        .expect("the DAG runs");
    (report, dag.get(total).expect("total ran"))
}

#[tokio::main]
async fn main() {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    let mut runs = Vec::new();
    for attempt in 1..=2 {
        println!("run {attempt}:");
        let (report, total) = run_once(&ctx).await;
        println!(
            "run {attempt}: total = {total} words; executed {}, restored {}",
            report.executed, report.restored
        );
        runs.push((report.executed, report.restored, total));
    }
    assert_eq!(runs, [(5, 0, 9), (0, 5, 9)]);
    assert_eq!(ctx.get::<usize>("words-design"), Some(6));
    assert_eq!(
        ctx.get::<String>("document-readme").as_deref(),
        Some("run it twice")
    );
}
