//! Failures are never silent: fallible tasks with ordinary error types (only the `Ok` type is
//! stored), the whole report of a failed run with every failure and every skipped dependent,
//! timeouts that hold for blocking runs, and event counts of the current run.

mod common;

use common::{spawn, Runs};
use dagx::{task, DagRunner, Task, TaskHandle};
use duraflow::{durable, Context, DurableDag, DuraflowError, Event, MemoryStore, Skipped};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn memory() -> Arc<Context> {
    Arc::new(Context::new(MemoryStore::new()))
}

/// A `thiserror` enum without serde.
#[derive(Debug, Clone, thiserror::Error)]
enum FetchError {
    #[error("host {0} is unreachable")]
    Unreachable(&'static str),
}

struct Fetch {
    host: &'static str,
    runs: Runs,
}

#[durable(key = "fetch-{host}")]
impl Fetch {
    async fn run(&self) -> Result<u32, FetchError> {
        self.runs.hit();
        match self.host {
            "down" => Err(FetchError::Unreachable(self.host)),
            _ => Ok(200),
        }
    }
}

/// Reads the status of `Fetch`, passing its error on.
struct Status;

#[durable(key = "status")]
impl Status {
    async fn run(fetched: &Result<u32, FetchError>) -> Result<String, FetchError> {
        fetched.clone().map(|code| format!("status {code}"))
    }
}

/// `anyhow::Error` is not `Clone`, and dagx hands every output on by `Clone`: it goes in an
/// `Arc`.
struct Parse(&'static str);

#[durable(key = "parse-{0}")]
impl Parse {
    async fn run(&self) -> Result<i64, Arc<anyhow::Error>> {
        self.0
            .parse::<i64>()
            .map_err(|e| Arc::new(anyhow::Error::new(e).context(format!("parsing {:?}", self.0))))
    }
}

/// `anyhow::Result` with the error in an `Arc`.
struct Check(i64);

#[durable(key = "check-{0}")]
impl Check {
    async fn run(&self) -> anyhow::Result<i64, Arc<anyhow::Error>> {
        if self.0 < 0 {
            return Err(Arc::new(anyhow::anyhow!("{} is negative", self.0)));
        }
        Ok(self.0)
    }
}

/// A `Box<dyn Error>`, in an `Arc`.
struct Open(&'static str);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[durable(key = "open-{0}")]
impl Open {
    async fn run(&self) -> Result<usize, Arc<BoxError>> {
        match self.0 {
            "" => Err(Arc::new("no path given".into())),
            path => Ok(path.len()),
        }
    }
}

#[tokio::test]
async fn a_thiserror_enum_without_serde_stores_only_the_ok_value() {
    let ctx = memory();
    let runs = Runs::new();
    for (round, expected_runs) in [(1, 2), (2, 3)] {
        let dag = DagRunner::new();
        let d = DurableDag::new(&dag, ctx.clone());
        let up: TaskHandle<_> = d
            .task(Fetch {
                host: "up",
                runs: runs.clone(),
            })
            .into();
        let down = d.task(Fetch {
            host: "down",
            runs: runs.clone(),
        });
        let status = d.task(Status).depends_on(&down);
        let report = d.run(spawn).await.unwrap();
        assert_eq!(dag.get(up).unwrap().unwrap(), 200);
        let failed: Vec<&str> = report.failed.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(failed, ["fetch-down", "status"], "round {round}");
        assert!(report.failed[0]
            .message
            .contains("host down is unreachable"));
        assert!(dag.get(status).unwrap().is_err());
        // The `Ok` is restored; each `Err` runs again.
        assert_eq!(runs.count(), expected_runs, "round {round}");
    }
    assert_eq!(ctx.get::<u32>("fetch-up"), Some(200));
    assert_eq!(ctx.get::<u32>("fetch-down"), None);
}

#[tokio::test]
async fn anyhow_and_boxed_errors_work_as_outputs() {
    let ctx = memory();
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let good = d.task(Parse("42"));
    let bad = d.task(Parse("4x2"));
    d.task(Check(7));
    d.task(Check(-1));
    d.task(Open("data.csv"));
    d.task(Open(""));
    let report = d.run(spawn).await.unwrap();
    assert_eq!(dag.get(good).unwrap().unwrap(), 42);
    let error = dag.get(bad).unwrap().unwrap_err();
    assert!(
        format!("{error:#}").contains("parsing \"4x2\""),
        "{error:#}"
    );

    let mut failed: Vec<(&str, &str)> = report
        .failed
        .iter()
        .map(|f| (f.key.as_str(), f.message.as_str()))
        .collect();
    failed.sort();
    assert_eq!(failed.len(), 3, "{failed:?}");
    assert_eq!(failed[0].0, "check--1");
    assert!(failed[0].1.contains("-1 is negative"), "{}", failed[0].1);
    assert_eq!(failed[1].0, "open-");
    assert!(failed[1].1.contains("no path given"), "{}", failed[1].1);
    assert_eq!(failed[2].0, "parse-4x2");
    assert!(failed[2].1.contains("parsing \"4x2\""), "{}", failed[2].1);

    assert_eq!(ctx.get::<i64>("parse-42"), Some(42));
    assert_eq!(ctx.get::<i64>("check-7"), Some(7));
    assert_eq!(ctx.get::<usize>("open-data.csv"), Some(8));
    for key in ["parse-4x2", "check--1", "open-"] {
        assert_eq!(ctx.get::<i64>(key), None, "{key} is not stored");
    }
}

struct Boom(&'static str);

#[task]
impl Boom {
    async fn run(&self) -> i32 {
        panic!("{}", self.0)
    }
}

struct Double;

#[task]
impl Double {
    async fn run(x: &i32) -> i32 {
        x * 2
    }
}

#[tokio::test]
async fn a_failed_run_keeps_its_whole_report() {
    let ctx = memory();
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let first = d.add("first", Boom("no input file"));
    d.add("second", Boom("disk on fire"));
    d.add("after-first", Double).depends_on(&first);
    d.add("fine", common::Load(1));
    let error = d.run(spawn).await.unwrap_err();
    assert!(
        matches!(&error, DuraflowError::TaskPanicked { key, .. } if key == "first" || key == "second"),
        "{error:?}"
    );

    let report = d.last_report().expect("a failed run keeps its report");
    let mut failed: Vec<(&str, bool)> = report
        .failed
        .iter()
        .map(|f| {
            let expected = if f.key == "first" {
                "no input file"
            } else {
                "disk on fire"
            };
            (f.key.as_str(), f.message.contains(expected))
        })
        .collect();
    failed.sort();
    assert_eq!(failed, [("first", true), ("second", true)]);
    // dagx does not say which input was lost: every task that had failed by then is named.
    match &report.skipped[..] {
        [Skipped { key, upstream }] => {
            assert_eq!(key, "after-first");
            assert!(upstream.iter().any(|up| up == "first"), "{upstream:?}");
            assert!(upstream.iter().all(|up| up == "first" || up == "second"));
        }
        other => panic!("expected one skipped task, got {other:?}"),
    }
    let executed: Vec<&str> = report.runs.iter().map(|run| run.key.as_str()).collect();
    assert!(executed.contains(&"fine"), "{executed:?}");
    assert_eq!(ctx.get::<i32>("fine"), Some(1));
}

#[tokio::test]
async fn a_dependent_of_a_failed_task_names_its_upstream_key() {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, memory());
    let only = d.add("only", Boom("gone"));
    d.add("next", Double).depends_on(&only);
    d.run(spawn).await.unwrap_err();
    let report = d.last_report().unwrap();
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].key, "next");
    assert_eq!(report.skipped[0].upstream, ["only"]);

    // A run that succeeds returns its report; nothing is kept.
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, memory());
    d.add("fine", common::Load(1));
    d.run(spawn).await.unwrap();
    assert_eq!(d.last_report(), None);
}

