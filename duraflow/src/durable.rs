//! `Durable<T>`: the one wrapper that owns cache check → run → persist → notify.
//!
//! The builder ([`crate::DurableDag::add`]), the attribute (`#[durable]`) and the DSL
//! (`durable_dag!`) all produce a `Durable<T>`; the dagx glue and [`Durable::run_result`]
//! both call [`Durable::execute`].

use crate::codec::{self, Expect, Miss};
use crate::dag::RunState;
use crate::events::{Event, Observers};
use crate::key::check_key;
use crate::store::{off_runtime, Claim};
use crate::{outcome, Context, DuraflowError};
use futures::FutureExt;
use serde::{de::DeserializeOwned, Serialize};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// The progress callback of duraflow-rs: `(key, completed)` once per completed task.
pub type Progress = Arc<dyn Fn(&str, usize) + Send + Sync + 'static>;

/// What an output type needs to be stored: serde both ways, plus what dagx needs.
#[diagnostic::on_unimplemented(
    message = "the output type `{Self}` of a durable task cannot be stored",
    label = "this output is not serde-serializable (or not Clone + Send + Sync)",
    note = "durable outputs are stored with serde: add `#[derive(Clone, serde::Serialize, serde::Deserialize)]` to `{Self}`"
)]
pub trait Persistable: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}

impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> Persistable for T {}

/// A task type with a compile-time key, implemented by `#[durable(key = "...")]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no durable key",
    label = "this task is not declared with #[durable(key = \"...\")]",
    note = "add #[durable(key = \"...\")] to the task's impl block, or give the node an explicit key: `name @ \"key\" = ...`"
)]
pub trait DurableTask: dagx::Task {
    /// Stored in each record; a record written by another version is not reused.
    const VERSION: u32 = 0;
    /// The key of this instance (templates filled in).
    fn key(&self) -> String;
}

