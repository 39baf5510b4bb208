//! `DurableDag`: adds durable tasks to a dagx `DagRunner` and runs them with real errors.

use crate::attempt::panic_message;
use crate::durable::{Durable, DurableTask, Shared};
use crate::events::{Event, EventHandler, Progress};
use crate::in_use;
use crate::journal::{self, RunEntry, DEFAULT_JOURNAL_RUNS};
use crate::key::TaskKey;
use crate::options::{Cache, TaskOptions};
use crate::report::{Outcome, TaskFailure};
use crate::run_state::{Refresh, RunState};
use crate::store::{off_runtime, LARGE_RECORD};
use crate::storing::{Persistable, Storing};
use crate::usage;
use crate::{Context, DuraflowError, RunReport};
use dagx::{DagRunner, Pending, Task, TaskBuilder};
use futures::future::BoxFuture;
use futures::FutureExt;
use hashbrown::HashMap;
use parking_lot::Mutex;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

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
    /// What its tasks share: the context, the handlers and the run state.
    shared: Arc<Shared>,
    /// The keys of its tasks.
    keys: in_use::Keys,
    /// The ttls of the tasks that have one, for the last-used entries.
    ttls: Mutex<HashMap<TaskKey, Duration>>,
    cache: Option<Cache>,
    /// The report of the last run, kept when that run returned `Err`.
    failed_report: Mutex<Option<RunReport>>,
    /// How many runs the store's journal keeps; `None`: runs leave no entry.
    journal: Option<usize>,
}

impl<'a> DurableDag<'a> {
    /// Durable tasks for `dag`, stored through `ctx`.
    pub fn new(dag: &'a DagRunner, ctx: Arc<Context>) -> Self {
        Self {
            dag,
            shared: Arc::new(Shared::new(ctx, Some(RunState::default()))),
            keys: in_use::Keys::default(),
            ttls: Mutex::default(),
            cache: None,
            failed_report: Mutex::default(),
            journal: Some(DEFAULT_JOURNAL_RUNS),
        }
    }

    fn run_state(&self) -> &RunState {
        self.shared
            .run
            .as_ref()
            .expect("a DurableDag's tasks share a run state")
    }

    /// Calls `handler(key, completed)` once per completed task, executed or restored.
    pub fn with_progress<F>(self, handler: F) -> Self
    where
        F: Fn(&str, usize) + Send + Sync + 'static,
    {
        let handler: Progress = Arc::new(handler);
        self.shared
            .observe(|observers| observers.push_progress(handler));
        self
    }

