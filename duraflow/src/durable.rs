//! `Durable<T>`: the one wrapper that owns key check → lookup → claim → attempts → persist →
//! events, as one `async fn` (`Spec::steps`, started by [`Durable::execute`], which reports
//! a failure).
//!
//! The builder ([`crate::DurableDag::add`]), the attribute (`#[durable]`) and the DSL
//! (`durable_dag!`) all produce a `Durable<T>`; the dagx glue and [`Durable::run_result`]
//! both call `execute`.

use crate::attempt::{attempt_once, claim, failure_error, Failure};
use crate::codec::{Expect, Miss, Stamp};
use crate::events::{Event, Progress};
use crate::fingerprint::Fingerprint;
use crate::key::{check_key, TaskKey};
use crate::options::{Cache, TaskOptions};
use crate::report::Outcome;
use crate::run_state::{RunState, Start};
pub(crate) use crate::shared::Shared;
use crate::shared::{executed, failed_output, restored, Ran};
use crate::store::off_runtime;
use crate::storing::{Persistable, Storing};
use crate::{Context, DuraflowError};
use futures::future::BoxFuture;
use std::any::Any;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

/// The inputs of a task as the executor hands them over. Opaque here: only the dagx glue
/// knows what is inside.
#[doc(hidden)]
pub type ErasedInputs = Box<dyn Any + Send>;

/// A task type with a compile-time key, implemented by `#[durable(key = "...")]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no durable key",
    label = "this task is not declared with #[durable(key = \"...\")]",
    note = "add #[durable(key = \"...\")] to the task's impl block, or give the node an explicit key: `name @ \"key\" = ...`"
)]
pub trait DurableTask: dagx::Task + Sized {
    /// Stored in each record; a record written by another version is not reused.
    const VERSION: u32 = 0;
    /// Caching, retries and timeout from the attribute.
    const OPTIONS: TaskOptions = TaskOptions::DEFAULT;
    /// The key of this instance (templates filled in).
    fn key(&self) -> String;

    /// The inputs of `run` as a tuple, received by duraflow itself (for fingerprints and
    /// retries).
    #[doc(hidden)]
    type Inputs: Send + 'static;
    /// Receives the inputs from what the executor hands over.
    #[doc(hidden)]
    fn __receive(inputs: ErasedInputs) -> BoxFuture<'static, Result<Self::Inputs, String>>;
    /// dagx's input from the tuple.
    #[doc(hidden)]
    fn __input(inputs: Self::Inputs) -> Self::Input;
    /// Adds each input to `fingerprint`; false if one cannot be serialized.
    #[doc(hidden)]
    fn __fingerprint_inputs(inputs: &Self::Inputs, fingerprint: &mut Fingerprint) -> bool;
    /// Adds the task's fields to `fingerprint`; false if the task is not `Serialize`.
    #[doc(hidden)]
    fn __fingerprint_state(&self, fingerprint: &mut Fingerprint) -> bool;
    /// A copy for another attempt; `None` if the task is not `Clone`.
    #[doc(hidden)]
    fn __clone(&self) -> Option<Self>;
    /// How the output is stored (only the `Ok` of a `Result`).
    #[doc(hidden)]
    fn __storing() -> Storing<Self::Output>;
}

/// The inputs of a task as received for it, with their fingerprint (`None` when one input
/// cannot be serialized).
pub(crate) type Received<T> = Result<(<T as dagx::Task>::Input, Option<Fingerprint>), String>;

/// Receives a task's inputs from what the executor hands over.
pub(crate) type Receive<T> = fn(ErasedInputs) -> BoxFuture<'static, Received<T>>;

/// What a `#[durable]` task lets duraflow do beyond running it: receive its inputs itself,
/// fingerprint its fields, copy it for another attempt.
pub(crate) struct Abilities<T: dagx::Task> {
    pub(crate) receive: Receive<T>,
    fingerprint_state: fn(&T, &mut Fingerprint) -> bool,
    clone: fn(&T) -> Option<T>,
}