/// A dagx task whose output is persisted under a key and restored instead of re-running.
///
/// Usually made by [`crate::DurableDag`]; built directly it runs one task durably:
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), duraflow::DuraflowError> {
/// use duraflow::{Context, Durable, MemoryStore};
/// use dagx::{task, Task};
/// use std::sync::Arc;
///
/// struct Load(i32);
/// #[task]
/// impl Load { async fn run(&self) -> i32 { self.0 } }
///
/// let ctx = Arc::new(Context::new(MemoryStore::new()));
/// let out: i32 = Durable::new("one-off", ctx.clone(), Load(11), None).run_result(()).await?;
/// assert_eq!(out, 11);
/// // the record wins over the new task value: resume-by-key
/// let again: i32 = Durable::new("one-off", ctx.clone(), Load(99), None).run_result(()).await?;
/// assert_eq!(again, 11);
/// # Ok(()) }
/// ```
pub struct Durable<T> {
    key: Arc<str>,
    version: u32,
    ctx: Arc<Context>,
    task: T,
    observers: Arc<Observers>,
    run: Option<Arc<RunState>>,
}

impl<T> Durable<T> {
    /// Wraps `task` so its output is stored under `key` in `ctx`'s store.
    pub fn new(key: &str, ctx: Arc<Context>, task: T, progress: Option<Progress>) -> Self {
        let mut observers = Observers::default();
        if let Some(progress) = progress {
            observers.push_progress(progress);
        }
        Self::observed(key, ctx, task, Arc::new(observers))
    }

    /// A wrapper reporting to `observers` (a `DurableDag`'s handlers).
    pub(crate) fn observed(
        key: &str,
        ctx: Arc<Context>,
        task: T,
        observers: Arc<Observers>,
    ) -> Self {
        Self {
            key: Arc::from(key),
            version: 0,
            ctx,
            task,
            observers,
            run: None,
        }
    }

    /// Sets the task version stored in the record (records of other versions are not reused).
    pub fn with_version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Attaches the run log of a `DurableDag`.
    pub(crate) fn in_run(mut self, run: Arc<RunState>) -> Self {
        self.run = Some(run);
        self
    }

    /// The run log this wrapper reports to, if any.
    pub(crate) fn run_state(&self) -> Option<Arc<RunState>> {
        self.run.clone()
    }
}

impl<T: dagx::Task> Durable<T>
where
    T::Output: Persistable,
{
    /// Runs the task durably with `input` and returns its output, or the error (persist
    /// failure, panic, ...) naming the key. The record is durable when this returns `Ok`.
    pub async fn run_result(self, input: T::Input) -> Result<T::Output, DuraflowError> {
        let store = Arc::clone(&self.ctx.db);
        let output = self
            .execute(move |task| async move { Ok(task.run(input).await) })
            .await?;
        off_runtime(&store, |s| s.flush())
            .await
            .map_err(|failed| DuraflowError::Persist {
                key: failed.key,
                source: failed.source,
            })?;
        Ok(output)
    }

    /// The one sequence: cache check → run → persist → notify. `run` runs the inner task
    /// and fails with a message only when its inputs could not be received.
    pub(crate) async fn execute<F, Fut>(self, run: F) -> Result<T::Output, DuraflowError>
    where
        F: FnOnce(T) -> Fut,
        Fut: Future<Output = Result<T::Output, String>>,
    {
        let key = Arc::clone(&self.key);
        let observers = Arc::clone(&self.observers);
        #[cfg(feature = "tracing")]
        let result = {
            use tracing::Instrument;
            let span = tracing::info_span!(
                "duraflow.task",
                key = %key,
                outcome = tracing::field::Empty,
            );
            let result = self.sequence(run).instrument(span.clone()).await;
            span.record(
                "outcome",
                match &result {
                    Ok(_) => "ok",
                    Err(_) => "failed",
                },
            );
            result
        };
        #[cfg(not(feature = "tracing"))]
        let result = self.sequence(run).await;
        if let Err(error) = &result {
            observers.emit(&Event::Failed { key: &key, error });
        }
        result
    }

    async fn sequence<F, Fut>(self, run: F) -> Result<T::Output, DuraflowError>
    where
        F: FnOnce(T) -> Fut,
        Fut: Future<Output = Result<T::Output, String>>,
    {
        let Durable {
            key,
            version,
            ctx,
            task,
            observers,
            run: state,
        } = self;
        check_key(&key)?;
        let total = state.as_ref().map(|s| s.total());
        observers.emit(&Event::Started { key: &key });

        let restored = |value: T::Output| {
            let completed = ctx.completed_count.fetch_add(1, Ordering::SeqCst) + 1;
            if let Some(state) = &state {
                state.restored();
            }
            #[cfg(feature = "tracing")]
            tracing::debug!(outcome = "restored", "restored from the store");
            observers.emit(&Event::Restored {
                key: &key,
                completed,
                total,
            });
            value
        };
        let miss = match lookup::<T::Output>(&ctx, state.as_deref(), &key, version).await? {
            Ok(value) => return Ok(restored(value)),
            Err(miss) => miss,
        };
        let coordinated = ctx.db.coordinates();
        if coordinated {
            if let Some(value) = claim::<T::Output>(&ctx, &key, version).await? {
                return Ok(restored(value));
            }
        }
        observers.emit(&Event::Missed {
            key: &key,
            reason: &miss,
        });

        let started = Instant::now();
        let ran = run_and_persist(&ctx, &key, version, run(task)).await;
        if coordinated && !matches!(ran, Ok((_, true))) {
            // Best effort: an unreleased claim expires with its lease.
            let owned = Arc::clone(&key);
            let _ = off_runtime(&ctx.db, move |s| s.release(&owned)).await;
        }
        let (output, persisted) = ran?;
        let elapsed = started.elapsed();

        let completed = ctx.completed_count.fetch_add(1, Ordering::SeqCst) + 1;
        #[cfg(feature = "tracing")]
        tracing::debug!(
            outcome = "executed",
            reason = %miss,
            elapsed_us = elapsed.as_micros() as u64,
            persisted,
            "executed"
        );
        observers.emit(&Event::Executed {
            key: &key,
            elapsed,
            completed,
            total,
        });
        if persisted {
            observers.emit(&Event::Persisted { key: &key });
        }
        if let Some(state) = &state {
            state.executed(&key, miss, persisted);
        }
        Ok(output)
    }
}

/// Runs the task (catching a panic) and hands its output to the store unless it is a
/// `Result::Err`. Returns the output and whether it was stored.
async fn run_and_persist<O: Persistable>(
    ctx: &Context,
    key: &Arc<str>,
    version: u32,
    run: impl Future<Output = Result<O, String>>,
) -> Result<(O, bool), DuraflowError> {
    let output = match AssertUnwindSafe(run).catch_unwind().await {
        Ok(Ok(output)) => output,
        Ok(Err(reason)) => {
            return Err(DuraflowError::InputUnavailable {
                key: key.to_string(),
                reason,
            })
        }
        Err(payload) => {
            return Err(DuraflowError::TaskPanicked {
                key: key.to_string(),
                message: panic_message(payload.as_ref()),
            })
        }
    };
    if outcome::is_failure(&output) {
        return Ok((output, false));
    }
    let record =
        codec::encode(&**key, &output, version, [0; 16]).map_err(|e| DuraflowError::Serialize {
            key: key.to_string(),
            reason: e.to_string(),
        })?;
    let put = if ctx.db.queues_writes() || !ctx.db.is_blocking() {
        ctx.db.put(key, record)
    } else {
        let owned = Arc::clone(key);
        off_runtime(&ctx.db, move |s| s.put(&owned, record)).await
    };
    put.map_err(|source| DuraflowError::Persist {
        key: key.to_string(),
        source,
    })?;
    Ok((output, true))
}

/// Claims `key` on a coordinating store; `Some(value)` when another worker stored it
/// meanwhile (a record this task cannot use counts as none: the task runs).
async fn claim<O: DeserializeOwned>(
    ctx: &Context,
    key: &Arc<str>,
    version: u32,
) -> Result<Option<O>, DuraflowError> {
    let owned = Arc::clone(key);
    let claim = off_runtime(&ctx.db, move |s| s.claim(&owned))
        .await
        .map_err(|source| DuraflowError::Load {
            key: key.to_string(),
            source,
        })?;
    Ok(match claim {
        Claim::Run => None,
        Claim::Restore(bytes) => codec::decode(key, &bytes, expect(version)).ok(),
    })
}

fn expect(version: u32) -> Expect {
    Expect {
        task_version: Some(version),
        input_fingerprint: None,
    }
}

/// The stored value for `key`, or why there is none usable.
async fn lookup<O: DeserializeOwned>(
    ctx: &Context,
    state: Option<&RunState>,
    key: &Arc<str>,
    version: u32,
) -> Result<Result<O, Miss>, DuraflowError> {
    let bytes = match state.and_then(|s| s.take_prefetched(key)) {
        Some(bytes) => bytes,
        None => {
            let owned = Arc::clone(key);
            off_runtime(&ctx.db, move |s| s.get(&owned))
                .await
                .map_err(|source| DuraflowError::Load {
                    key: key.to_string(),
                    source,
                })?
        }
    };
    Ok(match bytes {
        None => Err(Miss::NoRecord),
        Some(bytes) => codec::decode(key, &bytes, expect(version)),
    })
}

/// The message of a caught panic.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}