/// A non-`async` run that takes far longer than its timeout.
struct SlowSync(Runs);

#[durable(key = "slow-sync", timeout = "50ms")]
impl SlowSync {
    fn run(&self) -> i32 {
        self.0.hit();
        std::thread::sleep(Duration::from_millis(1500));
        1
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_blocking_run_past_its_timeout_fails_without_stalling_the_runtime() {
    let ctx = memory();
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let runs = Runs::new();
    d.task(SlowSync(runs.clone()));
    // The runtime has one worker: it ticks only if the blocking run is not on it.
    let ticks = Arc::new(AtomicUsize::new(0));
    let ticking = Arc::clone(&ticks);
    let ticker = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(5)).await;
            ticking.fetch_add(1, Ordering::SeqCst);
        }
    });
    let started = Instant::now();
    let error = d.run(spawn).await.unwrap_err();
    let elapsed = started.elapsed();
    match &error {
        DuraflowError::TimedOut { key, after, .. } => {
            assert_eq!(
                (key.as_str(), *after),
                ("slow-sync", Duration::from_millis(50))
            );
        }
        other => panic!("expected TimedOut, got {other:?}"),
    }
    assert!(
        elapsed < Duration::from_millis(1000),
        "the run waited for the thread: {elapsed:?}"
    );
    // The blocking thread sleeps on: the single worker keeps ticking meanwhile.
    let at_return = ticks.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        ticks.load(Ordering::SeqCst) > at_return,
        "the worker was stalled"
    );
    ticker.abort();
    // The thread's late result is discarded, never stored.
    tokio::time::sleep(Duration::from_millis(1400)).await;
    assert_eq!(runs.count(), 1);
    assert_eq!(ctx.get::<i32>("slow-sync"), None);
}

