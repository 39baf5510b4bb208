//! Families and reductions written in `durable_dag!`: a node over a range, members as
//! dependencies, element-wise families, explicit family keys, and `<- family[..]`.

mod common;

use common::{spawn, Runs};
use dagx::{task, DagRunner, Task};
use duraflow::{durable, durable_dag, Context, DurableDag, Family, MemoryStore, RunReport};
use std::collections::BTreeSet;
use std::sync::Arc;

fn memory() -> Arc<Context> {
    Arc::new(Context::new(MemoryStore::new()))
}

/// The words of document `id`, counting its executions.
struct Parse {
    id: usize,
    runs: Runs,
}

#[durable(key = "doc-{id}")]
impl Parse {
    fn run(&self) -> BTreeSet<String> {
        self.runs.hit();
        [format!("word{}", self.id), "shared".to_owned()].into()
    }
}

fn union(parts: &[&BTreeSet<String>]) -> BTreeSet<String> {
    parts.iter().flat_map(|part| part.iter().cloned()).collect()
}

/// Runs the DSL reduction of `n` documents: the index, the report and how many documents
/// were parsed.
async fn run_index(ctx: &Arc<Context>, n: usize) -> (BTreeSet<String>, RunReport, usize) {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let runs = Runs::new();
    durable_dag! {
        dag: d;
        index @ "index" = union <- doc[..];
        doc[id in 0..n] = Parse { id, runs: runs.clone() };
    }
    assert_eq!(doc.len(), n);
    assert_eq!(doc.iter().nth(7).map(|(key, _)| key), Some("doc-7"));
    let report = d.run(spawn).await.unwrap();
    (dag.get(index).unwrap(), report, runs.count())
}

#[tokio::test]
async fn a_family_of_500_reduced_in_the_dsl_runs_once_then_restores_everything() {
    let ctx = memory();
    let expected: BTreeSet<String> = (0..500)
        .map(|id| format!("word{id}"))
        .chain(["shared".to_owned()])
        .collect();

    let (index, fresh, parsed) = run_index(&ctx, 500).await;
    assert_eq!(index, expected);
    assert_eq!(parsed, 500);
    // 500 documents and a tree of merges of at most 8 inputs: at least 63 + 8 + 1 merges.
    assert!(fresh.executed >= 500 + 72, "{} executed", fresh.executed);
    assert_eq!(fresh.restored, 0);
    assert!(fresh.runs.iter().any(|run| run.key == "index"));
    assert!(fresh.runs.iter().any(|run| run.key.starts_with("index/")));
    assert_eq!(ctx.get::<BTreeSet<String>>("index"), Some(expected.clone()));

    let (index, resumed, parsed) = run_index(&ctx, 500).await;
    assert_eq!(index, expected);
    assert_eq!((resumed.executed, parsed), (0, 0));
    assert_eq!(resumed.restored, fresh.executed);
}

/// Its field.
struct Value(usize);

#[durable(key = "value-{0}")]
impl Value {
    fn run(&self) -> u64 {
        self.0 as u64
    }
}

/// Its input squared, counting its executions; one key for every node, so each node
/// gets its own with `@`.
struct Square {
    runs: Runs,
}

#[durable(key = "square")]
impl Square {
    fn run(&self, x: &u64) -> u64 {
        self.runs.hit();
        x * x
    }
}

/// Its input plus its `offset`, under a key of its own.
struct Shift {
    index: usize,
    offset: u64,
}

#[durable(key = "shift-{index}")]
impl Shift {
    fn run(&self, x: &u64) -> u64 {
        x + self.offset
    }
}

struct Add;

#[durable(key = "add")]
impl Add {
    fn run(a: &u64, b: &u64) -> u64 {
        a + b
    }
}

fn sum(parts: &[&u64]) -> u64 {
    parts.iter().copied().sum()
}

