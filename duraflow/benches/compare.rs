//! duraflow against raw dagx 0.3.1 and duraflow-rs 1.0.1.
//!
//! `cargo bench -p duraflow --bench compare` prints two Markdown tables:
//! * medians of fresh and resumed runs of chain, fan-out, independent and diamond DAGs, with
//!   their ratio to raw dagx measured in the same process (runs interleaved, in a new seeded
//!   order each round, so machine noise and the previous run's leftovers hit every variant
//!   alike; each variant on a tokio runtime of its own; the file-per-record stores in rounds
//!   of their own, with their own raw baseline), and a check against the performance targets;
//! * a scaling run (1k → 100k tasks): time and peak heap per task.
//!
//! One measured run = a new `DagRunner`, all tasks added, the run, and a check of one sink's
//! value. Stores are made (fresh) or filled by an earlier run (resumed) outside the timing.
//!
//! Knobs: `DURAFLOW_BENCH_QUICK=1` (1k tasks, 3 iterations, scaling up to 10k: a smoke run),
//! `DURAFLOW_BENCH_ONLY=<substring>` (only the shapes or variants whose name contains it;
//! raw dagx always runs, as the baseline), `DURAFLOW_BENCH_SHAPE=<shape>` (only that shape),
//! `DURAFLOW_BENCH_TASKS=<n>` (only DAGs of `n` tasks, and no scaling section: a quick A/B of
//! one size), and `DURAFLOW_BENCH_ONE=<variant>,<shape>,<tasks>,
//! <fresh|resumed>,<runs>` (only that case, `runs` times, untimed: what
//! `scripts/bench-instructions` counts instructions of under callgrind; variants are `raw`,
//! `rs-memory`, `rs-file`, `memory`, `file`, `redb`).

use dagx::{task, DagRunner, Pending, Task, TaskBuilder, TaskHandle};
use futures::future::BoxFuture;
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering::Relaxed};
use std::sync::{atomic::AtomicUsize, Arc};
use std::time::{Duration, Instant};
use tempfile::TempDir;

// ---------------------------------------------------------------------------------------
// Heap accounting: allocator calls and net bytes allocated since the last reset, with
// their peak. Off (one relaxed load per call) except in the scaling run's heap runs.
// ---------------------------------------------------------------------------------------

struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static CALLS: AtomicUsize = AtomicUsize::new(0);
static CURRENT: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

