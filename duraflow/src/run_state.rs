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

/// What the run's tasks log as they end, under one lock: when the run began, when each
/// task began and ended and how, and what ran.
struct Log {
    started: Instant,
    started_at_ms: u64,
    spans: Vec<TaskSpan>,
    /// The executed tasks, in completion order.
    executed: Vec<TaskRun>,
    restored: usize,
}

impl Default for Log {
    fn default() -> Self {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Log {
            started: Instant::now(),
            started_at_ms: since_epoch.as_millis() as u64,
            spans: Vec::new(),
            executed: Vec::new(),
            restored: 0,
        }
    }
}

/// What a task looks up when it starts, under one lock.
#[derive(Default)]
struct Lookups {
    refresh: Refresh,
    /// The records of the DAG's keys read before the run, or `None` when nothing was read:
    /// each task then reads its own record.
    prefetched: Option<HashMap<TaskKey, Found>>,
}

/// How a task of the run starts.
pub(crate) enum Start {
    /// A refresh was asked for: run it without looking at its record.
    Forced,
    /// Its record, read before the run (`None`: there is none).
    Prefetched(Option<Vec<u8>>),
    /// Its record is to be read now.
    Read,
}

/// The state of the run in progress, reset by [`RunState::start`].
#[derive(Default)]
pub(crate) struct RunState {
    lookups: Mutex<Lookups>,
    log: Mutex<Log>,
    /// Every task error of the run, in the order they happened.
    errors: Mutex<Vec<DuraflowError>>,
    failed: Mutex<Vec<TaskFailure>>,
    skipped: Mutex<Vec<Skipped>>,
    /// The tasks that failed or were skipped without an output: their dependents cannot run.
    lost: Mutex<Vec<TaskKey>>,
    total: AtomicUsize,
}

impl RunState {
    /// Starts a run of `total` tasks with an empty log.
    pub(crate) fn start(&self, total: usize) {
        self.total.store(total, Ordering::Relaxed);
        self.errors.lock().clear();
        self.failed.lock().clear();
        self.skipped.lock().clear();
        self.lost.lock().clear();
        let mut log = Log::default();
        // One span a task: sized once, not regrown (and copied) as the run goes.
        log.spans.reserve(total);
        *self.log.lock() = log;
    }

    /// Tasks of the run.
    pub(crate) fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// Sets which tasks the next runs execute whatever their records hold.
    pub(crate) fn set_refresh(&self, refresh: Refresh) {
        self.lookups.lock().refresh = refresh;
    }

    /// Keeps the records read before the run, for the tasks to take.
    pub(crate) fn set_prefetched(&self, records: HashMap<TaskKey, Found>) {
        self.lookups.lock().prefetched = Some(records);
    }

    /// How the task under `key` starts; a record read before the run is taken out, so its
    /// buffer goes once the task decoded it.
    pub(crate) fn begin(&self, key: &str) -> Start {
        let mut lookups = self.lookups.lock();
        let forced = match &lookups.refresh {
            Refresh::None => false,
            Refresh::All => true,
            Refresh::Keys(keys) => keys.contains(key),
        };
        if forced {
            return Start::Forced;
        }
        let found = lookups.prefetched.as_mut().and_then(|p| p.remove(key));
        match found {
            Some(Found::Record(record)) => Start::Prefetched(Some(record)),
            Some(Found::Absent) => Start::Prefetched(None),
            Some(Found::Unread) | None => Start::Read,
        }
    }

    /// Logs that the task under `key`, which began at `began`, ended with `outcome` (and,
    /// if it ran, what ran); returns how many tasks of the run have completed (restored or
    /// executed).
    pub(crate) fn ended(
        &self,
        key: &TaskKey,
        outcome: Outcome,
        began: Instant,
        ran: Option<TaskRun>,
    ) -> usize {
        let now = Instant::now();
        let mut log = self.log.lock();
        let span = TaskSpan {
            key: key.clone(),
            outcome,
            start: began.saturating_duration_since(log.started),
            end: now.saturating_duration_since(log.started),
        };
        log.spans.push(span);
        match ran {
            Some(ran) => log.executed.push(ran),
            None if outcome == Outcome::Restored => log.restored += 1,
            None => {}
        }
        log.executed.len() + log.restored
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
        self.lookups.lock().prefetched = None;
        let mut errors = std::mem::take(&mut *self.errors.lock());
        let first = errors
            .iter()
            .position(|error| !matches!(error, DuraflowError::InputUnavailable { .. }))
            .or((!errors.is_empty()).then_some(0))
            .map(|at| errors.swap_remove(at));
        let log = std::mem::take(&mut *self.log.lock());
        let runs = log.executed;
        let report = RunReport {
            started_at_ms: log.started_at_ms,
            elapsed: log.started.elapsed(),
            tasks: log.spans,
            executed: runs.len(),
            restored: log.restored,
            not_persisted: runs.iter().filter(|run| !run.persisted).count(),
            runs,
            failed: std::mem::take(&mut *self.failed.lock()),
            skipped: std::mem::take(&mut *self.skipped.lock()),
        };
        (report, first)
    }
}
