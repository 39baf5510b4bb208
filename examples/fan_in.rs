//! Fan-in past dagx's 8 inputs: a family of nodes, a second family that depends on it
//! member by member, and a reduction of that family to one value, written with the builder
//! and with `durable_dag!`.
//!
//! ```text
//! cargo run -p duraflow-examples --example fan_in
//! ```
//!
//! Both forms add the same nodes under the same keys. The builder form runs first, against
//! a new store: every document, every count and each merge of the reduction's tree (at most
//! 8 inputs a merge) runs. The DSL form then runs against that store and restores all of
//! it, and once more against a new store, where it runs everything again.

use dagx::DagRunner;
use duraflow::{durable, durable_dag, Context, DurableDag, Family, MemoryStore, RunReport};
use std::sync::Arc;

/// How many documents: past 8, so the reduction needs a tree of merges.
const DOCUMENTS: usize = 20;

/// Document `id`'s text (made up here; a real task would read a file or a URL).
struct Document {
    id: usize,
}

#[durable(key = "document-{id}")]
impl Document {
    fn run(&self) -> String {
        "lorem ipsum ".repeat(self.id + 1)
    }
}

/// The number of words of its input. One task type for every document, so each node of
/// the counts gets its own key.
struct WordCount;

#[durable(key = "word-count")]
impl WordCount {
    fn run(text: &String) -> usize {
        text.split_whitespace().count()
    }
}

/// The merge of the reduction: associative and commutative, as the tree groups the counts
/// by a hash of their keys.
fn total(parts: &[&usize]) -> usize {
    parts.iter().copied().sum()
}

/// The builder form: `DurableDag::family` for the documents, a `Family` collected from
/// `(key, handle)` pairs for the counts, `DurableDag::reduce` for the total.
async fn builder_form(ctx: &Arc<Context>) -> (RunReport, usize) {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let documents: Family<String> = d.family((0..DOCUMENTS).map(|id| Document { id }));
    let counts: Family<usize> = (0..DOCUMENTS)
        .map(|i| {
            let key = format!("words-{i}");
            let count = d.task_as(&key, WordCount).depends_on(documents[i]);
            (key, count)
        })
        .collect();
    let words = d.reduce("words", &counts, total);
    let report = d
        .run(|f| {
            tokio::spawn(f);
        })
        .await
        .expect("the DAG runs");
    (report, dag.get(words).expect("the total ran"))
}

/// The DSL form of the same DAG.
async fn dsl_form(ctx: &Arc<Context>) -> (RunReport, usize) {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    durable_dag! {
        dag: d;
        words @ "words" = total <- counts[..];                 // the reduction
        counts[i in 0..DOCUMENTS] @ "words-{i}" = WordCount <- documents[i];
        documents[id in 0..DOCUMENTS] = Document { id };       // keys "document-0", ...
    }
    let report = d
        .run(|f| {
            tokio::spawn(f);
        })
        .await
        .expect("the DAG runs");
    (report, dag.get(words).expect("the total ran"))
}

/// What ran: the documents, the counts and the merges (`words/…` are the tree's inner
/// merges, `words` its root).
fn print(form: &str, report: &RunReport, words: usize) {
    let executed = |prefix: &str| {
        report
            .runs
            .iter()
            .filter(|run| run.key.starts_with(prefix))
            .count()
    };
    let mut merges: Vec<&str> = report
        .runs
        .iter()
        .map(|run| run.key.as_str())
        .filter(|key| *key == "words" || key.starts_with("words/"))
        .collect();
    merges.sort();
    println!(
        "{form}: {words} words; executed {} ({} documents, {} counts, merges {merges:?}), \
         restored {}",
        report.executed,
        executed("document-"),
        executed("words-"),
        report.restored
    );
}

#[tokio::main]
async fn main() {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    let (built, words) = builder_form(&ctx).await;
    print("builder, new store", &built, words);
    let (restored, same) = dsl_form(&ctx).await;
    print("durable_dag!, same store", &restored, same);
    let (fresh, again) = dsl_form(&Arc::new(Context::new(MemoryStore::new()))).await;
    print("durable_dag!, new store", &fresh, again);

    let expected: usize = (1..=DOCUMENTS).map(|n| 2 * n).sum();
    assert_eq!((words, same, again), (expected, expected, expected));
    assert!(
        built.executed > 2 * DOCUMENTS + 1,
        "the tree has inner merges"
    );
    assert_eq!((restored.executed, restored.restored), (0, built.executed));
    assert_eq!(fresh.executed, built.executed);
}