/// Counts one allocating call (`alloc`, `alloc_zeroed`, `realloc`) or a `dealloc`.
fn account(delta: isize, allocating: bool) {
    if COUNTING.load(Relaxed) {
        CALLS.fetch_add(usize::from(allocating), Relaxed);
        let now = CURRENT.fetch_add(delta, Relaxed) + delta;
        if delta > 0 {
            PEAK.fetch_max(now, Relaxed);
        }
    }
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are updated.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = System.alloc(layout);
        if !ptr.is_null() {
            account(layout.size() as isize, true);
        }
        ptr
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = System.alloc_zeroed(layout);
        if !ptr.is_null() {
            account(layout.size() as isize, true);
        }
        ptr
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        account(-(layout.size() as isize), false);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = System.realloc(ptr, layout, new_size);
        if !new.is_null() {
            account(new_size as isize - layout.size() as isize, true);
        }
        new
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// What one run did to the heap (all threads).
#[derive(Clone, Copy, Debug)]
struct Heap {
    /// Most bytes allocated at once over the run, beyond what was allocated before it.
    peak: usize,
    /// Allocator calls.
    calls: usize,
}

/// Runs `f` and returns its result with what it did to the heap.
fn with_heap<R>(f: impl FnOnce() -> R) -> (R, Heap) {
    CALLS.store(0, Relaxed);
    CURRENT.store(0, Relaxed);
    PEAK.store(0, Relaxed);
    COUNTING.store(true, Relaxed);
    let result = f();
    COUNTING.store(false, Relaxed);
    let peak = PEAK.load(Relaxed).max(0) as usize;
    let calls = CALLS.load(Relaxed);
    (result, Heap { peak, calls })
}

// ---------------------------------------------------------------------------------------
// Tasks
// ---------------------------------------------------------------------------------------

struct Src(u64);
#[task]
impl Src {
    async fn run(&self) -> u64 {
        self.0
    }
}

struct Inc(u64);
#[task]
impl Inc {
    async fn run(&self, x: &u64) -> u64 {
        x.wrapping_add(self.0)
    }
}

struct Join;
#[task]
impl Join {
    async fn run(a: &u64, b: &u64) -> u64 {
        a.wrapping_add(*b)
    }
}

fn spawn(f: BoxFuture<'static, ()>) {
    tokio::spawn(f);
}

// ---------------------------------------------------------------------------------------
// One way to add tasks and run them, per library
// ---------------------------------------------------------------------------------------

/// Adds the `i`-th task of a shape, and runs the DAG.
trait Builder {
    fn add<T>(
        &self,
        i: usize,
        task: T,
    ) -> TaskBuilder<'_, impl Task<Input = T::Input, Output = u64>, Pending>
    where
        T: Task<Output = u64> + Sync + 'static,
        T::Input: Clone + 'static;

    /// Runs the DAG; returns how many tasks executed, where the library reports it.
    async fn run(&self) -> Option<usize>;
}

/// Implements [`Builder`] for `$front`: `add` is `$add` and `run` is `$run`, with the
/// front-end in `$b`.
macro_rules! builder {
    ($front:ty, |$b:ident, $i:ident, $task:ident| $add:expr, |$rb:ident| $run:expr) => {
        impl Builder for $front {
            fn add<T>(
                &self,
                $i: usize,
                $task: T,
            ) -> TaskBuilder<'_, impl Task<Input = T::Input, Output = u64>, Pending>
            where
                T: Task<Output = u64> + Sync + 'static,
                T::Input: Clone + 'static,
            {
                let $b = self;
                $add
            }

            async fn run(&self) -> Option<usize> {
                let $rb = self;
                $run
            }
        }
    };
}

/// Raw dagx.
struct Raw<'a>(&'a DagRunner);

/// A durable front-end with the keys of its tasks (made outside the timing).
struct Keyed<'k, D> {
    dag: D,
    keys: &'k [String],
}

builder!(Raw<'_>, |b, _i, task| b.0.add_task(task), |b| {
    b.0.run(spawn).await.expect("dagx run");
    None
});

builder!(
    Keyed<'_, duraflow_rs::DurableDag<'_>>,
    |b, i, task| b.dag.add(&b.keys[i], task),
    |b| {
        // as duraflow-rs's README runs it
        b.dag.dag.run(spawn).await.expect("duraflow-rs run");
        None
    }
);

builder!(
    Keyed<'_, duraflow::DurableDag<'_>>,
    |b, i, task| b.dag.add(&b.keys[i], task),
    |b| Some(b.dag.run(spawn).await.expect("duraflow run").executed)
);

// ---------------------------------------------------------------------------------------
// Shapes
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Shape {
    Chain,
    FanOut,
    Independent,
    Diamond,
}

impl Shape {
    const ALL: [Shape; 4] = [
        Shape::Chain,
        Shape::FanOut,
        Shape::Independent,
        Shape::Diamond,
    ];

