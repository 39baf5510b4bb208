//! Restores without scheduling. `DurableDag::run` polls each task of a wide layer once on the
//! thread that spawns it, before handing it to the spawner. A durable task whose record is
//! usable is restored in that poll and never scheduled; every other task gives the poll back
//! before any user code runs ([`leave_inline`]) and goes to the spawner as usual.
//!
//! Only DAGs made of durable tasks alone are polled so (a plain dagx task would run its code
//! in the poll), and a run stops trying once [`GIVE_UPS`] more tasks had to go to the spawner
//! than were restored inline (a fresh run pays for a few polls, not one per task).
//!
//! One task may run in its inline poll: the first one handed over, when the DAG has a lone
//! source. dagx runs a layer of one task inline, without the spawner; `DurableDag::run`'s
//! probe node makes the first layer two tasks, so this gives that source back what dagx
//! would have done.

use futures::future::BoxFuture;
use std::cell::Cell;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::task::{Context, Poll, Waker};

thread_local! {
    static INLINE: Cell<bool> = const { Cell::new(false) };
}

/// The largest record restored in an inline poll: bigger ones are decoded where the spawner
/// runs tasks, in parallel.
pub(crate) const RECORD_MAX: usize = 16 * 1024;

/// How many more tasks than were restored inline a run may hand to the spawner after an
/// inline poll before it stops polling inline.
const GIVE_UPS: u32 = 8;

/// The most restores inline polls are credited for (see [`Inliner::poll`]).
const CREDIT: i64 = 64;

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
    /// Tasks handed to the spawner after an inline poll, less those restored inline.
    given_up: AtomicI64,
    /// Whether the next task handed over runs in its poll, as far as it can without waiting.
    run_next: AtomicBool,
}

impl Inliner {
    /// Inline polls for a run; with `lone_source`, the first task handed over runs in its
    /// poll (see the module's documentation).
    pub(crate) fn new(lone_source: bool) -> Self {
        Inliner {
            given_up: AtomicI64::new(0),
            run_next: AtomicBool::new(lone_source),
        }
    }

    /// Polls `task` once on this thread, unless this run already stopped trying.
    pub(crate) fn poll(&self, task: BoxFuture<'static, ()>) -> Polled {
        if self.run_next.swap(false, Ordering::Relaxed) {
            // A real poll, not an inline one: a task that waits for something is woken
            // through the waker of the spawner's next poll, which it registers then.
            return poll_once(task, false);
        }
        if self.given_up.load(Ordering::Relaxed) >= i64::from(GIVE_UPS) {
            return Polled::Spawn(task);
        }
        let polled = poll_once(task, true);
        match polled {
            // Credit is capped, so a long run of restores is not followed by as long a run
            // of polls for tasks that then go to the spawner anyway.
            Polled::Done => {
                let _ =
                    self.given_up
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |given_up| {
                            (given_up > -CREDIT).then_some(given_up - 1)
                        });
            }
            Polled::Spawn(_) => {
                self.given_up.fetch_add(1, Ordering::Relaxed);
            }
            Polled::Panicked(_) => {}
        }
        polled
    }
}

/// Polls `task` once on this thread with a waker that does nothing, as an inline poll or
/// not, catching a panic.
fn poll_once(mut task: BoxFuture<'static, ()>, inline: bool) -> Polled {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            INLINE.with(|inline| inline.set(false));
        }
    }
    INLINE.with(|flag| flag.set(inline));
    let reset = Reset;
    let polled = catch_unwind(AssertUnwindSafe(|| {
        task.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    }));
    drop(reset);
    match polled {
        Ok(Poll::Ready(())) => Polled::Done,
        Ok(Poll::Pending) => Polled::Spawn(task),
        Err(payload) => Polled::Panicked(crate::durable::panic_message(payload.as_ref())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    /// A task that finishes in an inline poll (`restores`) or gives it back, and notes
    /// whether it was polled at all.
    fn task(restores: bool, polled: &Arc<AtomicBool>) -> BoxFuture<'static, ()> {
        let polled = Arc::clone(polled);
        Box::pin(async move {
            polled.store(true, Ordering::Relaxed);
            if !restores {
                leave_inline().await;
            }
        })
    }

    /// Polls `n` tasks; how many of them were polled inline.
    fn poll_n(inliner: &Inliner, n: usize, restores: bool) -> usize {
        (0..n)
            .filter(|_| {
                let polled = Arc::new(AtomicBool::new(false));
                let outcome = inliner.poll(task(restores, &polled));
                match outcome {
                    Polled::Done => assert!(restores),
                    Polled::Spawn(_) => assert!(!restores || !polled.load(Ordering::Relaxed)),
                    Polled::Panicked(message) => panic!("{message}"),
                }
                polled.load(Ordering::Relaxed)
            })
            .count()
    }

    #[test]
    fn a_fresh_run_stops_polling_inline_after_a_few_tasks() {
        let inliner = Inliner::default();
        assert_eq!(poll_n(&inliner, 100, false), GIVE_UPS as usize);
        assert!(!is_inline(), "the flag is reset after each poll");
    }

    #[test]
    fn restores_earn_polls_up_to_a_cap() {
        let inliner = Inliner::default();
        assert_eq!(poll_n(&inliner, 3, true), 3);
        assert_eq!(poll_n(&inliner, 100, false), GIVE_UPS as usize + 3);
        let inliner = Inliner::default();
        assert_eq!(poll_n(&inliner, 1000, true), 1000);
        assert_eq!(
            poll_n(&inliner, 1000, false),
            (GIVE_UPS as i64 + CREDIT) as usize
        );
    }

    #[test]
    fn after_a_lone_source_the_first_task_runs_in_its_poll_and_no_other() {
        let ran = Arc::new(AtomicBool::new(false));
        let task = |ran: Arc<AtomicBool>| -> BoxFuture<'static, ()> {
            Box::pin(async move {
                leave_inline().await;
                ran.store(true, Ordering::Relaxed);
            })
        };
        let inliner = Inliner::new(true);
        assert!(matches!(inliner.poll(task(ran.clone())), Polled::Done));
        assert!(ran.swap(false, Ordering::Relaxed));
        assert!(matches!(inliner.poll(task(ran.clone())), Polled::Spawn(_)));
        assert!(!ran.load(Ordering::Relaxed));
        let inliner = Inliner::new(false);
        assert!(matches!(inliner.poll(task(ran.clone())), Polled::Spawn(_)));
        assert!(!ran.load(Ordering::Relaxed));
    }

    #[test]
    fn a_panic_in_an_inline_poll_is_reported() {
        let inliner = Inliner::default();
        match inliner.poll(Box::pin(async { panic!("boom") })) {
            Polled::Panicked(message) => assert_eq!(message, "boom"),
            _ => panic!("the panic was not caught"),
        }
        assert!(!is_inline());
    }
}
