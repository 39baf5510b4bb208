//! `Durable<T>`: the one wrapper that owns cache check → run → persist → notify.
//!
//! The builder ([`crate::DurableDag::add`]), the attribute (`#[durable]`) and the DSL
//! (`durable_dag!`) all produce a `Durable<T>`; the dagx glue and [`Durable::run_result`]
//! both call [`Durable::execute`].

use crate::codec::{self, Expect, Miss};
use crate::dag::RunState;
use crate::events::{Event, Observers};
use crate::fingerprint::Fingerprint;
use crate::glue::{InputTuple, Split};
use crate::inline::{self, RECORD_MAX};
use crate::key::{check_key, TaskKey};
use crate::options::{Cache, TaskOptions};
use crate::store::{off_runtime, Claim};
use crate::{outcome, Context, DuraflowError};
use futures::future::{self, Either, Ready};
use futures::FutureExt;
use serde::{de::DeserializeOwned, Serialize};
use std::cell::Cell;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{ready, Poll};
use std::time::{Duration, Instant};

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
    type Inputs: InputTuple;
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
    key: TaskKey,
    version: u32,
    /// Options other than [`TaskOptions::DEFAULT`] (kept apart: every task's wrapper, moved
    /// through dagx's node and futures, stays small).
    options: Option<Box<TaskOptions>>,
    task: T,
    /// How to receive inputs, fingerprint and clone: known for `#[durable]` tasks only.
    split: Option<fn() -> Split<T>>,
    /// The context, handlers and run log, shared with the other tasks of the `DurableDag`.
    shared: Arc<Shared>,
    /// Where this task was added in its `DurableDag`: its prefetched record's slot, and its
    /// key's place for the run report. Next to `version`, it takes no room of its own.
    index: u32,
}

/// What the tasks of one `DurableDag` share (one reference each, so a task that ends touches
/// one shared counter, not three).
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) ctx: Arc<Context>,
    pub(crate) observers: Observers,
    pub(crate) run: Option<Arc<RunState>>,
}

impl<T: dagx::Task> Durable<T> {
    /// Wraps `task` so its output is stored under `key` in `ctx`'s store.
    pub fn new(key: &str, ctx: Arc<Context>, task: T, progress: Option<Progress>) -> Self {
        let mut observers = Observers::default();
        if let Some(progress) = progress {
            observers.push_progress(progress);
        }
        let shared = Shared {
            ctx,
            observers,
            run: None,
        };
        Self::sharing(TaskKey::from(key), Arc::new(shared), task)
    }