    fn name(self) -> &'static str {
        match self {
            Shape::Chain => "chain",
            Shape::FanOut => "fan-out",
            Shape::Independent => "independent",
            Shape::Diamond => "diamond",
        }
    }

    /// How many tasks the shape has when asked for about `n`.
    fn tasks(self, n: usize) -> usize {
        match self {
            Shape::Diamond => 1 + 3 * ((n - 1) / 3),
            _ => n,
        }
    }

    /// Adds the shape's tasks and returns the sink whose value is checked.
    fn build<B: Builder>(self, b: &B, n: usize) -> TaskHandle<u64> {
        match self {
            Shape::Chain => (1..n).fold(b.add(0, Src(1)).into(), |last, i| {
                b.add(i, Inc(1)).depends_on(&last)
            }),
            Shape::FanOut => {
                let src: TaskHandle<u64> = b.add(0, Src(1)).into();
                (1..n).fold(src, |_, i| b.add(i, Inc(1)).depends_on(&src))
            }
            Shape::Independent => (1..n).fold(b.add(0, Src(0)).into(), |_, i| {
                b.add(i, Src(i as u64)).into()
            }),
            Shape::Diamond => {
                (1..self.tasks(n))
                    .step_by(3)
                    .fold(b.add(0, Src(1)).into(), |top, i| {
                        let left = b.add(i, Inc(1)).depends_on(&top);
                        let right = b.add(i + 1, Inc(1)).depends_on(&top);
                        b.add(i + 2, Join).depends_on((&left, &right))
                    })
            }
        }
    }

    /// The sink's value.
    fn expected(self, n: usize) -> u64 {
        match self {
            Shape::Chain => n as u64,
            Shape::FanOut => 1 + u64::from(n > 1),
            Shape::Independent => n as u64 - 1,
            Shape::Diamond => (0..(n - 1) / 3).fold(1u64, |v, _| v.wrapping_mul(2).wrapping_add(2)),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Variants and their stores
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Variant {
    Raw,
    RsMemory,
    RsFile,
    Memory,
    File,
    Redb,
}

impl Variant {
    const ALL: [Variant; 6] = [
        Variant::Raw,
        Variant::RsMemory,
        Variant::RsFile,
        Variant::Memory,
        Variant::File,
        Variant::Redb,
    ];

    fn name(self) -> &'static str {
        match self {
            Variant::Raw => "dagx 0.3.1 (raw)",
            Variant::RsMemory => "duraflow-rs 1.0.1 MemoryStore",
            Variant::RsFile => "duraflow-rs 1.0.1 FileStore",
            Variant::Memory => "duraflow MemoryStore",
            Variant::File => "duraflow FileStore",
            Variant::Redb => "duraflow RedbStore",
        }
    }

    /// The short name `DURAFLOW_BENCH_ONE` takes.
    fn token(self) -> &'static str {
        match self {
            Variant::Raw => "raw",
            Variant::RsMemory => "rs-memory",
            Variant::RsFile => "rs-file",
            Variant::Memory => "memory",
            Variant::File => "file",
            Variant::Redb => "redb",
        }
    }

    fn on_disk(self) -> bool {
        matches!(self, Variant::RsFile | Variant::File | Variant::Redb)
    }

    /// A new empty store (and the temp dir that holds it), made outside the timing.
    fn new_store(self) -> Store {
        let dir = self.on_disk().then(|| {
            tempfile::Builder::new()
                .prefix("duraflow-bench-")
                .tempdir_in(std::env::temp_dir())
                .expect("temp dir")
        });
        let path = || dir.as_ref().expect("temp dir").path();
        let rs = |db: Arc<dyn duraflow_rs::Storage + Send + Sync>| {
            let completed_count = Arc::new(AtomicUsize::new(0));
            Ctx::DuraflowRs(Arc::new(duraflow_rs::Context {
                db,
                completed_count,
            }))
        };
        let df = |store| {
            Ctx::Duraflow(Arc::new(duraflow::Context {
                db: store,
                completed_count: Arc::default(),
            }))
        };
        let ctx = match self {
            Variant::Raw => Ctx::Raw,
            Variant::RsMemory => rs(Arc::new(duraflow_rs::MemoryStore::new())),
            Variant::RsFile => rs(Arc::new(
                duraflow_rs::FileStore::new(path()).expect("duraflow-rs FileStore"),
            )),
            Variant::Memory => df(Arc::new(duraflow::MemoryStore::new())),
            Variant::File => df(Arc::new(
                duraflow::FileStore::new(path()).expect("FileStore"),
            )),
            Variant::Redb => df(Arc::new(
                duraflow::RedbStore::open(path().join("records.redb")).expect("RedbStore"),
            )),
        };
        Store { ctx, _dir: dir }
    }
}

/// A store, kept alive (with its temp dir) across the runs that use it.
struct Store {
    ctx: Ctx,
    _dir: Option<TempDir>,
}

