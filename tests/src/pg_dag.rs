//! The 300-task DAG that several `pg_worker` processes share through one PostgreSQL store.
//!
//! Like the crash DAG it is deterministic (every output is a hash of the task's id and its
//! inputs, so a `MemoryStore` run gives the reference) and logs each execution to a
//! [`SideLog`]. Each task also spins for a given CPU time, so that workers have real work to
//! share and a kill lands inside tasks.

use crate::{mix, work, SideLog};
use dagx::{task, Task, TaskHandle};
use duraflow::{Context, DurableDag, DuraflowError, RunReport};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Number of tasks [`build`] adds.
pub const TASKS: usize = 300;

/// What every task does: log, pause briefly (if the log is paced), burn `busy` of CPU, hash.
struct Node {
    id: u64,
    key: String,
    log: SideLog,
    busy: Duration,
}

impl Node {
    async fn compute(&self, input: u64) -> u64 {
        self.log.record(&self.key);
        work(self.id, &self.log).await;
        let started = Instant::now();
        let mut spin = self.id;
        while started.elapsed() < self.busy {
            spin = std::hint::black_box(mix(spin));
        }
        mix(self.id ^ input)
    }
}

/// A task without inputs.
struct Seed(Node);

#[task]
impl Seed {
    async fn run(&self) -> u64 {
        self.0.compute(0).await
    }
}

/// A task with one input.
struct Derive(Node);

#[task]
impl Derive {
    async fn run(&self, x: &u64) -> u64 {
        self.0.compute(*x).await
    }
}

/// A task with two inputs.
struct Merge(Node);

#[task]
impl Merge {
    async fn run(&self, a: &u64, b: &u64) -> u64 {
        self.0.compute(a.rotate_left(7) ^ b).await
    }
}

/// Adds the DAG: 100 seeds, 100 merges of neighbouring seeds, a root merging two of those,
/// a 59-task fan-out of the root and a 40-task chain after it: 300 tasks, mostly wide (work
/// to share) with a sequential tail. Each task spins for `busy`. Returns every key with its
/// handle.
pub fn build(d: &DurableDag<'_>, log: &SideLog, busy: Duration) -> Vec<(String, TaskHandle<u64>)> {
    let mut next_id = 0u64;
    let mut node = |key: String| {
        next_id += 1;
        Node {
            id: next_id,
            key,
            log: log.clone(),
            busy,
        }
    };
    let mut handles: Vec<(String, TaskHandle<u64>)> = Vec::with_capacity(TASKS);
    let seeds: Vec<TaskHandle<u64>> = (0..100)
        .map(|i| {
            let key = format!("seed/{i}");
            let handle = d.add(&key, Seed(node(key.clone()))).into();
            handles.push((key, handle));
            handle
        })
        .collect();
    let merges: Vec<TaskHandle<u64>> = (0..100)
        .map(|i| {
            let key = format!("merge/{i}");
            let inputs = (&seeds[i], &seeds[(i + 1) % 100]);
            let handle = d.add(&key, Merge(node(key.clone()))).depends_on(inputs);
            handles.push((key, handle));
            handle
        })
        .collect();
    let key = "fan/root".to_owned();
    let root = d
        .add(&key, Merge(node(key.clone())))
        .depends_on((&merges[0], &merges[50]));
    handles.push((key, root));
    for i in 1..60 {
        let key = format!("fan/{i}");
        let handle = d.add(&key, Derive(node(key.clone()))).depends_on(root);
        handles.push((key, handle));
    }
    let mut last = root;
    for i in 0..40 {
        let key = format!("chain/{i}");
        last = d.add(&key, Derive(node(key.clone()))).depends_on(last);
        handles.push((key, last));
    }
    handles
}

/// Runs the DAG once against `ctx`; returns the report and every output.
pub async fn run(
    ctx: Arc<Context>,
    log: &SideLog,
    busy: Duration,
) -> Result<(RunReport, BTreeMap<String, u64>), DuraflowError> {
    crate::run_built(ctx, |d| build(d, log, busy)).await
}

/// One number for a whole set of outputs, so a worker process can report what it got.
pub fn digest(outputs: &BTreeMap<String, u64>) -> u64 {
    outputs.iter().fold(0, |acc, (key, value)| {
        let key_hash = key.bytes().fold(acc, |h, b| mix(h ^ u64::from(b)));
        mix(key_hash ^ value)
    })
}
