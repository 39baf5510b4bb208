//! Reductions over more inputs than a dagx task takes: a tree of durable merges of at most 8
//! inputs, restored as a whole, and after a change to its inputs recomputed along the changed
//! input's path only.

mod common;

use common::{spawn, Runs};
use dagx::DagRunner;
use duraflow::{durable, Context, DurableDag, Family, MemoryStore, Miss, RunReport};
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::Arc;

fn memory() -> Arc<Context> {
    Arc::new(Context::new(MemoryStore::new()))
}

/// Parses one document into its set of words, counting its executions.
#[derive(Serialize)]
struct Parse {
    id: usize,
    text: String,
    #[serde(skip)]
    runs: Runs,
}

#[durable(key = "doc-{id}", cache = inputs)]
impl Parse {
    async fn run(&self) -> BTreeSet<String> {
        self.runs.hit();
        self.text.split_whitespace().map(str::to_owned).collect()
    }
}

fn union(parts: &[&BTreeSet<String>]) -> BTreeSet<String> {
    parts.iter().flat_map(|part| part.iter().cloned()).collect()
}

fn text_of(id: usize) -> String {
    format!("word{id} shared")
}

/// Runs the reduction of the documents `ids` (with `edited` giving a changed text) and
/// returns the index, the report and how many documents were parsed.
async fn run_index(
    ctx: &Arc<Context>,
    ids: &[usize],
    edited: Option<usize>,
) -> (BTreeSet<String>, RunReport, usize) {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let runs = Runs::new();
    let docs: Family<BTreeSet<String>> = d.family(ids.iter().map(|&id| Parse {
        id,
        text: match edited {
            Some(changed) if changed == id => format!("edited{id} shared"),
            _ => text_of(id),
        },
        runs: runs.clone(),
    }));
    assert_eq!(docs.len(), ids.len());
    let index = d.reduce("index", &docs, union);
    let report = d.run(spawn).await.unwrap();
    (dag.get(index).unwrap(), report, runs.count())
}

/// The executed merges of a run: the root `index` and the inner `index/…` nodes.
fn merges(report: &RunReport) -> Vec<String> {
    report
        .runs
        .iter()
        .map(|run| run.key.to_string())
        .filter(|key| key == "index" || key.starts_with("index/"))
        .collect()
}

/// The parent of a merge: its key without the last digit of its place (the root has none).
fn parent(key: &str) -> Option<String> {
    let place = key.strip_prefix("index/")?;
    Some(match place.rsplit_once('.') {
        Some((parent, _)) => format!("index/{parent}"),
        None => "index".to_owned(),
    })
}

/// Asserts that `executed` is one path from the root down: each merge's parent ran too, and
/// no two ran at the same depth. Returns the path's length.
fn assert_one_path(executed: &[String]) -> usize {
    let depth = |key: &str| key.matches(['/', '.']).count();
    let mut depths: Vec<usize> = executed.iter().map(|key| depth(key)).collect();
    depths.sort();
    assert_eq!(
        depths,
        (0..executed.len()).collect::<Vec<_>>(),
        "one merge per level: {executed:?}"
    );
    for key in executed {
        if let Some(parent) = parent(key) {
            assert!(
                executed.contains(&parent),
                "{key} ran without {parent}: {executed:?}"
            );
        }
    }
    executed.len()
}

fn expected_index(ids: &[usize]) -> BTreeSet<String> {
    ids.iter()
        .flat_map(|&id| [format!("word{id}"), "shared".to_owned()])
        .collect()
}