enum Ctx {
    Raw,
    DuraflowRs(Arc<duraflow_rs::Context>),
    Duraflow(Arc<duraflow::Context>),
}

impl Store {
    /// One measured run of `shape` (`keys.len()` tasks asked for): its time, with the sink's
    /// value and the executed count checked.
    async fn run(&self, shape: Shape, keys: &[String], resumed: bool) -> Duration {
        let start = Instant::now();
        let dag = DagRunner::new();
        let (sink, executed) = match &self.ctx {
            Ctx::Raw => drive(&Raw(&dag), shape, keys.len()).await,
            Ctx::DuraflowRs(ctx) => {
                let dag = duraflow_rs::DurableDag::new(&dag, Arc::clone(ctx));
                drive(&Keyed { dag, keys }, shape, keys.len()).await
            }
            Ctx::Duraflow(ctx) => {
                let dag = duraflow::DurableDag::new(&dag, Arc::clone(ctx));
                drive(&Keyed { dag, keys }, shape, keys.len()).await
            }
        };
        let value: u64 = dag.get(sink).expect("sink output");
        let elapsed = start.elapsed();
        assert_eq!(
            value,
            shape.expected(keys.len()),
            "{} sink value",
            shape.name()
        );
        if let Some(executed) = executed {
            let expected = if resumed { 0 } else { shape.tasks(keys.len()) };
            assert_eq!(executed, expected, "{} executed tasks", shape.name());
        }
        elapsed
    }
}

async fn drive<B: Builder>(b: &B, shape: Shape, n: usize) -> (TaskHandle<u64>, Option<usize>) {
    let sink = shape.build(b, n);
    (sink, b.run().await)
}

// ---------------------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Fresh,
    Resumed,
}

/// Medians of one (variant, mode) at one shape and size.
#[derive(Clone, Copy, Debug)]
struct Stat {
    variant: Variant,
    mode: Mode,
    median: Duration,
    heap: Option<Heap>,
}

struct Group {
    shape: Shape,
    tasks: usize,
    stats: Vec<Stat>,
}

impl Group {
    fn get(&self, variant: Variant, mode: Mode) -> Option<&Stat> {
        self.stats
            .iter()
            .find(|s| s.variant == variant && s.mode == mode)
    }

    /// The median of raw dagx, the baseline of every ratio.
    fn raw(&self) -> Duration {
        self.get(Variant::Raw, Mode::Fresh)
            .expect("raw dagx measured")
            .median
    }

    fn ratio(&self, variant: Variant, mode: Mode) -> Option<f64> {
        let stat = self.get(variant, mode)?;
        Some(stat.median.as_secs_f64() / self.raw().as_secs_f64())
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// How many tasks, and how many measured runs of each (variant, mode).
#[derive(Clone, Copy)]
struct Plan {
    tasks: usize,
    iters: usize,
    /// For a case whose first run takes [`SLOW`] or more: that run counts (no warm-up) and
    /// this many runs in all, so file-creating stores on a slow disk fit the time budget.
    slow_iters: usize,
}

const SLOW: Duration = Duration::from_millis(500);

/// Rounds with a store on disk measure DAGs of this many tasks or more ...
const DISK_FROM: usize = 10_000;
/// ... this many times at most: each of their runs creates or reads thousands of files (or
/// fsyncs), and 41 of them would double the bench's time.
const DISK_ITERS: usize = 15;

/// Writes back dirty pages after a run on disk, so one store's unsynced writes (and the
/// removal of its directory) are not paid by the next store's `fsync`.
fn settle() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
}

/// A xorshift64 generator: enough to shuffle the run order without a dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Fisher–Yates.
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// A tokio runtime (2 workers) per variant: the state one variant leaves its threads in (parked
/// long, or busy) does not change the wake-up times of another's. DAGs whose layers hold one
/// or two tasks mostly measure wake-ups.
struct Runtimes(HashMap<Variant, tokio::runtime::Runtime>);

impl Runtimes {
    fn new() -> Self {
        let runtime = |_| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("tokio runtime")
        };
        Runtimes(Variant::ALL.iter().map(|&v| (v, runtime(v))).collect())
    }

