//! The DAGs and stores that `compare.rs` times: the same no-op tasks in four shapes, added
//! through raw dagx 0.3.1, duraflow-rs 1.0.1 or duraflow, each variant with its own store.

use dagx::{task, DagRunner, Pending, Task, TaskBuilder, TaskHandle};
use futures::future::BoxFuture;
use std::sync::{atomic::AtomicUsize, Arc};
use std::time::{Duration, Instant};
use tempfile::TempDir;

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
pub enum Shape {
    /// Each task depends on the one before: one task per layer.
    Chain,
    /// One source and every other task depending on it: one wide layer.
    FanOut,
    /// No edges at all.
    Independent,
    /// Diamonds in a chain: top, two sides, a join, whose output is the next top.
    Diamond,
}

impl Shape {
    pub const ALL: [Shape; 4] = [
        Shape::Chain,
        Shape::FanOut,
        Shape::Independent,
        Shape::Diamond,
    ];

    pub fn name(self) -> &'static str {
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

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Variant {
    /// dagx 0.3.1 with no durability: the baseline of every ratio.
    Raw,
    /// duraflow-rs 1.0.1 with its `MemoryStore`.
    RsMemory,
    /// duraflow-rs 1.0.1 with its `FileStore`.
    RsFile,
    /// duraflow with `MemoryStore`.
    Memory,
    /// duraflow with `FileStore`.
    File,
    /// duraflow with `RedbStore`.
    Redb,
}

impl Variant {
    /// In the order each group runs them: the baseline first, the stores on disk last, so
    /// the writeback they leave behind falls on as few in-memory runs as possible.
    pub const ALL: [Variant; 6] = [
        Variant::Raw,
        Variant::RsMemory,
        Variant::Memory,
        Variant::Redb,
        Variant::RsFile,
        Variant::File,
    ];

    /// The benchmark's function name within its group.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Raw => "raw-dagx",
            Variant::RsMemory => "rs-memory",
            Variant::RsFile => "rs-file",
            Variant::Memory => "memory",
            Variant::File => "file",
            Variant::Redb => "redb",
        }
    }

    pub fn on_disk(self) -> bool {
        matches!(self, Variant::RsFile | Variant::File | Variant::Redb)
    }

    /// Writes a file per record: too slow to time at the largest size.
    pub fn file_per_record(self) -> bool {
        matches!(self, Variant::RsFile | Variant::File)
    }

    /// A new empty store (and the temp dir that holds it).
    pub fn new_store(self) -> Store {
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
pub struct Store {
    ctx: Ctx,
    _dir: Option<TempDir>,
}

enum Ctx {
    Raw,
    DuraflowRs(Arc<duraflow_rs::Context>),
    Duraflow(Arc<duraflow::Context>),
}

impl Store {
    /// One timed run of `shape` with `keys.len()` tasks asked for: a new `DagRunner`, all
    /// tasks added, the run and reading the sink. The sink's value and (where the library
    /// reports it) the executed count are checked after the clock stops, and the runner is
    /// dropped after it too: none of it is the library's cost of running the DAG.
    pub async fn run(&self, shape: Shape, keys: &[String], resumed: bool) -> Duration {
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
