//! What the power-loss tests run: two rounds of a DAG on one store. The first has 289 tasks
//! (8 outputs of 64 to 128 KiB, 200 sources, a 40-task chain, a 40-task fan-out, one key
//! too long for a file name). The second removes six records first, then bumps the version
//! of every fifth task (large ones too) and adds 220 sources: it replaces records, removes
//! them, leaves large records' files behind to delete, and writes a few hundred records
//! too.
//!
//! Every output is a function of its key and task version alone, so any record that
//! decodes can be checked against the value it must hold.

use super::loss::mix;
use crate::{Context, DurableDag, DuraflowError, RunReport};
use dagx::{task, DagRunner, Task, TaskHandle};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

pub(crate) const SOURCES: usize = 200;
const CHAIN: usize = 40;
const FAN: usize = 40;
const LARGE: usize = 8;
/// Sources added in the second round.
const MORE: usize = 220;
/// Sources no other task reads, and a large output: removed before the second round.
const REMOVED: [&str; 6] = [
    "src-101", "src-124", "src-147", "src-170", "src-193", "big-7",
];

/// One task of the plan: its key and what it reads.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) key: String,
    input: Option<String>,
    /// The first round the task is in.
    from: usize,
}

impl Node {
    /// Whether the task is in the DAG of round `round`.
    pub(crate) fn in_round(&self, round: usize) -> bool {
        round >= self.from && !(round == 1 && REMOVED.contains(&self.key.as_str()))
    }
}

/// Every task of both rounds, upstream before downstream; large outputs first, so that their
/// records are committed in the first batches, not only at the flush.
pub(crate) fn nodes() -> Vec<Node> {
    let node = |key: String, input: Option<String>| Node {
        key,
        input,
        from: 0,
    };
    let mut nodes: Vec<Node> = (0..LARGE).map(|i| node(format!("big-{i}"), None)).collect();
    nodes.extend((0..SOURCES).map(|i| node(format!("src-{i}"), None)));
    for i in 0..CHAIN {
        let input = match i {
            0 => "src-0".to_owned(),
            i => format!("chain-{}", i - 1),
        };
        nodes.push(node(format!("chain-{i}"), Some(input)));
    }
    nodes.extend((0..FAN).map(|i| node(format!("fan-{i}"), Some(format!("src-{i}")))));
    // A key too long for a file name: `FileStore` names its file by a hash.
    nodes.push(node(format!("long-{}-0", "k".repeat(230)), None));
    nodes.extend((0..MORE).map(|i| Node {
        from: 1,
        ..node(format!("more-{i}"), None)
    }));
    nodes
}

/// Whether the task under `key` outputs bytes (a large record) rather than a number.
pub(crate) fn is_large(key: &str) -> bool {
    key.starts_with("big-")
}

/// The version of `key` in round `round` (0 or 1).
pub(crate) fn version(key: &str, round: usize) -> u32 {
    let index: usize = key
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    match (round, index % 5) {
        (1, 0) => 2,
        _ => 1,
    }
}

/// The keys removed before round `round`.
pub(crate) fn removed(round: usize) -> &'static [&'static str] {
    match round {
        1 => &REMOVED,
        _ => &[],
    }
}

fn seed(key: &str, version: u32) -> u64 {
    key.bytes()
        .fold(u64::from(version), |h, b| mix(h ^ u64::from(b)))
}

/// The output of a small task.
pub(crate) fn number(key: &str, version: u32) -> u64 {
    seed(key, version)
}

/// The output of a large task: 64 to 128 KiB.
pub(crate) fn bytes(key: &str, version: u32) -> Vec<u8> {
    let seed = seed(key, version);
    let len = (64 << 10) + (seed % (64 << 10)) as usize;
    (0..len as u64)
        .map(|i| mix(seed ^ (i / 8)).to_le_bytes()[(i % 8) as usize])
        .collect()
}

struct Source(u64);
#[task]
impl Source {
    async fn run(&self) -> u64 {
        self.0
    }
}

struct Step(u64);
#[task]
impl Step {
    async fn run(&self, input: &u64) -> u64 {
        let _ = input;
        self.0
    }
}

struct Bytes(Vec<u8>);
#[task]
impl Bytes {
    async fn run(&self) -> Vec<u8> {
        self.0.clone()
    }
}

/// Runs round `round` of the plan on `ctx`: its removals (each flushed), then its DAG;
/// `ran` says what returned `Ok`.
pub(crate) async fn run(
    ctx: &Arc<Context>,
    round: usize,
    ran: &mut Ran,
) -> Result<(), DuraflowError> {
    for key in removed(round) {
        ran.asked.insert((*key).to_owned());
        ctx.remove(key)?;
        ran.removed.insert((*key).to_owned());
    }
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, Arc::clone(ctx));
    let mut handles: BTreeMap<String, TaskHandle<u64>> = BTreeMap::new();
    for node in nodes() {
        if !node.in_round(round) {
            continue;
        }
        let (key, v) = (node.key.as_str(), version(&node.key, round));
        if is_large(key) {
            d.add_versioned(key, v, Bytes(bytes(key, v)));
            continue;
        }
        let handle = match &node.input {
            None => d.add_versioned(key, v, Source(number(key, v))).into(),
            Some(input) => d
                .add_versioned(key, v, Step(number(key, v)))
                .depends_on(handles[input]),
        };
        handles.insert(node.key.clone(), handle);
    }
    ran.report = Some(d.run(|f| drop(tokio::spawn(f))).await?);
    Ok(())
}

/// What a round did before it returned.
#[derive(Debug, Default)]
pub(crate) struct Ran {
    /// The removals asked for.
    pub(crate) asked: BTreeSet<String>,
    /// The removals that returned `Ok`.
    pub(crate) removed: BTreeSet<String>,
    /// The run's report, if it returned `Ok`.
    pub(crate) report: Option<RunReport>,
}

/// What the store must hold after a power cut, from the calls that returned `Ok` before it.
#[derive(Debug, Default, Clone)]
pub(crate) struct Acknowledged {
    /// Key → the version its run returned `Ok` with.
    pub(crate) versions: BTreeMap<String, u32>,
    /// Keys whose removal returned `Ok` (and no later run stored them).
    pub(crate) removed: BTreeSet<String>,
}

impl Acknowledged {
    /// Adds what round `round` did before it returned (or failed).
    pub(crate) fn add(&mut self, round: usize, ran: &Ran) {
        for key in &ran.asked {
            self.versions.remove(key);
        }
        self.removed.extend(ran.removed.iter().cloned());
        if ran.report.is_some() {
            for node in nodes().into_iter().filter(|node| node.in_round(round)) {
                let v = version(&node.key, round);
                self.versions.insert(node.key, v);
            }
        }
    }
}
