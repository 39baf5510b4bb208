//! What the tasks of one `DurableDag` run share: the records read before the run, the keys
//! to run again, and what each task reports back for the run's [`RunReport`].

use crate::report::{Outcome, RunReport, Skipped, TaskFailure, TaskRun, TaskSpan};
use crate::store::Found;
use crate::{DuraflowError, TaskKey};
use hashbrown::{HashMap, HashSet};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Which tasks run again whatever their records hold.
#[derive(Debug, Default)]
pub(crate) enum Refresh {
    /// None: records are used as usual.
    #[default]
    None,
    /// Every task.
    All,
    /// The tasks under these keys.
    Keys(HashSet<String>),
}

/// When the run began and when each of its tasks began and ended.
struct Timeline {
    started: Instant,
    started_at_ms: u64,
    spans: Vec<TaskSpan>,
}

impl Default for Timeline {
    fn default() -> Self {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timeline {
            started: Instant::now(),
            started_at_ms: since_epoch.as_millis() as u64,
            spans: Vec::new(),
        }
    }
}

/// The state of the run in progress, reset by [`RunState::start`].
#[derive(Default)]
pub(crate) struct RunState {
    /// The records of the DAG's keys read before the run (`None` inside: no record), or
    /// `None` when nothing was read: each task then reads its own record.
    prefetched: Mutex<Option<HashMap<TaskKey, Found>>>,
    refresh: Mutex<Refresh>,
    /// The executed tasks, in completion order.
    executed: Mutex<Vec<TaskRun>>,
    restored: AtomicUsize,
    /// Tasks of the run completed so far, restored or executed.
    completed: AtomicUsize,
    /// Every task error of the run, in the order they happened.
    errors: Mutex<Vec<DuraflowError>>,
    failed: Mutex<Vec<TaskFailure>>,
    skipped: Mutex<Vec<Skipped>>,
    /// The tasks that failed or were skipped without an output: their dependents cannot run.
    lost: Mutex<Vec<TaskKey>>,
    total: AtomicUsize,
    timeline: Mutex<Timeline>,
}

impl RunState {
    /// Starts a run of `total` tasks with an empty log.
    pub(crate) fn start(&self, total: usize) {
        self.total.store(total, Ordering::Relaxed);
        self.executed.lock().clear();
        self.errors.lock().clear();
        self.failed.lock().clear();
        self.skipped.lock().clear();
        self.lost.lock().clear();
        let mut timeline = Timeline::default();
        // One span per task: sized once, not regrown (and copied) as the run goes.
        timeline.spans.reserve(total);
        *self.timeline.lock() = timeline;
        self.restored.store(0, Ordering::Relaxed);
        self.completed.store(0, Ordering::Relaxed);
    }

    /// Counts a completed task; returns how many of the run have completed.
    pub(crate) fn complete(&self) -> usize {
        self.completed.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Tasks of the run.
    pub(crate) fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// Sets which tasks the next runs execute whatever their records hold.
    pub(crate) fn set_refresh(&self, refresh: Refresh) {
        *self.refresh.lock() = refresh;
    }

    /// Whether the task under `key` must run again without looking at its record.
    pub(crate) fn is_forced(&self, key: &str) -> bool {
        match &*self.refresh.lock() {
            Refresh::None => false,
            Refresh::All => true,
            Refresh::Keys(keys) => keys.contains(key),
        }
    }

    /// Keeps the records read before the run, for the tasks to take.
    pub(crate) fn set_prefetched(&self, records: HashMap<TaskKey, Found>) {
        *self.prefetched.lock() = Some(records);
    }

    /// The record read before the run for `key` (`Some(None)`: there is none), taken out so
    /// its buffer goes once the task decoded it; `None` when it was not read before.
    pub(crate) fn take_prefetched(&self, key: &str) -> Option<Option<Vec<u8>>> {
        match self.prefetched.lock().as_mut()?.remove(key)? {
            Found::Record(record) => Some(Some(record)),
            Found::Absent => Some(None),
            Found::Unread => None,
        }
    }

    /// Logs when the task under `key`, which began at `began`, ended, and how.
    pub(crate) fn span(&self, key: &TaskKey, outcome: Outcome, began: Instant) {
        let mut timeline = self.timeline.lock();
        let start = began.saturating_duration_since(timeline.started);
        let end = timeline.started.elapsed();
        timeline.spans.push(TaskSpan {
            key: key.clone(),
            outcome,
            start,
            end,
        });
    }

    /// Logs a task that ran.
    pub(crate) fn executed(&self, run: TaskRun) {
        self.executed.lock().push(run);
    }

    /// Counts a task whose output came from the store.
    pub(crate) fn restored(&self) {
        self.restored.fetch_add(1, Ordering::Relaxed);
    }

    /// The tasks of the run that have failed without an output so far.
    pub(crate) fn lost(&self) -> Vec<TaskKey> {
        self.lost.lock().clone()
    }

    /// Lists a failed task (its output, if any, is a `Result::Err`).
    pub(crate) fn failed(&self, key: &TaskKey, error: &DuraflowError) {
        self.failed.lock().push(TaskFailure {
            key: key.clone(),
            message: error.to_string(),
        });
    }

    /// Keeps the error of a task that produced no output, for the run's result and report.
    pub(crate) fn fail(&self, error: DuraflowError) {
        if let Some(key) = error.key() {
            let key = TaskKey::from(key);
            match &error {
                DuraflowError::InputUnavailable { upstream, .. } => {
                    self.skipped.lock().push(Skipped {
                        key: key.clone(),
                        upstream: upstream
                            .iter()
                            .map(|key| TaskKey::from(key.as_str()))
                            .collect(),
                    });
                }
                error => self.failed(&key, error),
            }
            self.lost.lock().push(key);
        }
        self.errors.lock().push(error);
    }

    /// The report of the run that ends, and its first real error: an `InputUnavailable` is
    /// only the consequence of another failure, so it is returned when nothing else failed.
    pub(crate) fn finish(&self) -> (RunReport, Option<DuraflowError>) {
        self.prefetched.lock().take();
        let runs = std::mem::take(&mut *self.executed.lock());
        let mut errors = std::mem::take(&mut *self.errors.lock());
        let first = errors
            .iter()
            .position(|error| !matches!(error, DuraflowError::InputUnavailable { .. }))
            .or((!errors.is_empty()).then_some(0))
            .map(|at| errors.swap_remove(at));
        let timeline = std::mem::take(&mut *self.timeline.lock());
        let report = RunReport {
            started_at_ms: timeline.started_at_ms,
            elapsed: timeline.started.elapsed(),
            tasks: timeline.spans,
            executed: runs.len(),
            restored: self.restored.swap(0, Ordering::Relaxed),
            not_persisted: runs.iter().filter(|run| !run.persisted).count(),
            runs,
            failed: std::mem::take(&mut *self.failed.lock()),
            skipped: std::mem::take(&mut *self.skipped.lock()),
        };
        (report, first)
    }
}