#[tokio::test]
async fn families_depend_element_wise_members_stand_alone_and_explicit_keys_name_members() {
    let ctx = memory();
    let squares = Runs::new();
    let n = 12;
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    durable_dag! {
        dag: d;
        total @ "total" = sum <- squared[..];
        squared[i in 0..n] @ "square-{i}" = Square { runs: squares.clone() } <- value[i];
        shifted[i in 0..n] = Shift { index: i, offset: 100 } <- squared[i];
        value[i in 0..n] = Value(i);
        last @ "last-shifted" = Shift { index: 99, offset: 1 } <- shifted[n - 1];
        pair = Add <- (value[3], squared[4]);
    }
    let report = d.run(spawn).await.unwrap();

    assert_eq!(squares.count(), n);
    assert_eq!(
        dag.get(total).unwrap(),
        (0..n as u64).map(|i| i * i).sum::<u64>()
    );
    assert_eq!(dag.get(squared[5]).unwrap(), 25);
    assert_eq!(dag.get(shifted[5]).unwrap(), 125);
    assert_eq!(dag.get(last).unwrap(), 121 + 100 + 1);
    assert_eq!(dag.get(pair).unwrap(), 3 + 16);
    // Members are stored under their keys: the `format!` key, or the attribute's template.
    assert_eq!(ctx.get::<u64>("square-7"), Some(49));
    assert_eq!(ctx.get::<u64>("shift-7"), Some(149));
    assert_eq!(ctx.get::<u64>("value-11"), Some(11));
    let keys: Vec<&str> = squared.iter().map(|(key, _)| key).collect();
    assert_eq!(keys[..3], ["square-0", "square-1", "square-2"]);
    // 3 families of 12, 2 merges (12 inputs hash into groups of at most 8), `last`, `pair`.
    assert!(report.executed >= 3 * n + 2 + 2, "{}", report.executed);
}

/// A plain dagx task: it has no attribute, so a family of it needs an explicit key.
struct Letters(&'static str);

#[task]
impl Letters {
    async fn run(&self) -> usize {
        self.0.len()
    }
}

#[tokio::test]
async fn a_family_over_an_iterator_with_a_format_key_and_a_reduction_of_an_outside_family() {
    let ctx = memory();
    let words = ["one", "three", "four"];
    let prefix = "letters";
    for expected_executed in [3 + 1 + 4, 0] {
        let dag = DagRunner::new();
        let d = DurableDag::new(&dag, ctx.clone());
        let outside: Family<u64> = d.family((1..=3).map(Value));
        durable_dag! {
            dag: d;
            letters[word in words] @ "{prefix}-of-{word}" = Letters(word);
            longest @ "longest" = |parts: &[&usize]| **parts.iter().max().unwrap() <- letters[..];
            outside_total @ "outside-total" = sum <- outside[..];
        }
        let report = d.run(spawn).await.unwrap();
        assert_eq!(report.executed, expected_executed);
        assert_eq!(dag.get(longest).unwrap(), 5);
        assert_eq!(dag.get(outside_total).unwrap(), 6);
        assert_eq!(dag.get(letters[2]).unwrap(), 4);
        assert_eq!(ctx.get::<usize>("letters-of-three"), Some(5));
    }
}

#[test]
#[should_panic(expected = "member 4 of a family of 3 nodes")]
fn a_member_past_a_family_of_unknown_length_panics_naming_both() {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, memory());
    let n = 3;
    durable_dag! {
        dag: d;
        value[i in 0..n] = Value(i);
        past @ "past" = Shift { index: 0, offset: 0 } <- value[n + 1];
    }
    let _ = past;
}

#[test]
#[should_panic(expected = "duplicate key \"square\" in one DurableDag")]
fn a_family_whose_members_share_their_attribute_key_panics_naming_it() {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, memory());
    durable_dag! {
        dag: d;
        value[i in 0..2] = Value(i);
        squared[i in 0..2] = Square { runs: Runs::new() } <- value[i];
    }
    let _ = squared;
}