impl<T: DurableTask> Abilities<T> {
    fn of() -> Self {
        Abilities {
            receive: |inputs| {
                Box::pin(async move {
                    let inputs = T::__receive(inputs).await?;
                    let mut fingerprint = Fingerprint::new();
                    let complete = T::__fingerprint_inputs(&inputs, &mut fingerprint);
                    Ok((T::__input(inputs), complete.then_some(fingerprint)))
                })
            },
            fingerprint_state: T::__fingerprint_state,
            clone: T::__clone,
        }
    }
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
pub struct Durable<T: dagx::Task> {
    spec: Spec<T::Output>,
    task: T,
    /// Known for `#[durable]` tasks only.
    abilities: Option<Abilities<T>>,
}

/// What the wrapper knows of its task besides the task itself: the key, the versions and
/// options its record is checked against, how its output is stored, and what the tasks of
/// its DAG share.
struct Spec<O> {
    key: TaskKey,
    version: u32,
    options: TaskOptions,
    storing: Storing<O>,
    shared: Arc<Shared>,
}

impl<T: dagx::Task> Durable<T>
where
    T::Output: Persistable,
{
    /// Wraps `task` so its output is stored under `key` in `ctx`'s store.
    pub fn new(key: &str, ctx: Arc<Context>, task: T, progress: Option<Progress>) -> Self {
        let shared = Shared::new(ctx, None);
        if let Some(progress) = progress {
            shared.observe(|observers| observers.push_progress(progress));
        }
        Self::sharing(TaskKey::from(key), Arc::new(shared), task, Storing::whole())
    }
}

impl<T: dagx::Task> Durable<T> {
    /// A wrapper of a `DurableDag`'s: its context, handlers and run state come in `shared`.
    pub(crate) fn sharing(
        key: TaskKey,
        shared: Arc<Shared>,
        task: T,
        storing: Storing<T::Output>,
    ) -> Self {
        Self {
            spec: Spec {
                key,
                version: 0,
                options: TaskOptions::DEFAULT,
                storing,
                shared,
            },
            task,
            abilities: None,
        }
    }

    /// Sets the task version stored in the record (records of other versions are not reused).
    pub fn with_version(mut self, version: u32) -> Self {
        self.spec.version = version;
        self
    }

    /// Sets the schema version stored in the record: bump it when the meaning of the output
    /// changes but not its serde shape (records of other schema versions are not reused).
    pub fn with_schema(mut self, schema: u32) -> Self {
        self.spec.options.schema = schema;
        self
    }

    /// Sets how long after it was written a record is restored: an older one is not, the
    /// task runs again ([`Miss::Expired`]).
    pub fn with_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.spec.options.ttl = Some(ttl);
        self
    }

    /// The ttl of its records, if any.
    pub(crate) fn ttl(&self) -> Option<std::time::Duration> {
        self.spec.options.ttl
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.spec.key
    }

    /// How to receive this task's inputs, when duraflow receives them itself.
    pub(crate) fn receive(&self) -> Option<Receive<T>> {
        self.abilities.as_ref().map(|abilities| abilities.receive)
    }

    /// What the tasks of its DAG share.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.spec.shared
    }
}

impl<T: DurableTask> Durable<T> {
    /// Uses `options` (caching, retries, timeout), which `#[durable]` tasks can honour.
    pub(crate) fn with_options(mut self, options: TaskOptions) -> Self {
        self.spec.options = options;
        self.abilities = Some(Abilities::of());
        self
    }
}