#[tokio::test]
async fn a_reduction_of_500_inputs_runs_once_then_restores_and_reruns_one_path_per_change() {
    let ctx = memory();
    let ids: Vec<usize> = (0..500).collect();

    let (index, report, parsed) = run_index(&ctx, &ids, None).await;
    assert_eq!(index, expected_index(&ids));
    assert_eq!(parsed, 500);
    let all = merges(&report);
    assert!(all.contains(&"index".to_owned()));
    // 500 inputs in merges of at most 8: at least 63 + 8 + 1 merges, every inner one named
    // after the reduction and its place in the tree.
    assert!(all.len() >= 72, "{} merges", all.len());
    let deepest = all
        .iter()
        .map(|key| key.matches(['/', '.']).count())
        .max()
        .unwrap();
    assert!((2..=5).contains(&deepest), "depth {deepest}");

    let (index, report, parsed) = run_index(&ctx, &ids, None).await;
    assert_eq!(index, expected_index(&ids));
    assert_eq!((report.executed, parsed), (0, 0));
    assert_eq!(report.restored, 500 + all.len());

    // One input removed from the middle: its merges run again, from its group to the root.
    let fewer: Vec<usize> = ids.iter().copied().filter(|&id| id != 250).collect();
    let (index, report, parsed) = run_index(&ctx, &fewer, None).await;
    assert_eq!(index, expected_index(&fewer));
    assert_eq!(parsed, 0);
    let path = assert_one_path(&merges(&report));
    assert!(path >= 2 && path <= deepest + 1, "{path} merges ran");
    assert_eq!(report.executed, path);

    // One input added: it is parsed, and the merges above it run (a group it fills past 8
    // splits, which adds merges below that group only).
    let more: Vec<usize> = fewer.iter().copied().chain([500]).collect();
    let (index, report, parsed) = run_index(&ctx, &more, None).await;
    assert_eq!(index, expected_index(&more));
    assert_eq!(parsed, 1);
    let executed = merges(&report);
    assert!(
        executed.len() <= deepest + 1 + 8,
        "{} merges ran: {executed:?}",
        executed.len()
    );
    for key in &executed {
        if let Some(parent) = parent(key) {
            assert!(executed.contains(&parent), "{key} ran without {parent}");
        }
    }

    // One input changed under `cache = inputs`: it and one path of merges run again.
    let (index, report, parsed) = run_index(&ctx, &more, Some(123)).await;
    assert!(index.contains("edited123") && !index.contains("word123"));
    assert_eq!(parsed, 1);
    let changed: Vec<_> = report
        .runs
        .iter()
        .filter(|run| run.key == "doc-123")
        .collect();
    assert_eq!(changed[0].reason, Miss::InputsChanged);
    let path = assert_one_path(&merges(&report));
    assert!(path >= 2 && path <= deepest + 1, "{path} merges ran");
}

#[tokio::test]
async fn a_merge_whose_inputs_did_not_change_value_stops_the_rerun() {
    let ctx = memory();
    let ids: Vec<usize> = (0..40).collect();
    run_index(&ctx, &ids, None).await;
    // Forcing one document to run again gives the same words: only its own merge re-checks
    // inputs and finds them equal, so nothing above it runs.
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone()).refresh(["doc-7"]);
    let runs = Runs::new();
    let docs = d.family(ids.iter().map(|&id| Parse {
        id,
        text: text_of(id),
        runs: runs.clone(),
    }));
    let index = d.reduce("index", &docs, union);
    let report = d.run(spawn).await.unwrap();
    assert_eq!(dag.get(index).unwrap(), expected_index(&ids));
    assert_eq!(runs.count(), 1);
    assert_eq!(merges(&report), Vec::<String>::new());
}

#[tokio::test]
async fn small_and_empty_reductions_still_have_their_key() {
    let ctx = memory();
    for n in [0usize, 1, 8, 9] {
        let dag = DagRunner::new();
        let d = DurableDag::new(&dag, ctx.clone());
        let values: Family<i32> = (0..n)
            .map(|i| {
                let key = format!("n{n}-value-{i}");
                let handle = d.add(&key, common::Load(i as i32 + 1)).into();
                (key, handle)
            })
            .collect();
        let key = format!("sum-of-{n}");
        let sum = d.reduce(&key, &values, |parts: &[&i32]| parts.iter().copied().sum());
        let report = d.run(spawn).await.unwrap();
        let expected = (1..=n as i32).sum::<i32>();
        assert_eq!(dag.get(sum).unwrap(), expected, "{n} inputs");
        assert_eq!(ctx.get::<i32>(&key), Some(expected), "{n} inputs");
        // Up to 8 inputs need one merge; 9 need a level more.
        let merges = report.executed - n;
        match n {
            0..=8 => assert_eq!(merges, 1, "{n} inputs"),
            _ => assert!(merges >= 2, "{n} inputs: {merges} merges"),
        }
    }
}

#[test]
#[should_panic(expected = "member 3 of a family of 2 nodes")]
fn a_member_outside_the_family_panics_naming_both() {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, memory());
    let family: Family<i32> = ["a", "b"]
        .into_iter()
        .map(|key| (key, d.add(key, common::Load(1)).into()))
        .collect();
    let _ = family[3];
}
