//! The one error type of duraflow. Every message names the key involved and says what to do.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in duraflow.
///
/// Task-level variants carry the key of the task, so a failed run says which task failed and
/// why, not which dagx node number lost a channel.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DuraflowError {
    /// The key cannot be used: it is empty, contains NUL, or is too long.
    #[error(
        "invalid key {key:?}: {reason}; a key must be non-empty UTF-8 without NUL characters \
         and at most 65536 bytes"
    )]
    InvalidKey {
        /// The rejected key (lossy for display only).
        key: String,
        /// Which rule it breaks.
        reason: &'static str,
    },

    /// The output of a task could not be written durably to the store.
    #[error(
        "could not persist the output of `{key}`: {source}; nothing usable was stored under this \
         key, so the task runs again on the next run once the store is writable \
         (check free space and permissions)"
    )]
    Persist {
        /// Key of the record that was not written.
        key: String,
        /// The store's error.
        #[source]
        source: io::Error,
    },

    /// Reading the record of a key failed at the store level (not a bad record: an I/O error).
    #[error(
        "could not read the record of `{key}` from the store: {source}; check that the store \
         is reachable and readable, then run again"
    )]
    Load {
        /// Key whose record could not be read.
        key: String,
        /// The store's error.
        #[source]
        source: io::Error,
    },

    /// Removing a record failed.
    #[error("could not remove the record of `{key}`: {source}")]
    Remove {
        /// Key whose record could not be removed.
        key: String,
        /// The store's error.
        #[source]
        source: io::Error,
    },

    /// The record under a key holds another type than the one asked for.
    #[error(
        "the record under `{key}` holds a `{stored}`, not a `{expected}`; read it as \
         `{stored}`, or remove the record (Context::remove) so the task producing it runs again"
    )]
    TypeMismatch {
        /// The key.
        key: String,
        /// Type name recorded in the record.
        stored: String,
        /// Type name that was asked for.
        expected: String,
    },

    /// The record under a key holds a value of another serde shape than the type asked for.
    #[error(
        "the record under `{key}` was written as `{stored}`, but the type is now `{expected}`; \
         it is never returned as a value: the task producing it runs again and replaces it, or \
         remove it with Context::remove"
    )]
    SchemaMismatch {
        /// The key.
        key: String,
        /// The shape in the record.
        stored: String,
        /// The shape of the type asked for.
        expected: String,
    },

    /// The record under a key fails a check (checksum, length, magic, ...).
    #[error(
        "the record under `{key}` is unreadable ({reason}); it is never returned as a value: \
         the task producing it runs again and replaces it, or remove it with Context::remove"
    )]
    Corrupt {
        /// The key.
        key: String,
        /// Which check failed.
        reason: String,
    },

    /// A task panicked. Nothing was stored for it; it runs again on the next run.
    #[error("task `{key}` panicked: {message}; nothing was stored for it, so it runs again on the next run")]
    TaskPanicked {
        /// Key of the panicking task.
        key: String,
        /// The panic message.
        message: String,
    },

    /// Every attempt of a task ran past its timeout.
    #[error(
        "task `{key}` timed out after {after:?} ({attempts} attempt(s)); nothing was stored for \
         it: raise `timeout`, or make the task faster"
    )]
    TimedOut {
        /// Key of the task.
        key: String,
        /// The limit of one attempt.
        after: std::time::Duration,
        /// Attempts made.
        attempts: u32,
    },

    /// A task added to the `DagRunner` directly (not through `DurableDag`, so without a key)
    /// panicked.
    #[error(
        "a task without a key (added to the DagRunner directly) panicked: {message}; add it \
         through DurableDag to have it named and stored"
    )]
    UnkeyedTaskPanicked {
        /// The panic message.
        message: String,
    },

    /// A task could not run because one of its inputs never arrived (an upstream task failed).
    #[error(
        "task `{key}` did not run: {reason}; upstream task(s) that failed without an output: \
         {upstream:?}, see their errors"
    )]
    InputUnavailable {
        /// Key of the task that did not run.
        key: String,
        /// What dagx reported.
        reason: String,
        /// The keys of the tasks of the run that had failed without an output when this one
        /// found its inputs missing (dagx does not say which input came from which task: with
        /// one failure, it is that task).
        upstream: Vec<String>,
    },

    /// A task's output is a `Result::Err`: passed downstream, not stored, so the task runs
    /// again on the next run.
    #[error(
        "task `{key}` returned an error: {message}; it was not stored, so the task runs again \
         on the next run"
    )]
    TaskFailed {
        /// Key of the task.
        key: String,
        /// The error's text.
        message: String,
    },

    /// The output of a task could not be serialized with postcard.
    #[error(
        "could not serialize the output of `{key}`: {reason}; postcard cannot encode some serde \
         features (e.g. `#[serde(flatten)]`, untagged enums), change the output type"
    )]
    Serialize {
        /// The key.
        key: String,
        /// postcard's message.
        reason: String,
    },

    /// A store could not be opened.
    #[error("could not open the store at {path}: {source}")]
    Open {
        /// Path of the store.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// The path exists but holds no duraflow store (or does not exist, where one must).
    #[error("{path} is not a duraflow store: {reason}")]
    NotAStore {
        /// The path given.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },

    /// Another process (or another handle in this process) holds the store open.
    #[error(
        "the store at {path} is in use by another process; wait for it to finish, or give this \
         run its own store"
    )]
    StoreInUse {
        /// Path of the store.
        path: PathBuf,
    },

    /// dagx failed for a reason not tied to a durable task (e.g. a plain dagx task failed).
    #[error("the dagx run failed: {0}")]
    Dag(#[from] dagx::DagError),
}

impl DuraflowError {
    /// The key of the task or record the error is about, if it is about one.
    pub fn key(&self) -> Option<&str> {
        match self {
            DuraflowError::InvalidKey { key, .. }
            | DuraflowError::Persist { key, .. }
            | DuraflowError::Load { key, .. }
            | DuraflowError::Remove { key, .. }
            | DuraflowError::TypeMismatch { key, .. }
            | DuraflowError::SchemaMismatch { key, .. }
            | DuraflowError::Corrupt { key, .. }
            | DuraflowError::TaskPanicked { key, .. }
            | DuraflowError::TimedOut { key, .. }
            | DuraflowError::InputUnavailable { key, .. }
            | DuraflowError::TaskFailed { key, .. }
            | DuraflowError::Serialize { key, .. } => Some(key),
            _ => None,
        }
    }
}
