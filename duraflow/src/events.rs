//! Typed events: what happens to each task of a run, for progress bars, logs and metrics.

use crate::{DuraflowError, Miss, RunReport};
use std::sync::Arc;
use std::time::Duration;

/// One thing that happened in a run. For each task: `Started`, then either `Restored`, or
/// `Missed` → (`Retrying` …) → `Executed` → `Persisted`, or `Failed`.
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), duraflow::DuraflowError> {
/// use duraflow::{Context, DurableDag, Event, MemoryStore};
/// use dagx::{task, DagRunner, Task};
/// use std::sync::{Arc, Mutex};
///
/// struct Load(i32);
/// #[task]
/// impl Load { async fn run(&self) -> i32 { self.0 } }
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// let dag = DagRunner::new();
/// let d = DurableDag::new(&dag, Arc::new(Context::new(MemoryStore::new())))
///     .with_events(move |event| log.lock().unwrap().push(event.to_string()));
/// d.add("load", Load(1));
/// d.run(|f| { tokio::spawn(f); }).await?;
/// let seen = seen.lock().unwrap();
/// assert_eq!(seen[0], "run started: 1 task");
/// assert!(seen.contains(&"load: executed (1 of 1)".to_string()));
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// `DurableDag::run` begins; `total` tasks were added.
    RunStarted {
        /// Number of durable tasks in the DAG.
        total: usize,
    },
    /// A task begins: its record is looked up.
    Started {
        /// The task's key.
        key: &'a str,
    },
    /// The task's output came from the store; the task did not run.
    Restored {
        /// The task's key.
        key: &'a str,
        /// Tasks of this run completed so far (of a direct call: the context's
        /// `completed_count`).
        completed: usize,
        /// Total tasks of the run, when known.
        total: Option<usize>,
    },
    /// No usable record: the task runs.
    Missed {
        /// The task's key.
        key: &'a str,
        /// Why the record was not used.
        reason: &'a Miss,
    },
    /// An attempt failed and the task is tried again.
    Retrying {
        /// The task's key.
        key: &'a str,
        /// The attempt that failed (1-based).
        attempt: u32,
        /// Why it failed.
        error: &'a str,
    },
    /// The task ran and produced its output.
    Executed {
        /// The task's key.
        key: &'a str,
        /// Time spent running it.
        elapsed: Duration,
        /// Tasks of this run completed so far (of a direct call: the context's
        /// `completed_count`).
        completed: usize,
        /// Total tasks of the run, when known.
        total: Option<usize>,
    },
    /// The output was handed to the store (durable once the store flushes, at the latest
    /// when `DurableDag::run` returns `Ok`). Not sent for `Result::Err` outputs.
    Persisted {
        /// The task's key.
        key: &'a str,
    },
    /// The task failed: the run will return this error (or an earlier one).
    Failed {
        /// The task's key.
        key: &'a str,
        /// What went wrong.
        error: &'a DuraflowError,
    },
    /// `DurableDag::run` ends.
    RunFinished {
        /// What the run did (partial when it failed).
        report: &'a RunReport,
    },
}

impl std::fmt::Display for Event<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let of = |completed: &usize, total: &Option<usize>| match total {
            Some(total) => format!("{completed} of {total}"),
            None => format!("{completed} completed"),
        };
        match self {
            Event::RunStarted { total } => {
                write!(
                    f,
                    "run started: {total} task{}",
                    if *total == 1 { "" } else { "s" }
                )
            }
            Event::Started { key } => write!(f, "{key}: started"),
            Event::Restored {
                key,
                completed,
                total,
            } => {
                write!(f, "{key}: restored ({})", of(completed, total))
            }
            Event::Missed { key, reason } => write!(f, "{key}: runs ({reason})"),
            Event::Retrying {
                key,
                attempt,
                error,
            } => {
                write!(f, "{key}: attempt {attempt} failed ({error}), retrying")
            }
            Event::Executed {
                key,
                completed,
                total,
                ..
            } => {
                write!(f, "{key}: executed ({})", of(completed, total))
            }
            Event::Persisted { key } => write!(f, "{key}: persisted"),
            Event::Failed { key, error } => write!(f, "{key}: failed: {error}"),
            Event::RunFinished { report } => write!(
                f,
                "run finished: {} executed, {} restored",
                report.executed, report.restored
            ),
        }
    }
}

/// The progress callback of duraflow-rs: `(key, completed)` once per completed task.
pub type Progress = Arc<dyn Fn(&str, usize) + Send + Sync + 'static>;

/// An event handler.
pub type EventHandler = Arc<dyn Fn(&Event<'_>) + Send + Sync + 'static>;

/// The handlers a task reports to: event handlers, and the seed's progress callbacks.
#[derive(Clone, Default)]
pub(crate) struct Observers {
    handlers: Vec<EventHandler>,
    progress: Vec<Progress>,
}

impl Observers {
    /// Adds a handler.
    pub(crate) fn push(&mut self, handler: EventHandler) {
        self.handlers.push(handler);
    }

    /// Adds the seed's `(key, completed)` progress callback.
    pub(crate) fn push_progress(&mut self, progress: Progress) {
        self.progress.push(progress);
    }

    /// Sends `event` to every handler.
    pub(crate) fn emit(&self, event: &Event<'_>) {
        for handler in &self.handlers {
            handler(event);
        }
    }

    /// Tells every progress callback that the task under `key` completed, with the
    /// context's count of completed tasks (as duraflow-rs counts them, across runs).
    pub(crate) fn progress(&self, key: &str, completed: usize) {
        for progress in &self.progress {
            progress(key, completed);
        }
    }
}
