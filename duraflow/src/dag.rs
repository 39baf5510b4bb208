//! `DurableDag`: adds durable tasks to a dagx `DagRunner` and runs them with real errors.

use crate::codec::Miss;
use crate::durable::{panic_message, Durable, DurableTask, Persistable, Shared};
use crate::events::{Event, EventHandler, Observers};
use crate::glue;
use crate::inline::{Inliner, Polled};
use crate::key::TaskKey;
use crate::key_set::KeySet;
use crate::options::{Cache, TaskOptions};
use crate::padded::Padded;
use crate::report::{RunLog, RunReport, SharedNodes, TaskRuns};
use crate::store::{off_runtime, Storage};
use crate::{Context, DuraflowError};
use dagx::{DagRunner, Pending, Task, TaskBuilder};
use futures::future::BoxFuture;
use futures::FutureExt;
use parking_lot::{Mutex, RwLock};
use std::collections::HashSet;
use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Default)]
struct Errors {
    first: Option<DuraflowError>,
    /// An `InputUnavailable` is only a consequence; it is returned if nothing else failed.
    consequence: Option<DuraflowError>,
}

/// Shards of the count of restored tasks: tasks finishing at once on different threads rarely
/// touch the same one.
const COUNT_SHARDS: usize = 16;

/// What the tasks of one run report back to their `DurableDag`.
#[derive(Default)]
pub(crate) struct RunState {
    /// The executed tasks in the order they were logged: the report's list as it is, without
    /// a copy or a sort at the end of the run.
    executed: Padded<Mutex<RunLog>>,
    /// Restored tasks, counted in shards.
    restored: [Padded<AtomicUsize>; COUNT_SHARDS],
    errors: Mutex<Errors>,
    prefetched: RwLock<Option<Prefetched>>,
    /// What was read before the run (one of the `READ_*`): spares every task a lock when
    /// `prefetched` holds nothing.
    read_before: AtomicU8,
    total: AtomicUsize,
    refresh: Mutex<Refresh>,
    /// Whether `refresh` is anything but `None`.
    has_refresh: AtomicBool,
}

/// The records of a DAG's tasks read before its run, copied into one buffer: the task added
/// `i`-th finds its record at `arena[slots[i]]`, or `None` when it had none.
#[derive(Default)]
struct Prefetched {
    arena: Vec<u8>,
    slots: Vec<Option<Range<usize>>>,
}

impl Prefetched {
    /// Reads the records of `keys` from `store` in one call.
    fn read(store: &(dyn Storage + Send + Sync), keys: &[&str]) -> std::io::Result<Self> {
        let mut prefetched = Prefetched {
            arena: Vec::new(),
            slots: vec![None; keys.len()],
        };
        store.read_many_with(keys, &mut |i, record| {
            prefetched.slots[i] = record.map(|record| {
                let start = prefetched.arena.len();
                prefetched.arena.extend_from_slice(record);
                start..prefetched.arena.len()
            });
        })?;
        Ok(prefetched)
    }
}

/// Nothing was read before the run: each task reads its own record.
const READ_NONE: u8 = 0;
/// The DAG's records were read into [`RunState::prefetched`].
const READ_RECORDS: u8 = 1;
/// The store held no record at all when the run started: every task finds none.
const READ_EMPTY_STORE: u8 = 2;

/// Which tasks run again whatever their records hold.
#[derive(Default)]
enum Refresh {
    #[default]
    None,
    All,
    Keys(HashSet<String>),
}

impl RunState {
    /// Whether the task under `key` must run again without looking at its record.
    pub(crate) fn is_forced(&self, key: &str) -> bool {
        if !self.has_refresh.load(Ordering::Acquire) {
            return false;
        }
        match &*self.refresh.lock() {
            Refresh::None => false,
            Refresh::All => true,
            Refresh::Keys(keys) => keys.contains(key),
        }
    }

    /// Tasks added to the DAG.
    pub(crate) fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// Whether the store held no record at all when the run started: every task finds none.
    pub(crate) fn found_an_empty_store(&self) -> bool {
        self.read_before.load(Ordering::Acquire) == READ_EMPTY_STORE
    }