    fn of(&self, variant: Variant) -> &tokio::runtime::Runtime {
        &self.0[&variant]
    }
}

/// Measures every (variant, mode) on `shape`: a warm-up round, then `plan.iters` rounds
/// (`plan.slow_iters` for all when one case is slow), each running every (variant, mode)
/// once; resumed runs use the store filled by their variant's first fresh run. With `heap`,
/// one more run of each measures its heap use.
fn measure(
    runtimes: &Runtimes,
    shape: Shape,
    plan: Plan,
    variants: &[Variant],
    heap: bool,
) -> Group {
    let keys: Vec<String> = (0..plan.tasks).map(|i| format!("t{i}")).collect();
    let cases: Vec<(Variant, Mode)> = variants
        .iter()
        .flat_map(|&v| {
            let modes: &[Mode] = if v == Variant::Raw {
                &[Mode::Fresh]
            } else {
                &[Mode::Fresh, Mode::Resumed]
            };
            modes.iter().map(move |&m| (v, m))
        })
        .collect();
    // The store of a variant's first fresh run is kept for its resumed runs.
    let mut filled: HashMap<Variant, Store> = HashMap::new();
    let mut once = |i: usize, count_heap: bool| {
        let (variant, mode) = cases[i];
        let fresh = (mode == Mode::Fresh).then(|| variant.new_store());
        let store = fresh.as_ref().or_else(|| filled.get(&variant));
        let store = store.expect("a fresh run fills the store of the resumed runs");
        let rt = runtimes.of(variant);
        let run = || rt.block_on(store.run(shape, &keys, mode == Mode::Resumed));
        let measured = if count_heap {
            let (elapsed, peak) = with_heap(run);
            (elapsed, Some(peak))
        } else {
            (run(), None)
        };
        if let Some(store) = fresh {
            filled.entry(variant).or_insert(store); // or dropped, with its directory
        }
        if variant.on_disk() {
            settle();
        }
        measured
    };
    // Round 0 is the warm-up, in the cases' own order (a variant's fresh run fills the store
    // of its resumed runs). Each later round runs them in a new order (seeded, so the same on
    // every run of the bench): a case's time depends on what ran just before it (the heap the
    // previous run left: freed in the middle and reused, or trimmed from the top and faulted
    // back), and a fixed order would hand every case the same predecessor each round.
    settle();
    let mut samples = vec![Vec::with_capacity(plan.iters); cases.len()];
    let mut wanted = vec![plan.iters; cases.len()];
    let mut order: Vec<usize> = (0..cases.len()).collect();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15 ^ plan.tasks as u64);
    for round in 0..=plan.iters {
        if round > 0 {
            rng.shuffle(&mut order);
        }
        for &i in &order {
            if samples[i].len() >= wanted[i] {
                continue;
            }
            let (elapsed, _) = once(i, false);
            if round == 0 {
                if elapsed < SLOW {
                    continue;
                }
                wanted[i] = plan.slow_iters.min(plan.iters);
            }
            samples[i].push(elapsed);
        }
        // One slow case makes every case of the group take as few runs, in the same rounds:
        // a disk's speed changes over minutes here (creating a file took 0.03 ms in one
        // round and 0.7 ms a few rounds later), and a fast case measured over 41 rounds
        // against a slow one over its first 3 compared two different disks.
        if round == 0 && wanted.iter().any(|&w| w < plan.iters) {
            let slow = plan.slow_iters.min(plan.iters);
            wanted.iter_mut().for_each(|w| *w = slow);
        }
    }
    let stats = samples
        .into_iter()
        .enumerate()
        .map(|(i, taken)| Stat {
            variant: cases[i].0,
            mode: cases[i].1,
            median: median(taken),
            heap: heap.then(|| once(i, true).1).flatten(),
        })
        .collect();
    Group {
        shape,
        tasks: shape.tasks(plan.tasks),
        stats,
    }
}

// ---------------------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------------------