impl<T: dagx::Task> Durable<T>
where
    T::Output: 'static,
{
    /// Runs the task durably with `input` and returns its output, or the error (persist
    /// failure, panic, ...) naming the key. The record is durable when this returns `Ok`.
    pub async fn run_result(self, input: T::Input) -> Result<T::Output, DuraflowError>
    where
        T::Input: Clone,
    {
        let store = Arc::clone(&self.spec.shared.ctx.db);
        // A sweep of this process leaves the record alone until it is durable.
        let keys = Arc::new(parking_lot::Mutex::new(
            [self.spec.key.clone()].into_iter().collect(),
        ));
        let _in_use = crate::in_use::register(&keys);
        let output = self.execute_direct(input).await?;
        off_runtime(&store, |s| s.flush())
            .await
            .map_err(|failed| DuraflowError::Persist {
                key: failed.key,
                source: failed.source,
            })?;
        Ok(output)
    }

    /// Runs the task durably with a clone of `input` for each attempt (a direct call, or
    /// dagx's `Task::run`).
    pub(crate) async fn execute_direct(self, input: T::Input) -> Result<T::Output, DuraflowError>
    where
        T::Input: Clone,
    {
        let start = move |task: T| {
            let input = input.clone();
            async move { Ok(task.run(input).await) }
        };
        self.execute(std::future::ready((None, start))).await
    }

    /// The one way a task runs durably. `prepare` receives the inputs and yields their
    /// fingerprint and `start`, which starts one attempt (and fails with a message only when
    /// the inputs could not be received).
    pub(crate) fn execute<P, F, Fut>(
        self,
        prepare: P,
    ) -> impl Future<Output = Result<T::Output, DuraflowError>>
    where
        P: Future<Output = (Option<Fingerprint>, F)>,
        F: FnMut(T) -> Fut,
        Fut: Future<Output = Result<T::Output, String>>,
    {
        let began = Instant::now();
        let Durable {
            spec,
            task,
            abilities,
        } = self;
        // An `async` block, not an `async fn`: it holds the wrapper's parts once, where an
        // `async fn` would keep its arguments beside them.
        async move {
            #[cfg(not(feature = "tracing"))]
            let result = spec.steps(task, abilities.as_ref(), prepare, began).await;
            #[cfg(feature = "tracing")]
            let result = {
                let span = tracing::info_span!(
                    "duraflow.task",
                    key = %spec.key,
                    outcome = tracing::field::Empty,
                    elapsed_us = tracing::field::Empty,
                );
                let steps = spec.steps(task, abilities.as_ref(), prepare, began);
                let result = tracing::Instrument::instrument(steps, span.clone()).await;
                span.record("elapsed_us", began.elapsed().as_micros() as u64);
                span.record("outcome", if result.is_ok() { "ok" } else { "failed" });
                result
            };
            if let Err(error) = &result {
                spec.failed(error, began);
            }
            result
        }
    }
}