    /// Counts a restored task; `completed` (the context's count after it) picks the shard.
    pub(crate) fn restored(&self, completed: usize) {
        self.restored[completed % COUNT_SHARDS].fetch_add(1, Ordering::Relaxed);
    }

    fn set_refresh(&self, refresh: Refresh) {
        *self.refresh.lock() = refresh;
        self.has_refresh.store(true, Ordering::Release);
    }

    /// Logs an executed task.
    pub(crate) fn executed(&self, index: u32, reason: Miss, persisted: bool, attempts: u32) {
        let mut log = self.executed.lock();
        if !log.has_room() {
            // A run that executes anything makes room for the whole DAG at once.
            log.reserve(self.total());
        }
        log.push(index, reason, persisted, attempts);
    }

    pub(crate) fn fail(&self, error: DuraflowError) {
        let mut errors = self.errors.lock();
        let slot = if matches!(error, DuraflowError::InputUnavailable { .. }) {
            &mut errors.consequence
        } else {
            &mut errors.first
        };
        slot.get_or_insert(error);
    }

    /// Calls `read` with the prefetched record of the task added `index`-th (`None` if it had
    /// none, or the store held nothing when the run started); returns `None`, without calling
    /// it, when nothing was prefetched for that task.
    pub(crate) fn with_prefetched<R>(
        &self,
        index: u32,
        read: impl FnOnce(Option<&[u8]>) -> R,
    ) -> Option<R> {
        match self.read_before.load(Ordering::Acquire) {
            READ_NONE => return None,
            READ_EMPTY_STORE => return Some(read(None)),
            _ => {}
        }
        let prefetched = self.prefetched.read();
        let prefetched = prefetched.as_ref()?;
        let slot = prefetched.slots.get(index as usize)?;
        Some(read(slot.clone().map(|range| &prefetched.arena[range])))
    }

    fn set_prefetched(&self, prefetched: Prefetched) {
        *self.prefetched.write() = Some(prefetched);
        self.read_before.store(READ_RECORDS, Ordering::Release);
    }

    /// Starts a run with an empty log.
    fn start(&self) {
        let _stale = self.take();
    }

    /// The report of the run that ends (its keys in `nodes`), and its first error.
    fn finish(&self, nodes: &SharedNodes) -> (RunReport, Option<DuraflowError>) {
        let (log, restored, error) = self.take();
        let report = RunReport {
            executed: log.len(),
            restored,
            not_persisted: log.not_persisted(),
            runs: TaskRuns::new(log, Arc::clone(nodes)),
        };
        (report, error)
    }

    /// Empties the run's log, counts and errors, and returns them.
    fn take(&self) -> (RunLog, usize, Option<DuraflowError>) {
        self.read_before.store(READ_NONE, Ordering::Release);
        self.prefetched.write().take();
        let logged = std::mem::take(&mut *self.executed.lock());
        let restored = self
            .restored
            .iter()
            .map(|shard| shard.swap(0, Ordering::Relaxed))
            .sum();
        let errors = std::mem::take(&mut *self.errors.lock());
        (logged, restored, errors.first.or(errors.consequence))
    }
}

/// What a `DurableDag` knows of the nodes it added (shared with its run reports).
#[derive(Default)]
pub(crate) struct Nodes {
    keys: KeySet,
    /// How many of them are sources (see [`glue::is_source`]).
    sources: usize,
}

impl Nodes {
    /// The key of the task added `index`-th.
    pub(crate) fn key(&self, index: u32) -> Option<&str> {
        self.keys.list().get(index)
    }
}