    /// Calls `handler` with every [`Event`] of the run: the total before it starts, then
    /// each task's start, restore or miss, execution, persistence or failure.
    pub fn with_events<F>(self, handler: F) -> Self
    where
        F: Fn(&Event<'_>) + Send + Sync + 'static,
    {
        let handler: EventHandler = Arc::new(handler);
        self.shared.observe(|observers| observers.push(handler));
        self
    }

    /// Sets the cache mode of every `#[durable]` task added after this call (a DAG-wide
    /// `cache = inputs`). Plain dagx tasks added with [`DurableDag::add`] cannot show
    /// duraflow their inputs and keep resuming by key.
    pub fn with_cache(mut self, cache: Cache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Whether each run leaves an entry in the store's run journal and records the keys it
    /// used (on by default; see [`Context::runs`] and [`Context::last_used`]). Off, a run
    /// leaves nothing in the store but its records.
    pub fn with_journal(mut self, on: bool) -> Self {
        self.journal = on.then_some(self.journal.unwrap_or(DEFAULT_JOURNAL_RUNS));
        self
    }

    /// How many runs the store's journal keeps (default [`DEFAULT_JOURNAL_RUNS`]); a run
    /// that would keep more removes the oldest entries.
    pub fn with_journal_runs(mut self, runs: usize) -> Self {
        self.journal = Some(runs.max(1));
        self
    }

    /// Runs the tasks under these keys again on the next run, whatever their records hold.
    /// With `cache = inputs`, their dependents run again only if the new output differs.
    pub fn refresh<I, K>(self, keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: Into<String>,
    {
        self.run_state()
            .set_refresh(Refresh::Keys(keys.into_iter().map(Into::into).collect()));
        self
    }

    /// Runs every task again on the next run, whatever the records hold.
    pub fn refresh_all(self) -> Self {
        self.run_state().set_refresh(Refresh::All);
        self
    }

    /// Number of tasks added.
    pub fn len(&self) -> usize {
        self.keys.lock().len()
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
    #[track_caller]
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
    #[track_caller]
    pub fn task<T>(&self, task: T) -> TaskBuilder<'a, Durable<T>, Pending>
    where
        T: DurableTask + 'static,
        T::Input: Clone + 'static,
        T::Output: Clone,
    {
        self.task_with(task, self.options_of::<T>())
    }

    /// Adds a `#[durable]` task under `key` instead of its attribute's key, keeping its
    /// version and options (the same task type used for several nodes, say).
    ///
    /// # Panics
    /// If `key` is already used in this `DurableDag`.
    #[track_caller]
    pub fn task_as<T>(&self, key: &str, task: T) -> TaskBuilder<'a, Durable<T>, Pending>
    where
        T: DurableTask + 'static,
        T::Input: Clone + 'static,
        T::Output: Clone,
    {
        let options = self.options_of::<T>();
        self.insert(key, T::VERSION, task, T::__storing(), |durable| {
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
    #[track_caller]
    pub fn task_with<T>(
        &self,
        task: T,
        options: TaskOptions,
    ) -> TaskBuilder<'a, Durable<T>, Pending>
    where
        T: DurableTask + 'static,
        T::Input: Clone + 'static,
        T::Output: Clone,
    {
        let key = task.key();
        self.insert(&key, T::VERSION, task, T::__storing(), |durable| {
            durable.with_options(options)
        })
    }

    /// Adds `task` under `key` with an explicit task version.
    ///
    /// # Panics
    /// If `key` is already used in this `DurableDag`.
    #[track_caller]
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
        self.insert(key, version, task, Storing::whole(), |durable| durable)
    }

    /// Adds `task` to the dagx DAG under `key`, wrapped (and the wrapper finished by
    /// `finish`).
    ///
    /// # Panics
    /// If `key` is already used in this `DurableDag`.
    #[track_caller]
    fn insert<T>(
        &self,
        key: &str,
        version: u32,
        task: T,
        storing: Storing<T::Output>,
        finish: impl FnOnce(Durable<T>) -> Durable<T>,
    ) -> TaskBuilder<'a, Durable<T>, Pending>
    where
        T: Task + 'static,
        T::Input: Clone + 'static,
        T::Output: Clone,
    {
        let key = TaskKey::from(key);
        let mut keys = self.keys.lock();
        if !keys.insert(key.clone()) {
            drop(keys);
            panic!(
                "duplicate key {key:?} in one DurableDag: two tasks would share one record; \
                 give each task its own key"
            );
        }
        drop(keys);
        let durable = Durable::sharing(key.clone(), Arc::clone(&self.shared), task, storing)
            .with_version(version);
        let durable = finish(durable);
        if let Some(ttl) = durable.ttl() {
            self.ttls.lock().insert(key, ttl);
        }
        self.dag.add_task(durable)
    }

    /// Runs the DAG and returns what ran and what was restored, or the first real error
    /// (which key, what failed; [`last_report`](Self::last_report) then has every error and
    /// the rest of the report). When it returns `Ok`, every executed task's record is
    /// durable.
    pub async fn run<S>(&self, spawner: S) -> Result<RunReport, DuraflowError>
    where
        S: Fn(BoxFuture<'static, ()>),
    {
        let total = self.len();
        // A sweep of this process leaves the DAG's records alone until the run has ended.
        let _in_use = in_use::register(&self.keys);
        self.run_state().start(total);
        self.shared.emit(&Event::RunStarted { total });
        self.prefetch().await;
        // Durable tasks catch their own panics; dagx 0.3.1 would drop a plain dagx task's
        // panic in a layer of several, so every spawned future catches it here.
        let shared = Arc::clone(&self.shared);
        // Each spawned future holds a clone of `spawned` until it is dropped, so the run can
        // wait for the last of them: dagx has the outputs a moment before the futures (and
        // the store they hold) are gone.
        let spawned = Arc::new(());
        let in_flight = Arc::clone(&spawned);
        let guarded = move |task: BoxFuture<'static, ()>| {
            let shared = Arc::clone(&shared);
            let in_flight = Arc::clone(&in_flight);
            spawner(Box::pin(async move {
                let _in_flight = in_flight;
                if let Err(payload) = AssertUnwindSafe(task).catch_unwind().await {
                    if let Some(run) = &shared.run {
                        run.fail(DuraflowError::UnkeyedTaskPanicked {
                            message: panic_message(payload.as_ref()),
                        });
                    }
                }
            }));
        };
        let dag_result = self.dag.run(guarded).await;
        while Arc::strong_count(&spawned) > 1 {
            tokio::task::yield_now().await;
        }
        let (report, task_error) = self.run_state().finish();
        // The journal's entries are queued beside the run's last records: one flush, one
        // durable commit, makes both durable.
        let (mut journaled, mut entry) = self.journal(RunEntry::new(report)).await;
        let mut persist_error = self.flush().await.err();
        if let Some(error @ DuraflowError::Persist { key, .. }) = &persist_error {
            entry.report.failed.push(TaskFailure {
                key: TaskKey::from(key.as_str()),
                message: error.to_string(),
            });
            // The entry queued before said nothing of the failed write: it is written again.
            let (again, back) = self.journal(entry).await;
            entry = back;
            journaled = match again {
                Ok(_) => self.flush().await.map(|()| false),
                Err(error) => Err(error),
            };
        } else if let (Ok(true), Some(keep)) = (&journaled, self.journal) {
            let store = Arc::clone(&self.shared.ctx.db);
            // Best effort: entries that stay unfolded are folded next time.
            let _ = off_runtime(&store, move |store| {
                let listed = store.list()?;
                let _ = journal::reindex(store, &listed, keep);
                let _ = usage::compact(store, &listed);
                store.flush().map_err(|failed| failed.source)
            })
            .await;
        }
        persist_error = persist_error.or(journaled.err());
        let report = entry.report;
        self.shared.emit(&Event::RunFinished { report: &report });
        let error = task_error
            .or(persist_error)
            .or(dag_result.err().map(DuraflowError::from));
        *self.failed_report.lock() = error.is_some().then(|| report.clone());
        match error {
            Some(error) => Err(error),
            None => Ok(report),
        }
    }

    /// The whole report of the last run when that run returned `Err` (`None` after a run
    /// that returned `Ok`, whose report the caller has): every task that failed or was
    /// skipped with its message, and what executed and was restored before the run ended.
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// use duraflow::{Context, DurableDag, MemoryStore};
    /// use dagx::{task, DagRunner, Task};
    /// use std::sync::Arc;
    ///
    /// struct Boom;
    /// #[task]
    /// impl Boom { async fn run(&self) -> i32 { panic!("no input file") } }
    /// struct Load(i32);
    /// #[task]
    /// impl Load { async fn run(&self) -> i32 { self.0 } }
    ///
    /// let dag = DagRunner::new();
    /// let d = DurableDag::new(&dag, Arc::new(Context::new(MemoryStore::new())));
    /// d.add("boom", Boom);
    /// d.add("load", Load(1));
    /// assert!(d.run(|f| { tokio::spawn(f); }).await.is_err());
    /// let report = d.last_report().expect("the failed run's report");
    /// assert_eq!((report.executed, report.failed[0].key.as_str()), (1, "boom"));
    /// assert!(report.failed[0].message.contains("no input file"));
    /// # }
    /// ```
    pub fn last_report(&self) -> Option<RunReport> {
        self.failed_report.lock().clone()
    }

    /// Makes every write of the run durable, or names the first that failed.
    async fn flush(&self) -> Result<(), DuraflowError> {
        let flushed = off_runtime(&self.shared.ctx.db, |s| s.flush()).await;
        flushed.map_err(|failed| DuraflowError::Persist {
            key: failed.key,
            source: failed.source,
        })
    }

    /// Queues the run's journal entry and its last-used entry (when the DAG keeps a
    /// journal), for the next flush to make durable; gives the entry back, and says whether
    /// the last-used entries are due to be folded.
    async fn journal(&self, entry: RunEntry) -> (Result<bool, DuraflowError>, RunEntry) {
        let Some(keep) = self.journal else {
            return (Ok(false), entry);
        };
        let report = &entry.report;
        let ttls = self.ttls.lock().clone();
        let used: Vec<(TaskKey, Option<Duration>)> = report
            .tasks
            .iter()
            .filter(|span| matches!(span.outcome, Outcome::Executed | Outcome::Restored))
            .map(|span| (span.key.clone(), ttls.get(&span.key).copied()))
            .collect();
        off_runtime(&self.shared.ctx.db, move |store| {
            let written = usage::record(store, &entry.id, used)
                .and_then(|due| journal::record(store, &entry, keep).map(|()| due));
            (written, entry)
        })
        .await
    }

    /// Reads every record of the DAG in one store call before the run, when the store's
    /// reads block: one trip off the runtime instead of one per task. Large records are left
    /// for their task to read, so that large outputs are never all in memory twice. A failure here is not fatal: each task then reads its own
    /// record and reports its own error with its key.
    async fn prefetch(&self) {
        let store = &self.shared.ctx.db;
        if !store.is_blocking() {
            return;
        }
        let keys: Vec<TaskKey> = self.keys.lock().iter().cloned().collect();
        let fetched = off_runtime(store, move |store| {
            let refs: Vec<&str> = keys.iter().map(TaskKey::as_str).collect();
            let records = store.get_many(&refs, LARGE_RECORD - 1)?;
            Ok::<_, std::io::Error>(keys.into_iter().zip(records).collect::<HashMap<_, _>>())
        })
        .await;
        if let Ok(records) = fetched {
            self.run_state().set_prefetched(records);
        }
    }
}

impl std::fmt::Debug for DurableDag<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableDag")
            .field("tasks", &self.len())
            .finish_non_exhaustive()
    }
}
