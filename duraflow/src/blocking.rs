//! Running a task's blocking code on tokio's blocking pool, so it never stalls the async
//! workers and its time limit holds: an attempt that runs past `timeout` fails with
//! `TimedOut` at once, while its thread finishes in the background and its result is
//! discarded (a thread cannot be stopped from outside).

use std::future::Future;

/// Runs `work` on tokio's blocking pool (in place when there is no tokio runtime), and
/// passes on its panic.
pub async fn run_blocking<R, F>(work: F) -> R
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return work();
    };
    match handle.spawn_blocking(work).await {
        Ok(output) => output,
        Err(error) => match error.try_into_panic() {
            Ok(payload) => std::panic::resume_unwind(payload),
            Err(error) => panic!("the blocking task did not finish: {error}"),
        },
    }
}

/// Drives `future` to its end on the current thread: the body of an `async` task marked
/// `blocking`, inside [`run_blocking`].
pub fn block_on<F: Future>(future: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.block_on(future),
        Err(_) => futures::executor::block_on(future),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blocking_work_runs_off_the_async_worker_and_its_panic_is_passed_on() {
        let worker = std::thread::current().id();
        let ran_on = run_blocking(|| std::thread::current().id()).await;
        assert_ne!(ran_on, worker);
        let panicked =
            futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run_blocking(|| {
                panic!("boom")
            })))
            .await;
        let payload = panicked.expect_err("the panic is passed on");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    }
}