/// Adds durable tasks to a dagx [`DagRunner`]: the builder front-end.
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), duraflow::DuraflowError> {
/// use duraflow::{Context, DurableDag, MemoryStore};
/// use dagx::{task, DagRunner, Task};
/// use std::sync::Arc;
///
/// struct Load(i32);
/// #[task]
/// impl Load { async fn run(&self) -> i32 { self.0 } }
/// struct Double;
/// #[task]
/// impl Double { async fn run(x: &i32) -> i32 { x * 2 } }
///
/// let ctx = Arc::new(Context::new(MemoryStore::new()));
/// for expected_executed in [2, 0] {
///     let dag = DagRunner::new();
///     let d = DurableDag::new(&dag, ctx.clone());
///     let load = d.add("load", Load(21));
///     let double = d.add("double", Double).depends_on(&load);
///     let report = d.run(|f| { tokio::spawn(f); }).await?;
///     assert_eq!(report.executed, expected_executed);
///     assert_eq!(dag.get(double).unwrap(), 42);
/// }
/// # Ok(()) }
/// ```
pub struct DurableDag<'a> {
    dag: &'a DagRunner,
    state: Arc<RunState>,
    /// What its tasks share: the context, the handlers and the run log.
    shared: Arc<Shared>,
    nodes: SharedNodes,
    cache: Option<Cache>,
}

impl<'a> DurableDag<'a> {
    /// Durable tasks for `dag`, stored through `ctx`.
    pub fn new(dag: &'a DagRunner, ctx: Arc<Context>) -> Self {
        let state: Arc<RunState> = Arc::default();
        let shared = Shared {
            ctx,
            observers: Observers::default(),
            run: Some(Arc::clone(&state)),
        };
        Self {
            dag,
            state,
            shared: Arc::new(shared),
            nodes: SharedNodes::default(),
            cache: None,
        }
    }

    /// Calls `handler(key, completed)` once per completed task, executed or restored.
    pub fn with_progress<F>(mut self, handler: F) -> Self
    where
        F: Fn(&str, usize) + Send + Sync + 'static,
    {
        Arc::make_mut(&mut self.shared)
            .observers
            .push_progress(Arc::new(handler));
        self
    }

