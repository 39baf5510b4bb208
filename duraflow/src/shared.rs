//! What the tasks of one `DurableDag` share (the context, the handlers, the run state), and
//! how a task's end is counted, reported to the handlers and logged for the run's report:
//! each in one place.

use crate::events::{Event, Observers};
use crate::key::TaskKey;
use crate::report::{Outcome, TaskRun};
use crate::run_state::RunState;
use crate::{Context, DuraflowError, Miss};
use parking_lot::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the tasks of one `DurableDag` share: the context, the handlers (added before or
/// after the tasks, they reach every task) and, in a DAG, the state of its run.
pub(crate) struct Shared {
    pub(crate) ctx: Arc<Context>,
    observers: RwLock<Observers>,
    /// Whether a handler was added: until then events reach no one and take no lock.
    observed: AtomicBool,
    pub(crate) run: Option<RunState>,
}

impl Shared {
    pub(crate) fn new(ctx: Arc<Context>, run: Option<RunState>) -> Self {
        Shared {
            ctx,
            observers: RwLock::default(),
            observed: AtomicBool::new(false),
            run,
        }
    }

    /// Adds handlers (`add` gets the list): they reach every task of every later run.
    pub(crate) fn observe(&self, add: impl FnOnce(&mut Observers)) {
        add(&mut self.observers.write());
        self.observed.store(true, Ordering::Release);
    }

    pub(crate) fn emit(&self, event: &Event<'_>) {
        if self.observed.load(Ordering::Acquire) {
            self.observers.read().emit(event);
        }
    }
}

/// Reports a task whose output is a `Result::Err`: passed downstream, not stored.
pub(crate) fn failed_output(shared: &Shared, key: &TaskKey, message: String) {
    let error = DuraflowError::TaskFailed {
        key: key.to_string(),
        message,
    };
    shared.emit(&Event::Failed { key, error: &error });
    if let Some(run) = &shared.run {
        run.failed(key, &error);
    }
}

/// What happened to a task that ran.
pub(crate) struct Ran {
    pub(crate) reason: Miss,
    pub(crate) persisted: bool,
    pub(crate) attempts: u32,
    /// Time spent running it (after the record was looked up).
    pub(crate) elapsed: Duration,
}

/// Counts, reports and logs a task that ran.
pub(crate) fn executed(shared: &Shared, key: &TaskKey, ran: Ran, began: Instant) {
    let Ran {
        reason,
        persisted,
        attempts,
        elapsed,
    } = ran;
    #[cfg(feature = "tracing")]
    tracing::debug!(
        key = %key,
        outcome = "executed",
        reason = %reason,
        elapsed_us = elapsed.as_micros() as u64,
        attempts,
        persisted,
        "executed"
    );
    let outcome = match persisted {
        true => Outcome::Executed,
        false => Outcome::Failed,
    };
    let ran = TaskRun {
        key: key.clone(),
        reason,
        persisted,
        attempts,
    };
    let (completed, total) = completed(shared, key, outcome, began, Some(ran));
    shared.emit(&Event::Executed {
        key,
        elapsed,
        completed,
        total,
    });
    if persisted {
        shared.emit(&Event::Persisted { key });
    }
}

/// Counts and reports a task whose output came from the store; returns its value.
pub(crate) fn restored<O>(shared: &Shared, key: &TaskKey, value: O, began: Instant) -> O {
    #[cfg(feature = "tracing")]
    tracing::debug!(key = %key, outcome = "restored", "restored from the store");
    let (completed, total) = completed(shared, key, Outcome::Restored, began, None);
    shared.emit(&Event::Restored {
        key,
        completed,
        total,
    });
    value
}

/// Counts a completed task in the context (telling the progress callbacks) and logs it in
/// its run; returns the run's count and total (a direct call: the context's count, no
/// total).
fn completed(
    shared: &Shared,
    key: &TaskKey,
    outcome: Outcome,
    began: Instant,
    ran: Option<TaskRun>,
) -> (usize, Option<usize>) {
    let in_context = shared.ctx.completed_count.fetch_add(1, Ordering::SeqCst) + 1;
    if shared.observed.load(Ordering::Acquire) {
        shared.observers.read().progress(key, in_context);
    }
    match &shared.run {
        Some(run) => (run.ended(key, outcome, began, ran), Some(run.total())),
        None => (in_context, None),
    }
}
