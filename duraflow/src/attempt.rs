//! The steps of a task that talk to no event handler: the claim on a coordinating store,
//! and one attempt with its panic caught, its time limit enforced, its failure named.

use crate::codec::Expect;
use crate::store::{off_runtime, Claim};
use crate::storing::Storing;
use crate::{Context, DuraflowError, TaskKey};
use futures::FutureExt;
use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

/// Why an attempt produced no output.
pub(crate) enum Failure {
    Panicked(String),
    TimedOut(Duration),
    InputUnavailable(String),
}

/// Runs one attempt, catching a panic and enforcing the timeout.
pub(crate) async fn attempt_once<O>(
    attempt: impl Future<Output = Result<O, String>>,
    timeout: Option<Duration>,
) -> Result<O, Failure> {
    let guarded = AssertUnwindSafe(attempt).catch_unwind();
    let caught = match timeout {
        None => guarded.await,
        Some(limit) => Box::pin(tokio::time::timeout(limit, guarded))
            .await
            .map_err(|_| Failure::TimedOut(limit))?,
    };
    match caught {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(reason)) => Err(Failure::InputUnavailable(reason)),
        Err(payload) => Err(Failure::Panicked(panic_message(payload.as_ref()))),
    }
}

/// The error for the last failed attempt, with the attempt count when there were several.
pub(crate) fn failure_error(
    key: &str,
    failure: Failure,
    attempts: u32,
    upstream: impl FnOnce() -> Vec<String>,
) -> DuraflowError {
    let key = key.to_owned();
    match failure {
        Failure::InputUnavailable(reason) => DuraflowError::InputUnavailable {
            key,
            reason,
            upstream: upstream(),
        },
        Failure::Panicked(message) if attempts > 1 => DuraflowError::TaskPanicked {
            key,
            message: format!("{message} (failed on all {attempts} attempts)"),
        },
        Failure::Panicked(message) => DuraflowError::TaskPanicked { key, message },
        Failure::TimedOut(after) => DuraflowError::TimedOut {
            key,
            after,
            attempts,
        },
    }
}

/// The message of a caught panic.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

/// Claims `key` on a coordinating store; `Some(value)` when another worker stored it
/// meanwhile (a record this task cannot use counts as none: the task runs).
pub(crate) async fn claim<O>(
    ctx: &Context,
    key: &TaskKey,
    storing: Storing<O>,
    expect: Expect,
    stale: Option<Vec<u8>>,
) -> Result<Option<O>, DuraflowError> {
    let owned = key.clone();
    let claim = off_runtime(&ctx.db, move |s| s.claim(&owned, stale.as_deref()))
        .await
        .map_err(|source| DuraflowError::Load {
            key: key.to_string(),
            source,
        })?;
    Ok(match claim {
        Claim::Run => None,
        Claim::Restore(bytes) => (storing.decode)(key, bytes, expect).ok(),
    })
}
