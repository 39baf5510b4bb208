//! A reduction over 100,000 inputs: `DurableDag::reduce` against the same tree of merges
//! built by hand with raw dagx 0.3.1, timed by criterion.
//!
//! Every input is a task returning its index; every merge sums its at most 8 inputs. The
//! raw dagx tree groups the inputs exactly as `DurableDag::reduce` does (by the hash of each
//! input's key, see `duraflow::Family`), so both run the same tasks over the same edges; a
//! second raw dagx tree groups them by position, the tree a user would build by hand with
//! the fewest merges. Groups `reduce/100000/fresh` (every run on a new empty store) and
//! `reduce/100000/resumed` (every record stored by an earlier, untimed run); functions
//! `raw-dagx` (the hash tree), `raw-dagx-positional`, `memory` (`MemoryStore`) and `redb`
//! (`RedbStore`). One timed run = a new `DagRunner`, every task added (keys included), the
//! run, and reading the root; duraflow's runs use `DurableDag::run`, so every record is
//! durable when the clock stops.
//!
//! * `cargo bench -p duraflow --bench reduce`
//! * every case once, untimed: `cargo bench -p duraflow --bench reduce -- --test`
//! * the median ratio of each function to `raw-dagx`: `scripts/bench-ratios`

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use dagx::{task, DagRunner, Task, TaskHandle};
use duraflow::{durable, Context, DurableDag, Family, MemoryStore, RedbStore, Storage};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::runtime::Runtime;

/// Inputs of the reduction.
const INPUTS: u64 = 100_000;
/// The most inputs a dagx task takes.
const FAN_IN: usize = 8;

struct Input(u64);
#[task]
impl Input {
    async fn run(&self) -> u64 {
        self.0
    }
}

struct DurableInput(u64);
#[durable(key = "in-{0}")]
impl DurableInput {
    async fn run(&self) -> u64 {
        self.0
    }
}

/// One raw dagx merge task per arity, each summing its inputs.
macro_rules! sums {
    ($($name:ident($($arg:ident),+);)+) => {$(
        struct $name;
        #[task]
        impl $name {
            #[allow(clippy::too_many_arguments)] // one per input, as dagx passes them
            async fn run($($arg: &u64),+) -> u64 {
                0 $(+ *$arg)+
            }
        }
    )+};
}

sums! {
    Sum1(a);
    Sum2(a, b);
    Sum3(a, b, c);
    Sum4(a, b, c, d);
    Sum5(a, b, c, d, e);
    Sum6(a, b, c, d, e, f);
    Sum7(a, b, c, d, e, f, g);
    Sum8(a, b, c, d, e, f, g, h);
}

/// A raw dagx merge over 1 to 8 inputs.
fn merge(dag: &DagRunner, inputs: &[TaskHandle<u64>]) -> TaskHandle<u64> {
    match inputs {
        [a] => dag.add_task(Sum1).depends_on(a),
        [a, b] => dag.add_task(Sum2).depends_on((a, b)),
        [a, b, c] => dag.add_task(Sum3).depends_on((a, b, c)),
        [a, b, c, d] => dag.add_task(Sum4).depends_on((a, b, c, d)),
        [a, b, c, d, e] => dag.add_task(Sum5).depends_on((a, b, c, d, e)),
        [a, b, c, d, e, f] => dag.add_task(Sum6).depends_on((a, b, c, d, e, f)),
        [a, b, c, d, e, f, g] => dag.add_task(Sum7).depends_on((a, b, c, d, e, f, g)),
        [a, b, c, d, e, f, g, h] => dag.add_task(Sum8).depends_on((a, b, c, d, e, f, g, h)),
        other => unreachable!("a merge over {} inputs", other.len()),
    }
}

/// The hash tree of `DurableDag::reduce`: members (hash, handle) of more than 8 are split
/// by 3-bit digit `level` of their hash, a group of one stands for itself.
fn hash_tree(dag: &DagRunner, level: u32, members: Vec<(u64, TaskHandle<u64>)>) -> TaskHandle<u64> {
    if members.len() <= FAN_IN {
        let handles: Vec<_> = members.iter().map(|(_, handle)| *handle).collect();
        return merge(dag, &handles);
    }
    let mut groups: Vec<Vec<(u64, TaskHandle<u64>)>> = vec![Vec::new(); FAN_IN];
    for member in members {
        groups[(member.0 >> (3 * level)) as usize % FAN_IN].push(member);
    }
    let children: Vec<TaskHandle<u64>> = groups
        .into_iter()
        .filter(|group| !group.is_empty())
        .map(|group| match group.len() {
            1 => group[0].1,
            _ => hash_tree(dag, level + 1, group),
        })
        .collect();
    merge(dag, &children)
}