type Counts = Arc<Mutex<Vec<(String, usize, Option<usize>)>>>;

/// Runs two loads against `ctx` and returns each completion event's (key, completed, total).
async fn counted_run(ctx: &Arc<Context>, progress: &Counts) -> Vec<(String, usize, Option<usize>)> {
    let events: Counts = Arc::default();
    let log = Arc::clone(&events);
    let progress = Arc::clone(progress);
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone())
        .with_events(move |event| {
            let counted = match event {
                Event::Executed {
                    key,
                    completed,
                    total,
                    ..
                }
                | Event::Restored {
                    key,
                    completed,
                    total,
                } => (key.to_string(), *completed, *total),
                _ => return,
            };
            log.lock().unwrap().push(counted);
        })
        .with_progress(move |key, completed| {
            progress
                .lock()
                .unwrap()
                .push((key.to_owned(), completed, None));
        });
    d.add("a", common::Load(1));
    d.add("b", common::Load(2));
    d.run(spawn).await.unwrap();
    let mut events = events.lock().unwrap().clone();
    events.sort_by_key(|(_, completed, _)| *completed);
    events
}

#[tokio::test]
async fn event_counts_are_the_current_runs_and_the_seed_counter_keeps_counting() {
    let ctx = memory();
    let progress = Counts::default();
    for round in 0..2 {
        let counts: Vec<(usize, Option<usize>)> = counted_run(&ctx, &progress)
            .await
            .into_iter()
            .map(|(_, completed, total)| (completed, total))
            .collect();
        assert_eq!(counts, [(1, Some(2)), (2, Some(2))], "round {round}");
    }
    let mut seed: Vec<usize> = progress.lock().unwrap().iter().map(|p| p.1).collect();
    seed.sort();
    assert_eq!(seed, [1, 2, 3, 4]);
    assert_eq!(ctx.completed_count.load(Ordering::SeqCst), 4);
}
