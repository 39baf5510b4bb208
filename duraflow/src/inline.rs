//! Restores without scheduling. `DurableDag::run` polls each task of a wide layer once on the
//! thread that spawns it, before handing it to the spawner. A durable task whose record is
//! usable is restored in that poll and never scheduled; every other task gives the poll back
//! before any user code runs ([`leave_inline`]) and goes to the spawner as usual.
//!
//! Only DAGs made of durable tasks alone are polled so (a plain dagx task would run its code
//! in the poll), and a run stops trying after a few tasks that had to go to the spawner (a
//! fresh run pays for a few polls, not one per task).

use futures::future::BoxFuture;
use std::cell::Cell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll, Waker};

thread_local! {
    static INLINE: Cell<bool> = const { Cell::new(false) };
}

/// The largest record restored in an inline poll: bigger ones are decoded where the spawner
/// runs tasks, in parallel.
pub(crate) const RECORD_MAX: usize = 16 * 1024;

/// Tasks a run may hand to the spawner after an inline poll before it stops polling inline.
const GIVE_UPS: u32 = 8;

/// Whether the current poll is an inline one.
pub(crate) fn is_inline() -> bool {
    INLINE.with(Cell::get)
}

/// Pending once when polled inline (the rest then runs where the spawner puts the task);
/// ready at once otherwise.
pub(crate) fn leave_inline() -> LeaveInline {
    LeaveInline
}

/// See [`leave_inline`].
pub(crate) struct LeaveInline;

impl Future for LeaveInline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if is_inline() {
            cx.waker().wake_by_ref();
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}

/// What an inline poll left to do.
pub(crate) enum Polled {
    /// The task finished in the poll.
    Done,
    /// The task must go to the spawner (it is polled there again, with a real waker).
    Spawn(BoxFuture<'static, ()>),
    /// The task panicked; the message.
    Panicked(String),
}

/// Inline polls of one run, and when to stop them.
#[derive(Default)]
pub(crate) struct Inliner {
    given_up: AtomicU32,
}

impl Inliner {
    /// Polls `task` once on this thread, unless this run already stopped trying.
    pub(crate) fn poll(&self, mut task: BoxFuture<'static, ()>) -> Polled {
        if self.given_up.load(Ordering::Relaxed) >= GIVE_UPS {
            return Polled::Spawn(task);
        }
        struct Reset;
        impl Drop for Reset {
            fn drop(&mut self) {
                INLINE.with(|inline| inline.set(false));
            }
        }
        INLINE.with(|inline| inline.set(true));
        let reset = Reset;
        let polled = catch_unwind(AssertUnwindSafe(|| {
            task.as_mut().poll(&mut Context::from_waker(Waker::noop()))
        }));
        drop(reset);
        match polled {
            Ok(Poll::Ready(())) => Polled::Done,
            Ok(Poll::Pending) => {
                self.given_up.fetch_add(1, Ordering::Relaxed);
                Polled::Spawn(task)
            }
            Err(payload) => Polled::Panicked(crate::durable::panic_message(payload.as_ref())),
        }
    }
}
