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

/// What a [`DurableDag::run`](crate::DurableDag::run) did.
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
}
