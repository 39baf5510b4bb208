//! Support for the integration tests: the mixed-shape DAG the crash tests kill and resume.
//!
//! The DAG is deterministic: every task's output is a hash of its id and its inputs, so a
//! reference run on a `MemoryStore` gives the value every record must hold. Each execution
//! appends the task's key to a side log, which outlives a SIGKILL (plain `write` calls).

pub mod faults;
pub mod pg_dag;
pub mod pg_workers;
pub mod s3_server;
pub mod sweep_store;

use dagx::{task, DagRunner, Task, TaskHandle};
use duraflow::{Context, DurableDag, DuraflowError, RunReport};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The number in the environment variable `name`, or `default`.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Every key with a record in `store`, sorted.
pub fn stored_keys(store: &dyn duraflow::Storage) -> Vec<String> {
    let mut keys: Vec<String> = store
        .list()
        .expect("the store lists its records")
        .into_iter()
        .map(|listed| listed.key)
        .collect();
    keys.sort();
    keys
}

/// Appends one line per task execution, and tells tasks whether to pause.
#[derive(Clone, Default)]
pub struct SideLog {
    file: Option<Arc<Mutex<File>>>,
    paced: bool,
}

impl SideLog {
    /// A log appending to `path`; tasks pause briefly so that kills land mid-run.
    pub fn append_to(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self {
            file: Some(Arc::new(Mutex::new(file))),
            paced: true,
        })
    }

    fn record(&self, key: &str) {
        if let Some(file) = &self.file {
            let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
            file.write_all(format!("{key}\n").as_bytes())
                .expect("side log is writable");
        }
    }
}

/// SplitMix64: the deterministic "work" of every task.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A short, id-dependent pause (when the log asks for it) so that kills land between, and
/// inside, tasks.
async fn work(id: u64, log: &SideLog) {
    if log.paced {
        tokio::time::sleep(Duration::from_micros(mix(id) % 400)).await;
    }
}

/// A source task.
pub struct Source {
    id: u64,
    key: String,
    log: SideLog,
}

#[task]
impl Source {
    async fn run(&self) -> u64 {
        self.log.record(&self.key);
        work(self.id, &self.log).await;
        mix(self.id)
    }
}

/// A task with one input.
pub struct Step {
    id: u64,
    key: String,
    log: SideLog,
}

#[task]
impl Step {
    async fn run(&self, x: &u64) -> u64 {
        self.log.record(&self.key);
        work(self.id, &self.log).await;
        mix(self.id ^ x)
    }
}

/// A task with two inputs.
pub struct Join {
    id: u64,
    key: String,
    log: SideLog,
}

#[task]
impl Join {
    async fn run(&self, a: &u64, b: &u64) -> u64 {
        self.log.record(&self.key);
        work(self.id, &self.log).await;
        mix(self.id ^ a.rotate_left(7) ^ b)
    }
}

/// Adds the crash-test DAG: 60 independent sources, a 60-task chain, a 51-task fan-out and
/// 20 chained diamonds (61 tasks): 232 tasks. Returns every key with its handle.
pub fn build(d: &DurableDag<'_>, log: &SideLog) -> Vec<(String, TaskHandle<u64>)> {
    let mut id = 0u64;
    let mut handles = Vec::new();
    let mut next = |shape: &str| {
        id += 1;
        (id, format!("{shape}/{id}"))
    };
    let mut source = |d: &DurableDag<'_>, shape: &str| {
        let (id, key) = next(shape);
        let handle: TaskHandle<u64> = d
            .add(
                &key,
                Source {
                    id,
                    key: key.clone(),
                    log: log.clone(),
                },
            )
            .into();
        (key, handle)
    };
    for _ in 0..60 {
        handles.push(source(d, "independent"));
    }
    let mut chain = vec![source(d, "chain")];
    let mut fan = vec![source(d, "fan")];
    let mut diamond = vec![source(d, "diamond")];
    for _ in 0..59 {
        let (id, key) = next("chain");
        let before = chain.last().expect("chain has a head").1;
        let step = Step {
            id,
            key: key.clone(),
            log: log.clone(),
        };
        chain.push((key.clone(), d.add(&key, step).depends_on(before)));
    }
    let root = fan[0].1;
    for _ in 0..50 {
        let (id, key) = next("fan");
        let step = Step {
            id,
            key: key.clone(),
            log: log.clone(),
        };
        fan.push((key.clone(), d.add(&key, step).depends_on(root)));
    }
    for _ in 0..20 {
        let top = diamond.last().expect("diamond has a top").1;
        let mut side = || {
            let (id, key) = next("diamond");
            let step = Step {
                id,
                key: key.clone(),
                log: log.clone(),
            };
            let handle = d.add(&key, step).depends_on(top);
            (key, handle)
        };
        let (left, right) = (side(), side());
        let (id, key) = next("diamond");
        let join = Join {
            id,
            key: key.clone(),
            log: log.clone(),
        };
        let bottom = d.add(&key, join).depends_on((&left.1, &right.1));
        diamond.extend([left, right, (key, bottom)]);
    }
    handles.extend(chain);
    handles.extend(fan);
    handles.extend(diamond);
    handles
}

/// Runs the crash-test DAG once against `ctx`; returns the report and every output.
pub async fn run(
    ctx: Arc<Context>,
    log: &SideLog,
) -> Result<(RunReport, BTreeMap<String, u64>), DuraflowError> {
    run_built(ctx, |d| build(d, log)).await
}

/// Runs the crash-test DAG once against `ctx` in a test's child process: prints `done:
/// executed N, restored M` when the run completes; prints the error and exits 1 when it
/// fails.
pub async fn run_in_child(ctx: Context, log: &SideLog) {
    match run(Arc::new(ctx), log).await {
        Ok((report, _)) => println!(
            "done: executed {}, restored {}",
            report.executed, report.restored
        ),
        Err(e) => {
            eprintln!("run failed: {e}");
            std::process::exit(1);
        }
    }
}

/// Runs the DAG that `build` adds once against `ctx`; returns the report and every output
/// of the handles `build` returns.
pub async fn run_built(
    ctx: Arc<Context>,
    build: impl FnOnce(&DurableDag<'_>) -> Vec<(String, TaskHandle<u64>)>,
) -> Result<(RunReport, BTreeMap<String, u64>), DuraflowError> {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx);
    let handles = build(&d);
    let report = d
        .run(|f| {
            tokio::spawn(f);
        })
        .await?;
    let outputs = handles
        .into_iter()
        .map(|(key, handle)| (key, dag.get(handle).expect("every task has an output")))
        .collect();
    Ok((report, outputs))
}