/// Prints one row per (shape, size, variant): `columns` for the fresh runs, then for the
/// resumed runs (`{mode}` in a column's name is replaced by the mode), as `cells` gives them.
fn print_table(groups: &[Group], columns: &[&str], cells: impl Fn(&Group, &Stat) -> Vec<String>) {
    let modes = [("fresh", Mode::Fresh), ("resumed", Mode::Resumed)];
    let head: Vec<String> = modes
        .iter()
        .flat_map(|(mode, _)| columns.iter().map(move |c| c.replace("{mode}", mode)))
        .collect();
    println!("| shape | tasks | variant | {} |", head.join(" | "));
    println!("|---|---:|---|{}", "---:|".repeat(head.len()));
    for g in groups {
        for variant in Variant::ALL {
            if g.get(variant, Mode::Fresh).is_none() {
                continue;
            }
            let row: Vec<String> = modes
                .iter()
                .flat_map(|&(_, mode)| match g.get(variant, mode) {
                    Some(stat) => cells(g, stat),
                    None => vec!["–".to_owned(); columns.len()],
                })
                .collect();
            println!(
                "| {} | {} | {} | {} |",
                g.shape.name(),
                g.tasks,
                variant.name(),
                row.join(" | ")
            );
        }
    }
}

fn print_comparison(groups: &[Group]) {
    print_table(groups, &["{mode} ms", "ratio"], |g, stat| {
        let ratio = g.ratio(stat.variant, stat.mode).unwrap_or(f64::NAN);
        vec![
            format!("{:.2}", stat.median.as_secs_f64() * 1e3),
            format!("{ratio:.2}x"),
        ]
    });
}

/// A performance target: the median ratio of `variant` in `mode` to raw dagx (or, with
/// `against`, to that variant in the same mode) is at most `limit` on `shapes`.
struct Target {
    variant: Variant,
    mode: Mode,
    against: Option<Variant>,
    shapes: &'static [Shape],
    limit: f64,
}

const TARGETS: [Target; 6] = [
    Target {
        variant: Variant::Memory,
        mode: Mode::Fresh,
        against: None,
        shapes: &Shape::ALL,
        limit: 1.3,
    },
    Target {
        variant: Variant::Memory,
        mode: Mode::Resumed,
        against: None,
        shapes: &Shape::ALL,
        limit: 1.3,
    },
    Target {
        variant: Variant::Redb,
        mode: Mode::Fresh,
        against: None,
        shapes: &[Shape::FanOut, Shape::Independent],
        limit: 3.0,
    },
    Target {
        variant: Variant::Redb,
        mode: Mode::Fresh,
        against: None,
        shapes: &[Shape::Chain],
        limit: 5.0,
    },
    Target {
        variant: Variant::Redb,
        mode: Mode::Resumed,
        against: None,
        shapes: &Shape::ALL,
        limit: 2.0,
    },
    Target {
        variant: Variant::File,
        mode: Mode::Fresh,
        against: Some(Variant::RsFile),
        shapes: &Shape::ALL,
        limit: 1.0,
    },
];

fn print_targets(groups: &[Group]) {
    println!("\nTargets (median ratio):\n");
    for t in &TARGETS {
        let base = t.against.map_or("raw dagx", Variant::name);
        let results: Vec<String> = groups
            .iter()
            .filter(|g| t.shapes.contains(&g.shape))
            .filter_map(|g| {
                let ratio = match t.against {
                    None => g.ratio(t.variant, t.mode)?,
                    Some(other) => {
                        g.get(t.variant, t.mode)?.median.as_secs_f64()
                            / g.get(other, t.mode)?.median.as_secs_f64()
                    }
                };
                let verdict = if (ratio * 100.0).round() / 100.0 <= t.limit {
                    "ok"
                } else {
                    "MISSED"
                };
                Some(format!(
                    "{}/{} {ratio:.2}x {verdict}",
                    g.shape.name(),
                    g.tasks
                ))
            })
            .collect();
        if !results.is_empty() {
            println!(
                "- {} {:?} ≤ {}x {base}: {}",
                t.variant.name(),
                t.mode,
                t.limit,
                results.join(", ")
            );
        }
    }
}