    /// A wrapper of a `DurableDag`'s: its context, handlers and run log come in `shared`.
    pub(crate) fn sharing(key: TaskKey, shared: Arc<Shared>, task: T) -> Self {
        Self {
            key,
            version: 0,
            options: None,
            task,
            split: None,
            shared,
            index: 0,
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

    /// Notes that this task was added `index`-th to its `DurableDag`.
    pub(crate) fn at(mut self, index: u32) -> Self {
        self.index = index;
        self
    }

    /// How the glue may receive this task's inputs itself.
    pub(crate) fn split(&self) -> Option<Split<T>> {
        self.split.map(|split| split())
    }

    /// The task's options.
    fn options(&self) -> &TaskOptions {
        self.options.as_deref().unwrap_or(&TaskOptions::DEFAULT)
    }
}

impl<T: DurableTask> Durable<T> {
    /// Uses `options` (caching, retries, timeout), which `#[durable]` tasks can honour.
    pub(crate) fn with_options(mut self, options: TaskOptions) -> Self {
        self.options = (options != TaskOptions::DEFAULT).then(|| Box::new(options));
        self.split = Some(Split::of);
        self
    }
}

/// How a task's future ends with an error: given to its caller (a direct call), or, in a
/// DAG, kept in the run's log while dagx gets its message. Applied where the task ends, so
/// no wrapper future maps the result and holds the run state for it.
pub(crate) trait Report {
    /// The error the task's future gives.
    type Error;
    /// `result` as the task's future gives it.
    fn report<O>(result: Result<O, DuraflowError>, shared: &Shared) -> Result<O, Self::Error>;
}

/// The error goes to the caller as it is.
pub(crate) struct ToCaller;

impl Report for ToCaller {
    type Error = DuraflowError;

    fn report<O>(result: Result<O, DuraflowError>, _: &Shared) -> Result<O, DuraflowError> {
        result
    }
}

/// Why an attempt produced no output.
enum Failure {
    Panicked(String),
    TimedOut(Duration),
    InputUnavailable(String),
}

impl<T: dagx::Task> Durable<T>
where
    T::Output: Persistable,
{
    /// Runs the task durably with `input` and returns its output, or the error (persist
    /// failure, panic, ...) naming the key. The record is durable when this returns `Ok`.
    pub async fn run_result(self, input: T::Input) -> Result<T::Output, DuraflowError>
    where
        T: 'static,
        T::Input: Clone + 'static,
    {
        let store = Arc::clone(&self.shared.ctx.db);
        let output = self.execute::<ToCaller, _, _, _>(direct(input)).await?;
        off_runtime(&store, |s| s.flush())
            .await
            .map_err(|failed| DuraflowError::Persist {
                key: failed.key,
                source: failed.source,
            })?;
        Ok(output)
    }

    /// The one way a task runs durably: cache check → run (with retries) → persist → notify
    /// (see [`Durable::start`] for its three shapes).
    ///
    /// `prepare` yields the fingerprint parts of the inputs (when the glue receives them
    /// itself) and `start`, which starts one attempt and fails with a message only when the
    /// inputs could not be received. Built without `async fn` so that the arguments are
    /// held once, by the inner future: every task's future stays small.
    pub(crate) fn execute<R, P, F, Fut>(
        self,
        prepare: P,
    ) -> impl Future<Output = Result<T::Output, R::Error>>
    where
        R: Report,
        P: Future<Output = (Option<Fingerprint>, F)>,
        F: FnMut(T) -> Fut,
        Fut: Future<Output = Result<T::Output, String>>,
    {
        #[cfg(feature = "tracing")]
        let span = tracing::info_span!(
            "duraflow.task",
            key = %self.key,
            outcome = tracing::field::Empty,
            elapsed_us = tracing::field::Empty,
        );
        #[cfg(feature = "tracing")]
        let started = Instant::now();
        let task = {
            #[cfg(feature = "tracing")]
            let _entered = span.enter();
            self.start::<R, P, F, Fut>(prepare)
        };
        #[cfg(feature = "tracing")]
        let task = {
            use tracing::Instrument;
            task.instrument(span.clone()).map(move |result| {
                span.record("elapsed_us", started.elapsed().as_micros() as u64);
                span.record("outcome", if result.is_ok() { "ok" } else { "failed" });
                result
            })
        };
        task
    }

    /// Restores the task at once, runs it at once, or sets off the whole sequence.
    ///
    /// A record that can be read and decoded right away is restored without any sequence: a
    /// restored task costs no heap block and no state machine. A task that found none and
    /// has nothing to wait for but its attempt runs in [`Durable::run_now`]. Everything else
    /// (key checks that fail, fingerprints, blocking reads and writes, claims, retries, time
    /// limits) goes
    /// through [`Durable::sequence`], in one heap block: the wrappers around it (here, in the
    /// glue and in dagx) then move a pointer, not a kilobyte of future, at every level.
    fn start<R, P, F, Fut>(self, prepare: P) -> impl Future<Output = Result<T::Output, R::Error>>
    where
        R: Report,
        P: Future<Output = (Option<Fingerprint>, F)>,
        F: FnMut(T) -> Fut,
        Fut: Future<Output = Result<T::Output, String>>,
    {
        let missed = match self.look_up_now() {
            Now::Restored(value) => return Either::Left(future::ready(Ok(value))),
            Now::Failed(error) => {
                self.shared.observers.emit(&Event::Failed {
                    key: &self.key,
                    error: &error,
                });
                return Either::Left(future::ready(R::report(Err(error), &self.shared)));
            }
            Now::Missed(missed) => missed,
            Now::Later => {
                return Either::Right(Either::Right(Box::pin(
                    self.sequence::<R, P, F, Fut>(prepare, None),
                )))
            }
        };
        let ctx = &self.shared.ctx;
        let options = self.options();
        let retries = self.split.is_some() && options.retries > 0;
        if retries || options.timeout.is_some() || ctx.db.coordinates() || !puts_in_place(ctx) {
            return Either::Right(Either::Right(Box::pin(
                self.sequence::<R, P, F, Fut>(prepare, Some(missed)),
            )));
        }
        // A record that was unusable is kept only for a claim: not here.
        Either::Right(Either::Left(
            self.run_now::<R, P, F, Fut>(prepare, missed.miss),
        ))
    }

    /// The start of the sequence, when it needs no waiting: the key is checked, `Started`
    /// emitted, and the record read and decoded in place. Only for tasks cached by key (a
    /// fingerprint needs the inputs) and records that need no blocking read.
    fn look_up_now(&self) -> Now<T::Output> {
        let Shared {
            ctx,
            observers,
            run: state,
        } = &*self.shared;
        if self.options().cache == Cache::Inputs || check_key(&self.key).is_err() {
            return Now::Later;
        }
        let expect = Expect {
            task_version: Some(self.version),
            input_fingerprint: None,
        };
        let state = state.as_deref();
        let key = &self.key;
        let (miss, stale) = if state.is_some_and(|s| s.is_forced(key)) {
            (Miss::Forced, None)
        } else if state.is_some_and(RunState::found_an_empty_store) {
            (Miss::NoRecord, None)
        } else {
            match lookup_now::<T::Output>(ctx, state, self.index, key, expect) {
                Ok(Some(Found::Value(value))) => {
                    observers.emit(&Event::Started { key });
                    restored(ctx, state, observers, key, state.map(RunState::total));
                    return Now::Restored(value);
                }
                Ok(Some(Found::Miss(miss, stale))) => (miss, stale),
                Err(error) => {
                    observers.emit(&Event::Started { key });
                    return Now::Failed(error);
                }
                // A large record in an inline poll, or a blocking read: the sequence reads the
                // record again, where it may wait.
                Ok(Some(Found::Large) | None) => return Now::Later,
            }
        };
        observers.emit(&Event::Started { key });
        Now::Missed(Missed { miss, stale })
    }

    /// The sequence after `look_up_now`: `looked_up` holds what it found when it found no
    /// usable record, or is `None` when the lookup (and the key check) is left to this.
    async fn sequence<R, P, F, Fut>(
        self,
        prepare: P,
        looked_up: Option<Missed>,
    ) -> Result<T::Output, R::Error>
    where
        R: Report,
        P: Future<Output = (Option<Fingerprint>, F)>,
        F: FnMut(T) -> Fut,
        Fut: Future<Output = Result<T::Output, String>>,
    {
        // Fields are used in place, not moved into locals: the future holds them once.
        let Durable {
            ref key,
            version,
            ref options,
            task,
            split,
            ref shared,
            index,
        } = self;
        let options = options.as_deref().unwrap_or(&TaskOptions::DEFAULT);
        let Shared {
            ctx,
            observers,
            run: state,
        } = &**shared;
        // The steps borrow the fields above; a failure is reported once they are done.
        let result = async {
            let total = state.as_ref().map(|s| s.total());
            if looked_up.is_none() {
                check_key(key)?;
                observers.emit(&Event::Started { key });
            }
            if options.cache == Cache::Inputs {
                // Fingerprinting inputs (as large as they come) is no work for the spawning
                // thread: such tasks are looked up where the spawner runs them.
                inline::leave_inline().await;
            }
            let (inputs, mut start) = prepare.await;

            let fingerprint = match (options.cache, split.map(|split| split()), inputs) {
                (Cache::Inputs, Some(split), Some(inputs)) => {
                    let mut fields = Fingerprint::new();
                    (split.fingerprint_state)(&task, &mut fields)
                        .then(|| Fingerprint::finish(&fields, &inputs, version))
                }
                _ => None,
            };
            let expect = Expect {
                task_version: Some(version),
                input_fingerprint: fingerprint,
            };

            let (miss, stale) = match looked_up {
                Some(Missed { miss, stale }) => (miss, stale),
                None if state.as_ref().is_some_and(|s| s.is_forced(key)) => (Miss::Forced, None),
                // A record too large for an inline poll is read again where the task is spawned.
                None => loop {
                    match lookup::<T::Output>(ctx, state.as_deref(), index, key, expect).await? {
                        Found::Large => inline::leave_inline().await,
                        Found::Value(value) => {
                            restored(ctx, state.as_deref(), observers, key, total);
                            return Ok(value);
                        }
                        Found::Miss(miss, stale) => break (miss, stale),
                    }
                },
            };
            let forced = matches!(miss, Miss::Forced);
            // The task runs: not in an inline poll (see `inline`).
            inline::leave_inline().await;
            let coordinated = ctx.db.coordinates();
            if coordinated && !forced {
                // Boxed, as are the other rare paths below: the future of every task stays small.
                if let Some(value) = Box::pin(claim::<T::Output>(ctx, key, expect, stale)).await? {
                    restored(ctx, state.as_deref(), observers, key, total);
                    return Ok(value);
                }
            }
            observers.emit(&Event::Missed { key, reason: &miss });

            let started = clock(observers);
            let mut task = task;
            let mut attempt = 1;
            // The last attempt's result.
            let attempted = loop {
                let spare = match split.map(|split| split()) {
                    Some(split) if attempt <= options.retries => (split.clone)(&task),
                    _ => None,
                };
                let result = attempt_once(start(task), options.timeout).await;
                let failed_output = matches!(&result, Ok(output) if outcome::is_failure(output));
                let failure = match &result {
                    Ok(_) if failed_output => Some("it returned Err".to_owned()),
                    Ok(_) | Err(Failure::InputUnavailable(_)) => None,
                    Err(Failure::Panicked(message)) => Some(format!("it panicked: {message}")),
                    Err(Failure::TimedOut(after)) => Some(format!("it timed out after {after:?}")),
                };
                match (failure, spare) {
                    (Some(error), Some(spare)) => {
                        observers.emit(&Event::Retrying {
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
            let outcome = match settle(key, attempted, attempt) {
                Ok((output, true)) => persist(ctx, key, version, fingerprint, output)
                    .await
                    .map(|output| (output, true)),
                settled => settled,
            };
            if coordinated && !matches!(outcome, Ok((_, true))) {
                // Best effort: an unreleased claim expires with its lease.
                let owned = key.clone();
                let _ = Box::pin(off_runtime(&ctx.db, move |s| s.release(&owned))).await;
            }
            let (output, persisted) = outcome?;
            executed(shared, index, key, miss, persisted, attempt, started);
            Ok(output)
        }
        .await;
        if let Err(error) = &result {
            observers.emit(&Event::Failed { key, error });
        }
        R::report(result, shared)
    }

    /// The sequence of a task that found no usable record, runs once, without a time limit,
    /// and is stored where it runs: no retries, no claim, no blocking write. Small enough to
    /// need no heap block.
    fn run_now<R, P, F, Fut>(self, prepare: P, miss: Miss) -> RunNow<T, P, F, Fut, R>
    where
        R: Report,
        P: Future<Output = (Option<Fingerprint>, F)>,
        F: FnMut(T) -> Fut,
        Fut: Future<Output = Result<T::Output, String>>,
    {
        let Durable {
            key,
            version,
            task,
            shared,
            index,
            ..
        } = self;
        RunNow {
            key,
            version,
            index,
            shared,
            reason: Reason::of(miss),
            started: None,
            stage: Stage::Preparing {
                prepare,
                task: Some(task),
            },
            _types: std::marker::PhantomData,
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Durable::run_now`], written out: one poll function where combinators
    /// (`map`, `Either`, `catch_unwind`) would nest five, each moving the output once more.
    struct RunNow<T, P, F, Fut, R> {
        key: TaskKey,
        version: u32,
        index: u32,
        shared: Arc<Shared>,
        // Taken when the task is done.
        reason: Reason,
        started: Option<Instant>,
        #[pin]
        stage: Stage<T, P, Fut>,
        // Only the closure's type (it is called once, then dropped) and how to report.
        _types: std::marker::PhantomData<fn() -> (F, R)>,
    }
}

/// Why a task runs, kept until it is done: the usual reason, no record, costs nothing, any
/// other a box, so that every task's future stays small.
struct Reason(Option<Box<Miss>>);

impl Reason {
    fn of(miss: Miss) -> Self {
        match miss {
            Miss::NoRecord => Reason(None),
            miss => Reason(Some(Box::new(miss))),
        }
    }

    fn miss(&self) -> &Miss {
        const NO_RECORD: &Miss = &Miss::NoRecord;
        self.0.as_deref().unwrap_or(NO_RECORD)
    }

    fn into_miss(self) -> Miss {
        self.0.map_or(Miss::NoRecord, |miss| *miss)
    }
}

pin_project_lite::pin_project! {
    /// Where a [`RunNow`] is.
    #[project = StageNow]
    enum Stage<T, P, Fut> {
        /// Receiving the inputs (and leaving an inline poll first).
        Preparing { #[pin] prepare: P, task: Option<T> },
        /// The one attempt.
        Running { #[pin] attempt: Fut },
        Done,
    }
}

impl<T, P, F, Fut, R> Future for RunNow<T, P, F, Fut, R>
where
    T: dagx::Task,
    T::Output: Persistable,
    R: Report,
    P: Future<Output = (Option<Fingerprint>, F)>,
    F: FnMut(T) -> Fut,
    Fut: Future<Output = Result<T::Output, String>>,
{
    type Output = Result<T::Output, R::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let StageNow::Preparing { prepare, task } = this.stage.as_mut().project() {
            // The task runs: not in an inline poll (see `inline`).
            if inline::is_inline() {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            let (_, mut start) = ready!(prepare.poll(cx));
            let task = task.take().expect("a task is started once");
            let observers = &this.shared.observers;
            observers.emit(&Event::Missed {
                key: this.key,
                reason: this.reason.miss(),
            });
            *this.started = clock(observers);
            let attempt = start(task);
            this.stage.set(Stage::Running { attempt });
        }
        let StageNow::Running { attempt } = this.stage.as_mut().project() else {
            panic!("`RunNow` polled after it was done");
        };
        let attempted = match std::panic::catch_unwind(AssertUnwindSafe(|| attempt.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(ended)) => failure_of(Ok(ended)),
            Err(payload) => failure_of(Err(payload)),
        };
        this.stage.set(Stage::Done);
        let (key, shared) = (&*this.key, &**this.shared);
        let miss = std::mem::replace(this.reason, Reason(None)).into_miss();
        let result = settle(key, attempted, 1).and_then(|(output, persists)| {
            let output = match persists {
                true => persist_now(&shared.ctx, key, *this.version, None, output)?,
                false => output,
            };
            executed(shared, *this.index, key, miss, persists, 1, *this.started);
            Ok(output)
        });
        if let Err(error) = &result {
            shared.observers.emit(&Event::Failed { key, error });
        }
        Poll::Ready(R::report(result, shared))
    }
}

/// The clock at a task's start, read only for someone who looks at `elapsed`.
fn clock(observers: &Observers) -> Option<Instant> {
    (cfg!(feature = "tracing") || !observers.is_empty()).then(Instant::now)
}

/// The output of a task's last attempt, and whether to store it (not a `Result::Err`,
/// which the next run retries); or the error of its failure.
fn settle<O: Persistable>(
    key: &str,
    attempted: Result<O, Failure>,
    attempts: u32,
) -> Result<(O, bool), DuraflowError> {
    match attempted {
        Ok(output) => {
            let persists = !outcome::is_failure(&output);
            Ok((output, persists))
        }
        Err(failure) => Err(failure_error(key, failure, attempts)),
    }
}

/// Counts, reports and logs a task that ran.
fn executed(
    shared: &Shared,
    index: u32,
    key: &TaskKey,
    miss: Miss,
    persisted: bool,
    attempts: u32,
    started: Option<Instant>,
) {
    let Shared {
        ctx,
        observers,
        run: state,
    } = shared;
    let elapsed = started.map(|started| started.elapsed()).unwrap_or_default();
    let completed = ctx.completed_count.fetch_add(1, Ordering::SeqCst) + 1;
    #[cfg(feature = "tracing")]
    tracing::debug!(
        outcome = "executed",
        reason = %miss,
        elapsed_us = elapsed.as_micros() as u64,
        attempts,
        persisted,
        "executed"
    );
    observers.emit(&Event::Executed {
        key,
        elapsed,
        completed,
        total: state.as_ref().map(|s| s.total()),
    });
    if persisted {
        observers.emit(&Event::Persisted { key });
    }
    if let Some(state) = state {
        state.executed(index, miss, persisted, attempts);
    }
}

/// Counts and reports a task whose output came from the store.
fn restored(
    ctx: &Context,
    state: Option<&RunState>,
    observers: &Observers,
    key: &str,
    total: Option<usize>,
) {
    let completed = ctx.completed_count.fetch_add(1, Ordering::SeqCst) + 1;
    if let Some(state) = state {
        state.restored(completed);
    }
    #[cfg(feature = "tracing")]
    tracing::debug!(outcome = "restored", "restored from the store");
    observers.emit(&Event::Restored {
        key,
        completed,
        total,
    });
}

/// The preparation of a direct call (`run_result`, `Task::run`): no fingerprint; each attempt
/// runs the task with a clone of `input`.
pub(crate) fn direct<T: dagx::Task + 'static>(
    input: T::Input,
) -> Prepared<impl FnMut(T) -> BoxedAttempt<T::Output>>
where
    T::Input: Clone + 'static,
{
    future::ready((None, move |task: T| -> BoxedAttempt<T::Output> {
        let input = input.clone();
        Box::pin(async move { Ok(task.run(input).await) })
    }))
}

/// What `Durable::execute` is given when nothing needs receiving: no fingerprint, and how to
/// start an attempt.
pub(crate) type Prepared<F> = Ready<(Option<Fingerprint>, F)>;

/// One attempt of a direct call.
pub(crate) type BoxedAttempt<O> = futures::future::BoxFuture<'static, Result<O, String>>;

/// Runs one attempt, catching a panic and enforcing the timeout. Built from combinators, not
/// `async`, so the attempt's future is held once (see `Durable::execute`).
fn attempt_once<O>(
    attempt: impl Future<Output = Result<O, String>>,
    timeout: Option<Duration>,
) -> impl Future<Output = Result<O, Failure>> {
    let guarded = AssertUnwindSafe(attempt).catch_unwind();
    let caught = match timeout {
        None => Either::Left(guarded.map(Ok)),
        Some(limit) => Either::Right(
            Box::pin(tokio::time::timeout(limit, guarded))
                .map(move |outcome| outcome.map_err(|_| Failure::TimedOut(limit))),
        ),
    };
    caught.map(|caught| failure_of(caught?))
}

/// What an attempt that ended (`Ok`) or panicked (`Err`, the payload) produced.
fn failure_of<O>(
    ended: Result<Result<O, String>, Box<dyn std::any::Any + Send>>,
) -> Result<O, Failure> {
    match ended {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(reason)) => Err(Failure::InputUnavailable(reason)),
        Err(payload) => Err(Failure::Panicked(panic_message(payload.as_ref()))),
    }
}

/// The error for the last failed attempt, with the attempt count when there were several.
fn failure_error(key: &str, failure: Failure, attempts: u32) -> DuraflowError {
    let key = key.to_owned();
    match failure {
        Failure::InputUnavailable(reason) => DuraflowError::InputUnavailable { key, reason },
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

/// Encodes `output` as a record and hands it to the store.
async fn persist<O: Persistable>(
    ctx: &Context,
    key: &TaskKey,
    version: u32,
    fingerprint: Option<[u8; 16]>,
    output: O,
) -> Result<O, DuraflowError> {
    if puts_in_place(ctx) {
        return persist_now(ctx, key, version, fingerprint, output);
    }
    let record = record_of(key, &output, version, fingerprint)?;
    let owned = key.clone();
    Box::pin(off_runtime(&ctx.db, move |s| s.put(&owned, record)))
        .await
        .map_err(|source| persist_error(key, source))?;
    Ok(output)
}

/// [`persist`] on a store whose `put` does not block (see [`puts_in_place`]). The record is
/// encoded into a buffer the thread keeps: a store that copies records (`MemoryStore`)
/// leaves it there for the next record, one that queues them takes it.
fn persist_now<O: Persistable>(
    ctx: &Context,
    key: &TaskKey,
    version: u32,
    fingerprint: Option<[u8; 16]>,
    output: O,
) -> Result<O, DuraflowError> {
    thread_local! {
        static BUFFER: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    }
    // Taken, not borrowed: a `Serialize` impl that stores something itself finds an empty one.
    let mut buffer = BUFFER.take();
    let stored = codec::encode_into(
        &mut buffer,
        key,
        &output,
        version,
        fingerprint.unwrap_or([0; 16]),
    )
    .map_err(|error| serialize_error(key, error))
    .and_then(|()| {
        ctx.db
            .put_shared(key, &mut buffer)
            .map_err(|source| persist_error(key, source))
    });
    if buffer.capacity() <= KEPT_BUFFER_MAX {
        BUFFER.set(buffer);
    }
    stored.map(|()| output)
}

/// The largest encoding buffer a thread keeps for the next record.
const KEPT_BUFFER_MAX: usize = 64 * 1024;

/// Whether the store's `put` may be called where the task runs: it only queues the record,
/// or does not block.
fn puts_in_place(ctx: &Context) -> bool {
    ctx.db.queues_writes() || !ctx.db.is_blocking()
}

/// `output` as a record.
fn record_of<O: Persistable>(
    key: &str,
    output: &O,
    version: u32,
    fingerprint: Option<[u8; 16]>,
) -> Result<Vec<u8>, DuraflowError> {
    codec::encode(key, output, version, fingerprint.unwrap_or([0; 16]))
        .map_err(|error| serialize_error(key, error))
}

/// The error of an output that could not be encoded.
fn serialize_error(key: &str, error: postcard::Error) -> DuraflowError {
    DuraflowError::Serialize {
        key: key.to_string(),
        reason: error.to_string(),
    }
}

/// The error of a store that failed to take `key`'s record.
fn persist_error(key: &str, source: std::io::Error) -> DuraflowError {
    DuraflowError::Persist {
        key: key.to_owned(),
        source,
    }
}

/// Claims `key` on a coordinating store; `Some(value)` when another worker stored it
/// meanwhile (a record this task cannot use counts as none: the task runs).
async fn claim<O: DeserializeOwned>(
    ctx: &Context,
    key: &TaskKey,
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
        Claim::Restore(bytes) => codec::decode(key, &bytes, expect).ok(),
    })
}

/// What a lookup found.
enum Found<O> {
    /// A usable record's value.
    Value(O),
    /// Why there is none, and the unusable record's bytes if the store returned them.
    Miss(Miss, Option<Vec<u8>>),
    /// In an inline poll: a record too large to decode there (see `inline::RECORD_MAX`).
    Large,
}

/// What `Durable::look_up_now` found.
enum Now<O> {
    /// The stored value: the task is restored.
    Restored(O),
    /// No usable record: the task runs.
    Missed(Missed),
    /// The store failed to read the record.
    Failed(DuraflowError),
    /// Nothing yet: the sequence checks the key and reads the record itself.
    Later,
}

/// Why a task found no usable record, and that record's bytes if they were kept.
struct Missed {
    miss: Miss,
    stale: Option<Vec<u8>>,
}

/// The stored value for `key`, or why there is none usable.
async fn lookup<O: DeserializeOwned>(
    ctx: &Context,
    state: Option<&RunState>,
    index: u32,
    key: &TaskKey,
    expect: Expect,
) -> Result<Found<O>, DuraflowError> {
    if let Some(found) = lookup_now(ctx, state, index, key, expect)? {
        return Ok(found);
    }
    let owned = key.clone();
    let bytes = Box::pin(off_runtime(&ctx.db, move |s| s.get(&owned)))
        .await
        .map_err(|source| load_error(key, source))?;
    Ok(found(key, expect, bytes.as_deref()))
}

/// What a lookup finds without waiting: in the records prefetched for the run, or in a store
/// that does not block. `None` when the record must be read off the runtime.
fn lookup_now<O: DeserializeOwned>(
    ctx: &Context,
    state: Option<&RunState>,
    index: u32,
    key: &TaskKey,
    expect: Expect,
) -> Result<Option<Found<O>>, DuraflowError> {
    let prefetched =
        state.and_then(|s| s.with_prefetched(index, |bytes| found(key, expect, bytes)));
    if prefetched.is_some() || ctx.db.is_blocking() {
        return Ok(prefetched);
    }
    // A store that does not block is read in place, without copying the record.
    let mut decoded = Err(Miss::NoRecord);
    let mut deferred = false;
    ctx.db
        .read_with(key, &mut |bytes| {
            deferred = too_large_here(bytes);
            if !deferred {
                decoded = decode(key, expect, bytes);
            }
        })
        .map_err(|source| load_error(key, source))?;
    Ok(Some(match decoded {
        _ if deferred => Found::Large,
        Ok(value) => Found::Value(value),
        Err(miss) => Found::Miss(miss, None),
    }))
}

/// What a record's bytes (`None`: no record) hold for a lookup. The unusable record's bytes
/// are kept (copied) only for a claim, which compares them.
fn found<O: DeserializeOwned>(key: &str, expect: Expect, bytes: Option<&[u8]>) -> Found<O> {
    if too_large_here(bytes) {
        return Found::Large;
    }
    match decode(key, expect, bytes) {
        Ok(value) => Found::Value(value),
        Err(miss) => Found::Miss(miss, bytes.map(<[u8]>::to_vec)),
    }
}

/// The value of a record, or why it has none usable.
fn decode<O: DeserializeOwned>(key: &str, expect: Expect, bytes: Option<&[u8]>) -> Result<O, Miss> {
    match bytes {
        None => Err(Miss::NoRecord),
        Some(bytes) => codec::decode(key, bytes, expect),
    }
}

/// Whether a record is too large to decode in an inline poll (see `inline::RECORD_MAX`).
fn too_large_here(bytes: Option<&[u8]>) -> bool {
    bytes.is_some_and(|bytes| bytes.len() > RECORD_MAX) && inline::is_inline()
}

/// The error of a store that failed to read `key`'s record.
fn load_error(key: &str, source: std::io::Error) -> DuraflowError {
    DuraflowError::Load {
        key: key.to_owned(),
        source,
    }
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