impl<O: 'static> Spec<O> {
    /// Key check → lookup → claim → attempts → persist, and the events of each step; a
    /// failure is reported by the caller ([`Spec::failed`]).
    async fn steps<T, P, F, Fut>(
        &self,
        mut task: T,
        abilities: Option<&Abilities<T>>,
        prepare: P,
        began: Instant,
    ) -> Result<O, DuraflowError>
    where
        T: dagx::Task<Output = O>,
        P: Future<Output = (Option<Fingerprint>, F)>,
        F: FnMut(T) -> Fut,
        Fut: Future<Output = Result<O, String>>,
    {
        let (key, shared, options) = (&self.key, &*self.shared, &self.options);
        check_key(key)?;
        shared.emit(&Event::Started { key });

        // Resume by key needs no inputs to restore a task; `cache = inputs` needs them first.
        let mut prepare = Some(prepare);
        let mut prepared = None;
        let mut input_fingerprint = None;
        if let (Cache::Inputs, Some(abilities)) = (options.cache, abilities) {
            let (inputs, start) = prepare.take().expect("prepared once").await;
            if let Some(inputs) = &inputs {
                let mut fields = Fingerprint::new();
                input_fingerprint = (abilities.fingerprint_state)(&task, &mut fields)
                    .then(|| Fingerprint::finish(&fields, inputs, self.version));
            }
            prepared = Some((inputs, start));
        }
        let expect = Expect {
            schema_version: options.schema,
            task_version: Some(self.version),
            input_fingerprint,
            ttl: options.ttl,
        };

        let start = shared
            .run
            .as_ref()
            .map_or(Start::Read, |run| run.begin(key));
        let record = match start {
            Start::Forced => None,
            Start::Prefetched(record) => Some(record),
            Start::Read => Some(self.read().await?),
        };
        let (miss, stale) = match record {
            None => (Miss::Forced, None),
            Some(None) => (Miss::NoRecord, None),
            Some(Some(bytes)) => match (self.storing.decode)(key, bytes, expect) {
                Ok(value) => return Ok(restored(shared, key, value, began)),
                Err((miss, bytes)) => (miss, Some(bytes)),
            },
        };
        let ctx = &shared.ctx;
        let coordinated = ctx.db.coordinates();
        if coordinated && miss != Miss::Forced {
            // Boxed, as the other rare steps below: they stay out of every task's future.
            let claimed = Box::pin(claim(ctx, key, self.storing, expect, stale)).await?;
            if let Some(value) = claimed {
                return Ok(restored(shared, key, value, began));
            }
        }
        shared.emit(&Event::Missed { key, reason: &miss });

        let (_, mut start) = match prepared {
            Some(prepared) => prepared,
            None => prepare.take().expect("prepared once").await,
        };
        let started = Instant::now();
        let mut attempt = 1;
        let attempted = loop {
            let spare = match abilities {
                Some(abilities) if attempt <= options.retries => (abilities.clone)(&task),
                _ => None,
            };
            // Boxed: the task's own future stays out of the wrapper's, which then fits in one
            // allocation below glibc's large requests (1,008 bytes) whatever the task is.
            let result = Box::pin(attempt_once(start(task), options.timeout)).await;
            let failure = match &result {
                Ok(output) => {
                    (self.storing.failure)(output).map(|error| format!("it returned Err: {error}"))
                }
                Err(Failure::InputUnavailable(_)) => None,
                Err(Failure::Panicked(message)) => Some(format!("it panicked: {message}")),
                Err(Failure::TimedOut(after)) => Some(format!("it timed out after {after:?}")),
            };
            match (failure, spare) {
                (Some(error), Some(spare)) => {
                    shared.emit(&Event::Retrying {
                        key,
                        attempt,
                        error: &error,
                    });
                    Box::pin(tokio::time::sleep(options.pause_before(attempt, key))).await;
                    task = spare;
                    attempt += 1;
                }
                _ => break result,
            }
        };

        let stamp = Stamp {
            task_version: self.version,
            schema_version: options.schema,
            input_fingerprint: input_fingerprint.unwrap_or_default(),
        };
        let persisted = match attempted {
            Ok(output) => match (self.storing.failure)(&output) {
                None => self.persist(stamp, &output).map(|()| (output, true)),
                Some(message) => {
                    failed_output(shared, key, message);
                    Ok((output, false))
                }
            },
            Err(failure) => Err(failure_error(key, failure, attempt, || {
                let lost = shared.run.as_ref().map(RunState::lost).unwrap_or_default();
                lost.iter().map(ToString::to_string).collect()
            })),
        };
        if coordinated && !matches!(persisted, Ok((_, true))) {
            // Best effort: an unreleased claim expires with its lease.
            let owned = key.clone();
            let _ = Box::pin(off_runtime(&ctx.db, move |s| s.release(&owned))).await;
        }
        let (output, persisted) = persisted?;
        let ran = Ran {
            reason: miss,
            persisted,
            attempts: attempt,
            elapsed: started.elapsed(),
        };
        executed(shared, key, ran, began);
        Ok(output)
    }

    /// Reports a task that ended without an output.
    fn failed(&self, error: &DuraflowError, began: Instant) {
        let key = &self.key;
        self.shared.emit(&Event::Failed { key, error });
        if let Some(run) = &self.shared.run {
            let outcome = match error {
                DuraflowError::InputUnavailable { .. } => Outcome::Skipped,
                _ => Outcome::Failed,
            };
            run.ended(key, outcome, began, None);
        }
    }

    /// Reads the task's record from the store.
    async fn read(&self) -> Result<Option<Vec<u8>>, DuraflowError> {
        let owned = self.key.clone();
        off_runtime(&self.shared.ctx.db, move |s| s.get(&owned))
            .await
            .map_err(|source| DuraflowError::Load {
                key: self.key.to_string(),
                source,
            })
    }

    /// Encodes `output` as a record and hands it to the store (whose `put` does not block).
    fn persist(&self, stamp: Stamp, output: &O) -> Result<(), DuraflowError> {
        let key = &*self.key;
        let record = (self.storing.encode)(key, output, stamp).map_err(|error| {
            DuraflowError::Serialize {
                key: key.to_owned(),
                reason: error.to_string(),
            }
        })?;
        self.shared
            .ctx
            .db
            .put(key, record)
            .map_err(|source| DuraflowError::Persist {
                key: key.to_owned(),
                source,
            })
    }
}
