//! What a run did: [`RunReport`] and its [`TaskRun`]s.

use crate::codec::Miss;
use crate::key::TaskKey;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One executed task of a run, and why it ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRun {
    /// The task's key.
    pub key: TaskKey,
    /// Why no stored record was used.
    pub reason: Miss,
    /// False when the output was a `Result::Err` (passed downstream, not stored).
    pub persisted: bool,
    /// Attempts made (more than 1 after retries).
    pub attempts: u32,
}

/// A task of a run that failed: its output was a `Result::Err` (passed downstream, not
/// stored), or it produced no output (a panic, a timeout, a store error).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskFailure {
    /// The task's key.
    pub key: TaskKey,
    /// What went wrong, as the error's message.
    pub message: String,
}

/// A task of a run that could not run because an upstream task failed without an output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The task's key.
    pub key: TaskKey,
    /// The tasks of the run that had failed without an output when this one found its inputs
    /// missing (dagx does not say which input came from which task: with one failure, it is
    /// that task).
    pub upstream: Vec<TaskKey>,
}

/// How a task of a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Outcome {
    /// It ran and its output was stored.
    Executed,
    /// Its output came from the store.
    Restored,
    /// It ran and failed: a `Result::Err` output (passed on, not stored), a panic, a timeout
    /// or a store error.
    Failed,
    /// It could not run: an upstream task failed without an output.
    Skipped,
}

impl Outcome {
    /// The outcome as a lower-case word: `executed`, `restored`, `failed`, `skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Executed => "executed",
            Outcome::Restored => "restored",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When one task of a run began and ended, as offsets from the run's start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpan {
    /// The task's key.
    pub key: TaskKey,
    /// How it ended.
    pub outcome: Outcome,
    /// When it began (its record was looked up), from the run's start.
    pub start: Duration,
    /// When it ended, from the run's start.
    pub end: Duration,
}

/// What a [`DurableDag::run`](crate::DurableDag::run) did. A run that fails keeps its report
/// too: [`DurableDag::last_report`](crate::DurableDag::last_report).
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), duraflow::DuraflowError> {
/// use duraflow::{Context, DurableDag, MemoryStore, Miss};
/// use dagx::{task, DagRunner, Task};
/// use std::sync::Arc;
///
/// struct Load(i32);
/// #[task]
/// impl Load { async fn run(&self) -> i32 { self.0 } }
///
/// struct Check;
/// #[task]
/// impl Check { async fn run(x: &i32) -> Result<i32, String> { Err(format!("{x} is odd")) } }
///
/// let dag = DagRunner::new();
/// let d = DurableDag::new(&dag, Arc::new(Context::new(MemoryStore::new())));
/// let load: dagx::TaskHandle<i32> = d.add("load", Load(1)).into();
/// d.add("check", Check).depends_on(load);
/// let report = d.run(|f| { tokio::spawn(f); }).await?;
/// assert_eq!((report.executed, report.runs[0].reason.clone()), (2, Miss::NoRecord));
/// assert_eq!(report.failed[0].key, "check");
/// assert!(report.failed[0].message.contains("1 is odd"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    /// When the run began, in milliseconds since the Unix epoch.
    pub started_at_ms: u64,
    /// How long the run took.
    pub elapsed: Duration,
    /// Tasks that ran.
    pub executed: usize,
    /// Tasks whose output came from the store.
    pub restored: usize,
    /// Tasks that ran but whose output (`Result::Err`) was not stored.
    pub not_persisted: usize,
    /// Every executed task with the reason it ran, in completion order.
    pub runs: Vec<TaskRun>,
    /// Every task that failed, in the order they failed.
    pub failed: Vec<TaskFailure>,
    /// Every task that could not run because an upstream task failed.
    pub skipped: Vec<Skipped>,
    /// Every task of the run with its outcome, when it began and when it ended, in the
    /// order they ended.
    pub tasks: Vec<TaskSpan>,
}