/// The tree by position: groups of 8 consecutive nodes, level by level.
fn positional_tree(dag: &DagRunner, mut level: Vec<TaskHandle<u64>>) -> TaskHandle<u64> {
    loop {
        level = level
            .chunks(FAN_IN)
            .map(|group| merge(dag, group))
            .collect();
        if level.len() == 1 {
            return level[0];
        }
    }
}

fn hash_of(key: &str) -> u64 {
    let digest = Sha256::digest(key.as_bytes());
    u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
}

fn spawn(f: futures::future::BoxFuture<'static, ()>) {
    tokio::spawn(f);
}

#[derive(Clone, Copy, PartialEq)]
enum Variant {
    Raw,
    RawPositional,
    Memory,
    Redb,
}

impl Variant {
    const ALL: [Variant; 4] = [
        Variant::Raw,
        Variant::RawPositional,
        Variant::Memory,
        Variant::Redb,
    ];

    fn name(self) -> &'static str {
        match self {
            Variant::Raw => "raw-dagx",
            Variant::RawPositional => "raw-dagx-positional",
            Variant::Memory => "memory",
            Variant::Redb => "redb",
        }
    }

    /// A new empty store for the durable variants (and the temp dir that holds it).
    fn new_store(self) -> Option<(Arc<Context>, Option<TempDir>)> {
        let (store, dir): (Arc<dyn Storage>, _) = match self {
            Variant::Raw | Variant::RawPositional => return None,
            Variant::Memory => (Arc::new(MemoryStore::new()), None),
            Variant::Redb => {
                let dir = tempfile::tempdir().expect("temp dir");
                let store = RedbStore::open(dir.path().join("records.redb")).expect("RedbStore");
                (Arc::new(store), Some(dir))
            }
        };
        Some((Arc::new(Context::new(store)), dir))
    }

    /// One timed run: a new runner, every task added, the run and reading the root.
    async fn run(self, ctx: Option<&Arc<Context>>, resumed: bool) -> Duration {
        let start = Instant::now();
        let dag = DagRunner::new();
        let (root, executed) = match ctx {
            None => {
                let inputs = (0..INPUTS).map(|i| (i, dag.add_task(Input(i)).depends_on(())));
                let root = match self {
                    Variant::Raw => {
                        let members = inputs
                            .map(|(i, handle)| (hash_of(&format!("in-{i}")), handle))
                            .collect();
                        hash_tree(&dag, 0, members)
                    }
                    _ => positional_tree(&dag, inputs.map(|(_, handle)| handle).collect()),
                };
                dag.run(spawn).await.expect("raw dagx run");
                (root, None)
            }
            Some(ctx) => {
                let d = DurableDag::new(&dag, Arc::clone(ctx));
                let inputs: Family<u64> = d.family((0..INPUTS).map(DurableInput));
                let root = d.reduce("total", &inputs, |parts: &[&u64]| {
                    parts.iter().copied().sum()
                });
                let report = d.run(spawn).await.expect("duraflow run");
                (root, Some(report.executed))
            }
        };
        let total: u64 = dag.get(root).expect("root output");
        let elapsed = start.elapsed();
        assert_eq!(total, INPUTS * (INPUTS - 1) / 2, "{} total", self.name());
        if resumed {
            assert_eq!(
                executed,
                Some(0),
                "{} resumed run executed tasks",
                self.name()
            );
        }
        elapsed
    }
}

fn reduce(c: &mut Criterion) {
    for (mode, resumed) in [("fresh", false), ("resumed", true)] {
        let mut group = c.benchmark_group(format!("reduce/{INPUTS}/{mode}"));
        group
            .warm_up_time(Duration::from_secs(1))
            .sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .measurement_time(Duration::from_secs(8));
        for variant in Variant::ALL {
            let resumed = resumed && !matches!(variant, Variant::Raw | Variant::RawPositional);
            let mut state: Option<(Runtime, _)> = None;
            group.bench_function(variant.name(), |b| {
                let (rt, filled) = state.get_or_insert_with(|| {
                    let rt = tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(2)
                        .enable_all()
                        .build()
                        .expect("tokio runtime");
                    let filled = resumed.then(|| {
                        let store = variant.new_store().expect("a durable variant");
                        rt.block_on(variant.run(Some(&store.0), false));
                        store
                    });
                    (rt, filled)
                });
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            let fresh = filled.is_none().then(|| variant.new_store()).flatten();
                            let ctx = filled.as_ref().or(fresh.as_ref()).map(|(ctx, _)| ctx);
                            rt.block_on(variant.run(ctx, resumed))
                        })
                        .sum()
                });
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = reduce
}
criterion_main!(benches);
