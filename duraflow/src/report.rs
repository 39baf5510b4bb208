//! What a run did: [`RunReport`] and its [`TaskRun`]s.

use crate::codec::Miss;
use crate::key::TaskKey;

/// One executed task of a run, and why it ran.
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFailure {
    /// The task's key.
    pub key: TaskKey,
    /// What went wrong, as the error's message.
    pub message: String,
}

/// A task of a run that could not run because an upstream task failed without an output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The task's key.
    pub key: TaskKey,
    /// The tasks of the run that had failed without an output when this one found its inputs
    /// missing (dagx does not say which input came from which task: with one failure, it is
    /// that task).
    pub upstream: Vec<TaskKey>,
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
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
}