    /// Calls `handler` with every [`Event`] of the run: the total before it starts, then
    /// each task's start, restore or miss, execution, persistence or failure.
    pub fn with_events<F>(mut self, handler: F) -> Self
    where
        F: Fn(&Event<'_>) + Send + Sync + 'static,
    {
        let handler: EventHandler = Arc::new(handler);
        Arc::make_mut(&mut self.shared).observers.push(handler);
        self
    }

    /// Sets the cache mode of every `#[durable]` task added after this call (a DAG-wide
    /// `cache = inputs`). Plain dagx tasks added with [`DurableDag::add`] cannot show
    /// duraflow their inputs and keep resuming by key.
    pub fn with_cache(mut self, cache: Cache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Runs the tasks under these keys again on the next run, whatever their records hold.
    /// With `cache = inputs`, their dependents run again only if the new output differs.
    pub fn refresh<I, K>(self, keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: Into<String>,
    {
        self.state
            .set_refresh(Refresh::Keys(keys.into_iter().map(Into::into).collect()));
        self
    }

    /// Runs every task again on the next run, whatever the records hold.
    pub fn refresh_all(self) -> Self {
        self.state.set_refresh(Refresh::All);
        self
    }

    /// Number of tasks added.
    pub fn len(&self) -> usize {
        self.state.total()
    }

    /// True when no task was added.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The dagx runner tasks are added to.
    pub fn dag(&self) -> &'a DagRunner {
        self.dag
    }

    /// The context records go through.
    pub fn context(&self) -> &Arc<Context> {
        &self.shared.ctx
    }

    /// Adds `task` under `key`; wire inputs with dagx's `.depends_on(...)`.
    ///
    /// # Panics
    /// If `key` is already used in this `DurableDag`: two tasks would share one record.
    pub fn add<T>(&self, key: &str, task: T) -> TaskBuilder<'a, Durable<T>, Pending>
    where
        T: Task + 'static,
        T::Input: Clone + 'static,
        T::Output: Persistable,
    {
        self.add_versioned(key, 0, task)
    }

    /// Adds a `#[durable]` task under the key and version of its attribute.
    ///
    /// # Panics
    /// If its key is already used in this `DurableDag`.
    pub fn task<T>(&self, task: T) -> TaskBuilder<'a, Durable<T>, Pending>
    where
        T: DurableTask + 'static,
        T::Input: Clone + 'static,
        T::Output: Persistable,
    {
        self.task_with(task, self.options_of::<T>())
    }

    /// Adds a `#[durable]` task under `key` instead of its attribute's key, keeping its
    /// version and options (the same task type used for several nodes, say).
    ///
    /// # Panics
    /// If `key` is already used in this `DurableDag`.
    pub fn task_as<T>(&self, key: &str, task: T) -> TaskBuilder<'a, Durable<T>, Pending>
    where
        T: DurableTask + 'static,
        T::Input: Clone + 'static,
        T::Output: Persistable,
    {
        let options = self.options_of::<T>();
        self.insert(key, T::VERSION, task, |durable| {
            durable.with_options(options)
        })
    }

    /// The options of a `#[durable]` task type, with the DAG-wide cache mode applied.
    fn options_of<T: DurableTask>(&self) -> TaskOptions {
        match self.cache {
            Some(cache) => T::OPTIONS.cache(cache),
            None => T::OPTIONS,
        }
    }

    /// Adds a `#[durable]` task with these options instead of its attribute's: the builder's
    /// way to set caching, retries and timeout.
    ///
    /// # Panics
    /// If its key is already used in this `DurableDag`.
    pub fn task_with<T>(
        &self,
        task: T,
        options: TaskOptions,
    ) -> TaskBuilder<'a, Durable<T>, Pending>
    where
        T: DurableTask + 'static,
        T::Input: Clone + 'static,
        T::Output: Persistable,
    {
        let key = task.key();
        self.insert(&key, T::VERSION, task, |durable| {
            durable.with_options(options)
        })
    }

    /// Adds `task` under `key` with an explicit task version.
    ///
    /// # Panics
    /// If `key` is already used in this `DurableDag`.
    pub fn add_versioned<T>(
        &self,
        key: &str,
        version: u32,
        task: T,
    ) -> TaskBuilder<'a, Durable<T>, Pending>
    where
        T: Task + 'static,
        T::Input: Clone + 'static,
        T::Output: Persistable,
    {
        self.insert(key, version, task, |durable| durable)
    }

    /// Adds `task` to the dagx DAG under `key`, wrapped (and the wrapper finished by
    /// `finish`).
    ///
    /// # Panics
    /// If `key` is already used in this `DurableDag`.
    fn insert<T>(
        &self,
        key: &str,
        version: u32,
        task: T,
        finish: impl FnOnce(Durable<T>) -> Durable<T>,
    ) -> TaskBuilder<'a, Durable<T>, Pending>
    where
        T: Task + 'static,
        T::Input: Clone + 'static,
        T::Output: Persistable,
    {
        let mut nodes = self.nodes.lock();
        let Some(index) = nodes.keys.insert(key) else {
            drop(nodes);
            panic!(
                "duplicate key {key:?} in one DurableDag: two tasks would share one record; \
                 give each task its own key"
            );
        };
        // The count under the lock: a store, not an atomic increment.
        self.state
            .total
            .store(nodes.keys.list().len(), Ordering::Relaxed);
        // A short key is copied, not allocated.
        let key = TaskKey::from(key);
        let durable = Durable::sharing(key, Arc::clone(&self.shared), task)
            .with_version(version)
            .at(index);
        nodes.sources += usize::from(glue::is_source::<T::Input>());
        self.dag.add_task(finish(durable))
    }

    /// Whether the dagx DAG holds no other nodes than this `DurableDag`'s (see
    /// [`glue::only_durable_nodes`]). Adds a probe node.
    pub(crate) fn only_durable_nodes(&self) -> bool {
        glue::only_durable_nodes(self.dag, self.state.total())
    }

    /// Runs the DAG and returns what ran and what was restored, or the first real error
    /// (which key, what failed). When it returns `Ok`, every executed task's record is
    /// durable.
    pub async fn run<S>(&self, spawner: S) -> Result<RunReport, DuraflowError>
    where
        S: Fn(BoxFuture<'static, ()>),
    {
        self.state.start();
        self.shared.observers.emit(&Event::RunStarted {
            total: self.state.total(),
        });
        self.shared.ctx.db.reserve(self.state.total());
        self.prefetch().await;
        // Durable tasks catch their own panics; a plain dagx task's panic in a layer of
        // several would be dropped by dagx 0.3.1, so if the DAG has other nodes than durable
        // ones, the spawned futures catch it here. A DAG of durable tasks alone is polled
        // inline first: restored tasks are then never scheduled (see `inline`).
        let foreign = !self.only_durable_nodes();
        // The probe joined the first layer: a lone source, which dagx would have run
        // inline, now comes first in a layer of two and is run inline here.
        let lone_source = !foreign && self.nodes.lock().sources == 1;
        let state = Arc::clone(&self.state);
        let inliner = Inliner::new(lone_source);
        let guarded = move |task: BoxFuture<'static, ()>| {
            if !foreign {
                match inliner.poll(task) {
                    Polled::Done => {}
                    Polled::Spawn(task) => spawner(task),
                    Polled::Panicked(message) => {
                        state.fail(DuraflowError::UnkeyedTaskPanicked { message });
                    }
                }
                return;
            }
            let state = Arc::clone(&state);
            spawner(Box::pin(async move {
                if let Err(payload) = AssertUnwindSafe(task).catch_unwind().await {
                    state.fail(DuraflowError::UnkeyedTaskPanicked {
                        message: panic_message(payload.as_ref()),
                    });
                }
            }));
        };
        let dag_result = self.dag.run(guarded).await;
        let flushed = off_runtime(&self.shared.ctx.db, |s| s.flush()).await;
        let (report, task_error) = self.state.finish(&self.nodes);
        self.shared
            .observers
            .emit(&Event::RunFinished { report: &report });
        if let Some(error) = task_error {
            return Err(error);
        }
        flushed.map_err(|failed| DuraflowError::Persist {
            key: failed.key,
            source: failed.source,
        })?;
        dag_result?;
        Ok(report)
    }

    /// Reads every record of the DAG in one store call before the run, into one buffer in
    /// the order the tasks were added. A store whose reads block is read so off the runtime,
    /// and tasks do not each wait on a read. A store read in place is read so only when it
    /// holds records of this DAG (a resumed run): the records are then found in one pass over
    /// the store, and tasks read them back nearly in sequence. A failure here is not fatal:
    /// each task then reads its own record and reports its own error with its key.
    async fn prefetch(&self) {
        let store = &self.shared.ctx.db;
        if store.holds_nothing() {
            // A first run on an empty store: no task has a record, and none looks.
            self.state
                .read_before
                .store(READ_EMPTY_STORE, Ordering::Release);
            return;
        }
        if !store.is_blocking() {
            let nodes = self.nodes.lock();
            let keys: Vec<&str> = nodes.keys.list().iter().collect();
            if holds_any(&**store, &keys) {
                if let Ok(prefetched) = Prefetched::read(&**store, &keys) {
                    self.state.set_prefetched(prefetched);
                }
            }
            return;
        }
        let keys = self.nodes.lock().keys.list().clone();
        let fetched = off_runtime(store, move |store| {
            let keys: Vec<&str> = keys.iter().collect();
            Prefetched::read(store, &keys)
        })
        .await;
        if let Ok(prefetched) = fetched {
            self.state.set_prefetched(prefetched);
        }
    }
}

/// Whether `store` holds a record for the first, middle or last of `keys`.
fn holds_any(store: &(dyn Storage + Send + Sync), keys: &[&str]) -> bool {
    let probes = [keys.first(), keys.get(keys.len() / 2), keys.last()];
    probes.into_iter().flatten().any(|key| {
        let mut found = false;
        let read = store.read_with(key, &mut |record| found = record.is_some());
        read.is_ok() && found
    })
}

impl std::fmt::Debug for DurableDag<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableDag")
            .field("tasks", &self.state.total())
            .finish_non_exhaustive()
    }
}