fn print_scaling(groups: &[Group]) {
    let columns = ["{mode} µs/task", "peak heap B/task", "allocs/task"];
    print_table(groups, &columns, |g, stat| {
        let per_task = |x: f64| x / g.tasks as f64;
        let heap = stat.heap.expect("a heap run");
        vec![
            format!("{:.3}", per_task(stat.median.as_secs_f64() * 1e6)),
            format!("{:.0}", per_task(heap.peak as f64)),
            format!("{:.1}", per_task(heap.calls as f64)),
        ]
    });
}

// ---------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------

/// The variants to run on `shape` under the `DURAFLOW_BENCH_ONLY` filter (raw dagx always,
/// as the baseline, when anything else runs).
fn selected(only: Option<&str>, shape: Shape, from: &[Variant]) -> Vec<Variant> {
    let matches = |name: &str| only.is_none_or(|o| name.to_lowercase().contains(o));
    let picked: Vec<Variant> = from
        .iter()
        .copied()
        .filter(|&v| v != Variant::Raw && (matches(shape.name()) || matches(v.name())))
        .collect();
    if picked.is_empty() {
        return picked;
    }
    std::iter::once(Variant::Raw).chain(picked).collect()
}

/// Runs one case `runs` times (`DURAFLOW_BENCH_ONE`): resumed runs after one fresh run that
/// fills their store, fresh runs each on a new store.
fn run_one(spec: &str) {
    let usage = "DURAFLOW_BENCH_ONE=<variant>,<shape>,<tasks>,<fresh|resumed>,<runs>";
    let parts: Vec<&str> = spec.split(',').map(str::trim).collect();
    let [variant, shape, tasks, mode, runs] = parts[..] else {
        panic!("{usage}, not {spec:?}");
    };
    let variant = Variant::ALL
        .into_iter()
        .find(|v| v.token() == variant)
        .unwrap_or_else(|| panic!("unknown variant {variant:?}; {usage}"));
    let shape = Shape::ALL
        .into_iter()
        .find(|s| s.name() == shape)
        .unwrap_or_else(|| panic!("unknown shape {shape:?}; {usage}"));
    let tasks: usize = tasks.parse().expect(usage);
    let runs: usize = runs.parse().expect(usage);
    let resumed = match mode {
        "fresh" => false,
        "resumed" => true,
        _ => panic!("unknown mode {mode:?}; {usage}"),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let keys: Vec<String> = (0..tasks).map(|i| format!("t{i}")).collect();
    // As many stores are made whatever `runs` is, so that a difference of two counts (see
    // `scripts/bench-instructions`) leaves making them out, as the timed runs do.
    let stores: Vec<Store> = (0..=runs.max(ONE_STORES))
        .map(|_| variant.new_store())
        .collect();
    let filled = &stores[0];
    if resumed {
        rt.block_on(filled.run(shape, &keys, false));
    }
    for store in &stores[1..=runs] {
        let store = if resumed { filled } else { store };
        rt.block_on(store.run(shape, &keys, resumed));
    }
}

/// Stores `DURAFLOW_BENCH_ONE` makes when asked for fewer runs.
const ONE_STORES: usize = 3;

fn main() {
    if let Ok(spec) = std::env::var("DURAFLOW_BENCH_ONE") {
        run_one(&spec);
        return;
    }
    let quick = std::env::var("DURAFLOW_BENCH_QUICK").is_ok_and(|v| v != "0" && !v.is_empty());
    let only = std::env::var("DURAFLOW_BENCH_ONLY")
        .ok()
        .map(|o| o.to_lowercase());
    let runtimes = Runtimes::new();
    let started = Instant::now();
    let plan = |tasks, iters, slow_iters| Plan {
        tasks,
        iters,
        slow_iters,
    };
    let tasks: Option<usize> = std::env::var("DURAFLOW_BENCH_TASKS")
        .ok()
        .map(|n| n.parse().expect("DURAFLOW_BENCH_TASKS=<number of tasks>"));
    let shape_only = std::env::var("DURAFLOW_BENCH_SHAPE").ok().map(|name| {
        Shape::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .unwrap_or_else(|| panic!("unknown DURAFLOW_BENCH_SHAPE {name:?}"))
    });
    let (sizes, scaling) = if let Some(n) = tasks {
        (vec![plan(n, if quick { 3 } else { 41 }, 3)], vec![])
    } else if quick {
        (
            vec![plan(1_000, 3, 1)],
            vec![plan(1_000, 3, 1), plan(10_000, 1, 1)],
        )
    } else {
        (
            vec![plan(1_000, 41, 3), plan(10_000, 41, 3)],
            vec![plan(1_000, 5, 3), plan(10_000, 3, 3), plan(100_000, 3, 3)],
        )
    };
    let shapes: Vec<Shape> = Shape::ALL
        .into_iter()
        .filter(|s| shape_only.is_none_or(|only| only == *s))
        .collect();
    let iterations = |plans: &[Plan]| {
        let each: Vec<String> = plans
            .iter()
            .map(|p| format!("{} at {}", p.iters, p.tasks))
            .collect();
        each.join(", ")
    };

    println!(
        "# duraflow benchmark\n\ntokio multi-thread runtimes, one per variant, {} workers each; temp dir {}\n\n\
         Median of {} runs after 1 warm-up ({} at {} tasks or more with stores on disk; when a \
         case's first run takes {} ms or more, every case of its shape and size takes {} runs, \
         that slow first run counting). Ratio = median / median of raw dagx, same shape and \
         size, runs interleaved.\n",
        runtimes.of(Variant::Raw).metrics().num_workers(),
        std::env::temp_dir().display(),
        iterations(&sizes),
        DISK_ITERS,
        DISK_FROM,
        SLOW.as_millis(),
        sizes[0].slow_iters,
    );
    // Stores on disk are measured in rounds of their own, each with its own raw dagx
    // baseline: what they leave behind would slow whatever runs next. File stores create a
    // file per task, and the kernel work that follows (writeback, the journal) outlasts the
    // run; RedbStore fsyncs and leaves a heap of its own caches and buffers, which the runs
    // after it (in memory, a millisecond or two each) found fragmented or trimmed.
    let rounds: [(&str, &[Variant]); 3] = [
        (
            "In memory",
            &[Variant::Raw, Variant::RsMemory, Variant::Memory],
        ),
        ("In one file (redb)", &[Variant::Raw, Variant::Redb]),
        (
            "A file per record",
            &[Variant::Raw, Variant::RsFile, Variant::File],
        ),
    ];
    let mut all = Vec::new();
    for (title, from) in rounds {
        let mut groups = Vec::new();
        let on_disk = from.iter().any(|v| v.on_disk());
        for &size in &sizes {
            let size = match on_disk && size.tasks >= DISK_FROM {
                true => Plan {
                    iters: size.iters.min(DISK_ITERS),
                    ..size
                },
                false => size,
            };
            for &shape in &shapes {
                let variants = selected(only.as_deref(), shape, from);
                if !variants.is_empty() {
                    groups.push(measure(&runtimes, shape, size, &variants, false));
                }
            }
        }
        if !groups.is_empty() {
            println!("## {title}\n");
            print_comparison(&groups);
            println!();
        }
        all.extend(groups);
    }
    print_targets(&all);
    if scaling.is_empty() {
        println!("\nwall time: {:.1} s", started.elapsed().as_secs_f64());
        return;
    }

    println!(
        "\n## Scaling\n\nTime per task: median of {}; peak heap: one more run, bytes \
         allocated over the run at its peak (all threads), per task.\n",
        iterations(&scaling)
    );
    let mut scaled = Vec::new();
    for &size in &scaling {
        for shape in [Shape::Independent, Shape::Chain] {
            if !shapes.contains(&shape) {
                continue;
            }
            let variants = selected(only.as_deref(), shape, &[Variant::Memory, Variant::Redb]);
            if !variants.is_empty() {
                scaled.push(measure(&runtimes, shape, size, &variants, true));
            }
        }
    }
    print_scaling(&scaled);
    println!("\nwall time: {:.1} s", started.elapsed().as_secs_f64());
}
