//! Incremental re-runs: `cache = inputs` (a record is reused only for the same task fields
//! and inputs, with early cutoff), a version bump, `Context::invalidate` and `refresh`, the
//! DAG-wide `with_cache`, and resume by key as the default; then retries, backoff and
//! timeouts. Every test counts how often each task really ran.

mod common;

use common::{spawn, Runs};
use dagx::DagRunner;
use duraflow::{
    durable, Cache, Context, DurableDag, DuraflowError, Event, MemoryStore, Miss, RunReport,
    TaskOptions, TaskRun,
};
use serde::Serialize;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn memory() -> Arc<Context> {
    Arc::new(Context::new(MemoryStore::new()))
}

/// Which tasks ran and why, sorted by key (tasks of one layer finish in any order).
fn reasons(report: &RunReport) -> Vec<(&str, Miss)> {
    let mut reasons: Vec<_> = report
        .runs
        .iter()
        .map(|run| (run.key.as_str(), run.reason.clone()))
        .collect();
    reasons.sort_by(|a, b| a.0.cmp(b.0));
    reasons
}

// ---------------------------------------------------------------------------------------
// Tasks with `cache = inputs`. Counters do not change the output: `#[serde(skip)]` keeps
// them out of the fingerprint.

/// A value of the "source": editing the source is changing `value`.
#[derive(Serialize)]
struct Source {
    name: &'static str,
    value: i32,
    #[serde(skip)]
    runs: Runs,
}

#[durable(key = "source-{name}", cache = inputs)]
impl Source {
    fn run(&self) -> i32 {
        self.runs.hit();
        self.value
    }
}

#[derive(Serialize)]
struct Double {
    #[serde(skip)]
    runs: Runs,
}

#[durable(key = "double", cache = inputs)]
impl Double {
    fn run(&self, x: &i32) -> i32 {
        self.runs.hit();
        x * 2
    }
}

#[derive(Serialize)]
struct Sum {
    #[serde(skip)]
    runs: Runs,
}

#[durable(key = "sum", cache = inputs)]
impl Sum {
    async fn run(&self, a: &i32, b: &i32) -> i32 {
        self.runs.hit();
        a + b
    }
}

/// The execution counters of the `source-a → double → sum ← source-b` DAG.
#[derive(Default)]
struct Counts {
    a: Runs,
    b: Runs,
    double: Runs,
    sum: Runs,
}

impl Counts {
    fn get(&self) -> [usize; 4] {
        [&self.a, &self.b, &self.double, &self.sum].map(Runs::count)
    }
}

/// `sum = 2 * a + b`.
async fn sum_dag(ctx: &Arc<Context>, counts: &Counts, a: i32, b: i32) -> (i32, RunReport) {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let source = |name, value, runs: &Runs| Source {
        name,
        value,
        runs: runs.clone(),
    };
    let a = d.task(source("a", a, &counts.a)).depends_on(());
    let b = d.task(source("b", b, &counts.b)).depends_on(());
    let double = d
        .task(Double {
            runs: counts.double.clone(),
        })
        .depends_on(a);
    let sum = d
        .task(Sum {
            runs: counts.sum.clone(),
        })
        .depends_on((&double, &b));
    let report = d.run(spawn).await.unwrap();
    (dag.get(sum).unwrap(), report)
}

#[tokio::test]
async fn an_edited_source_reruns_only_what_depends_on_it() {
    let ctx = memory();
    let counts = Counts::default();

    let (sum, report) = sum_dag(&ctx, &counts, 1, 10).await;
    assert_eq!(sum, 12);
    assert_eq!((report.executed, report.restored), (4, 0));
    assert!(report.runs.iter().all(|run| run.reason == Miss::NoRecord));

    // Edit source b: it runs again, and so does sum, whose input changed; a and double are
    // restored.
    let (sum, report) = sum_dag(&ctx, &counts, 1, 20).await;
    assert_eq!(sum, 22);
    assert_eq!(
        reasons(&report),
        [
            ("source-b", Miss::InputsChanged),
            ("sum", Miss::InputsChanged)
        ]
    );
    assert_eq!(report.restored, 2);
    assert_eq!(counts.get(), [1, 2, 1, 2]);
    assert_eq!(ctx.get::<i32>("sum"), Some(22));

    // Nothing edited: everything is restored.
    let (sum, report) = sum_dag(&ctx, &counts, 1, 20).await;
    assert_eq!(sum, 22);
    assert_eq!((report.executed, report.restored), (0, 4));

    // Edit source a: the change travels down the chain a → double → sum.
    let (sum, report) = sum_dag(&ctx, &counts, 2, 20).await;
    assert_eq!(sum, 24);
    assert_eq!(
        reasons(&report),
        [
            ("double", Miss::InputsChanged),
            ("source-a", Miss::InputsChanged),
            ("sum", Miss::InputsChanged)
        ]
    );
    assert_eq!(counts.get(), [2, 2, 2, 3]);

    // Editing back runs them again: a record holds one fingerprint, the last one.
    let (sum, report) = sum_dag(&ctx, &counts, 1, 20).await;
    assert_eq!(sum, 22);
    assert_eq!(report.executed, 3);
}

/// Parses a number out of text that may carry whitespace.
#[derive(Serialize)]
struct Parse {
    text: &'static str,
    #[serde(skip)]
    runs: Runs,
}

#[durable(key = "parse", cache = inputs)]
impl Parse {
    fn run(&self) -> i32 {
        self.runs.hit();
        self.text.trim().parse().expect("a number")
    }
}

async fn parse_then_double(
    ctx: &Arc<Context>,
    text: &'static str,
    parses: &Runs,
    doubles: &Runs,
) -> (i32, RunReport) {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let parsed = d
        .task(Parse {
            text,
            runs: parses.clone(),
        })
        .depends_on(());
    let doubled = d
        .task(Double {
            runs: doubles.clone(),
        })
        .depends_on(parsed);
    let report = d.run(spawn).await.unwrap();
    (dag.get(doubled).unwrap(), report)
}

#[tokio::test]
async fn an_upstream_task_that_reruns_to_the_same_output_leaves_its_dependents_restored() {
    let ctx = memory();
    let (parses, doubles) = (Runs::new(), Runs::new());
    assert_eq!(
        parse_then_double(&ctx, " 21", &parses, &doubles).await.0,
        42
    );

    // The text changed, so parse runs again, but it still yields 21: early cutoff.
    let (doubled, report) = parse_then_double(&ctx, "21 ", &parses, &doubles).await;
    assert_eq!(doubled, 42);
    assert_eq!(reasons(&report), [("parse", Miss::InputsChanged)]);
    assert_eq!(report.restored, 1);
    assert_eq!((parses.count(), doubles.count()), (2, 1));

    // A new number does reach double.
    let (doubled, report) = parse_then_double(&ctx, "22", &parses, &doubles).await;
    assert_eq!(doubled, 44);
    assert_eq!(
        reasons(&report),
        [
            ("double", Miss::InputsChanged),
            ("parse", Miss::InputsChanged)
        ]
    );
    assert_eq!((parses.count(), doubles.count()), (3, 2));
}

/// Two versions of one task under one key: version 2 is a refactor with the same results.
#[derive(Serialize)]
struct ScaleV1 {
    #[serde(skip)]
    runs: Runs,
}

#[durable(key = "scale", version = 1, cache = inputs)]
impl ScaleV1 {
    fn run(&self) -> i32 {
        self.runs.hit();
        3 * 7
    }
}

#[derive(Serialize)]
struct ScaleV2 {
    #[serde(skip)]
    runs: Runs,
}

#[durable(key = "scale", version = 2, cache = inputs)]
impl ScaleV2 {
    fn run(&self) -> i32 {
        self.runs.hit();
        21
    }
}

#[tokio::test]
async fn a_version_bump_reruns_the_task_and_its_dependents_only_if_the_output_changed() {
    let ctx = memory();
    let (scales, doubles) = (Runs::new(), Runs::new());
    for (bumped, expected_executed) in [(false, 2), (false, 0), (true, 1), (true, 0)] {
        let dag = DagRunner::new();
        let d = DurableDag::new(&dag, ctx.clone());
        let runs = scales.clone();
        let scale = if bumped {
            d.task(ScaleV2 { runs }).depends_on(())
        } else {
            d.task(ScaleV1 { runs }).depends_on(())
        };
        let doubled = d
            .task(Double {
                runs: doubles.clone(),
            })
            .depends_on(scale);
        let report = d.run(spawn).await.unwrap();
        assert_eq!(dag.get(doubled).unwrap(), 42);
        assert_eq!(report.executed, expected_executed, "bumped: {bumped}");
        if bumped && expected_executed == 1 {
            assert_eq!(
                reasons(&report),
                [(
                    "scale",
                    Miss::VersionChanged {
                        stored: 1,
                        expected: 2
                    }
                )]
            );
        }
    }
    assert_eq!((scales.count(), doubles.count()), (2, 1));
}

// ---------------------------------------------------------------------------------------
// Forcing a re-run: `Context::invalidate` and `DurableDag::refresh`.

/// Reads a sensor outside the DAG: its output changes without any field changing, so only
/// an explicit invalidation or refresh makes it read again.
#[derive(Serialize)]
struct Sensor {
    #[serde(skip)]
    reading: Arc<AtomicI32>,
    #[serde(skip)]
    runs: Runs,
}

#[durable(key = "sensor", cache = inputs)]
impl Sensor {
    fn run(&self) -> i32 {
        self.runs.hit();
        self.reading.load(Ordering::SeqCst)
    }
}

/// The sensor and what reads it.
struct Plant {
    ctx: Arc<Context>,
    reading: Arc<AtomicI32>,
    sensor_runs: Runs,
    double_runs: Runs,
}

impl Plant {
    fn new() -> Self {
        Plant {
            ctx: memory(),
            reading: Arc::new(AtomicI32::new(5)),
            sensor_runs: Runs::new(),
            double_runs: Runs::new(),
        }
    }

    /// Runs `sensor → double`; `configure` may ask for refreshes.
    async fn run(
        &self,
        configure: impl FnOnce(DurableDag<'_>) -> DurableDag<'_>,
    ) -> (i32, RunReport) {
        let dag = DagRunner::new();
        let d = configure(DurableDag::new(&dag, self.ctx.clone()));
        let sensor = d
            .task(Sensor {
                reading: self.reading.clone(),
                runs: self.sensor_runs.clone(),
            })
            .depends_on(());
        let doubled = d
            .task(Double {
                runs: self.double_runs.clone(),
            })
            .depends_on(sensor);
        let report = d.run(spawn).await.unwrap();
        (dag.get(doubled).unwrap(), report)
    }

    fn counts(&self) -> (usize, usize) {
        (self.sensor_runs.count(), self.double_runs.count())
    }
}

#[tokio::test]
async fn invalidate_reruns_the_task_and_its_dependents_only_if_the_output_changed() {
    let plant = Plant::new();
    assert_eq!(plant.run(|d| d).await.0, 10);

    // The reading changes, but no field does: the stale reading is restored.
    plant.reading.store(6, Ordering::SeqCst);
    let (doubled, report) = plant.run(|d| d).await;
    assert_eq!((doubled, report.executed), (10, 0));

    // Invalidated: the sensor reads again, and the new reading reaches double. (Invalidation
    // removes the record, so the sensor's reason is that there is none.)
    plant.ctx.invalidate("sensor").unwrap();
    let (doubled, report) = plant.run(|d| d).await;
    assert_eq!(doubled, 12);
    assert_eq!(
        reasons(&report),
        [("double", Miss::InputsChanged), ("sensor", Miss::NoRecord)]
    );
    assert_eq!(plant.counts(), (2, 2));

    // Invalidated again with the same reading: the sensor runs, double is restored.
    plant.ctx.invalidate("sensor").unwrap();
    let (doubled, report) = plant.run(|d| d).await;
    assert_eq!(doubled, 12);
    assert_eq!(reasons(&report), [("sensor", Miss::NoRecord)]);
    assert_eq!(report.restored, 1);
    assert_eq!(plant.counts(), (3, 2));
}

#[tokio::test]
async fn refresh_forces_a_rerun_and_dependents_follow_only_a_changed_output() {
    let plant = Plant::new();
    assert_eq!(plant.run(|d| d).await.0, 10);

    // Same reading: the sensor is forced to run, double is restored.
    let (doubled, report) = plant.run(|d| d.refresh(["sensor"])).await;
    assert_eq!(doubled, 10);
    assert_eq!(reasons(&report), [("sensor", Miss::Forced)]);
    assert_eq!(report.restored, 1);
    assert_eq!(plant.counts(), (2, 1));

    // New reading: forced, and double runs because its input changed.
    plant.reading.store(7, Ordering::SeqCst);
    let (doubled, report) = plant.run(|d| d.refresh(["sensor"])).await;
    assert_eq!(doubled, 14);
    assert_eq!(
        reasons(&report),
        [("double", Miss::InputsChanged), ("sensor", Miss::Forced)]
    );
    assert_eq!(plant.counts(), (3, 2));

    // The refreshed record is the new one: a plain run restores everything.
    let (doubled, report) = plant.run(|d| d).await;
    assert_eq!((doubled, report.executed), (14, 0));

    // refresh_all forces every task, whatever its inputs.
    let (doubled, report) = plant.run(|d| d.refresh_all()).await;
    assert_eq!(doubled, 14);
    assert_eq!(
        reasons(&report),
        [("double", Miss::Forced), ("sensor", Miss::Forced)]
    );
    assert_eq!(plant.counts(), (4, 3));
}

// ---------------------------------------------------------------------------------------
// Tasks declared without `cache`: resume by key, unless the DAG asks for inputs.

/// A seed value, declared without `cache`.
#[derive(Serialize)]
struct Seed {
    value: i32,
    #[serde(skip)]
    runs: Runs,
}

#[durable(key = "seed")]
impl Seed {
    fn run(&self) -> i32 {
        self.runs.hit();
        self.value
    }
}

/// Adds `by` to its input, declared without `cache`.
#[derive(Serialize)]
struct Offset {
    by: i32,
    #[serde(skip)]
    runs: Runs,
}

#[durable(key = "offset")]
impl Offset {
    fn run(&self, x: &i32) -> i32 {
        self.runs.hit();
        x + self.by
    }
}

async fn seed_then_offset(
    ctx: &Arc<Context>,
    cache: Option<Cache>,
    (seed, by): (i32, i32),
    runs: &(Runs, Runs),
) -> (i32, RunReport) {
    let dag = DagRunner::new();
    let mut d = DurableDag::new(&dag, ctx.clone());
    if let Some(cache) = cache {
        d = d.with_cache(cache);
    }
    let seed = d
        .task(Seed {
            value: seed,
            runs: runs.0.clone(),
        })
        .depends_on(());
    let offset = d
        .task(Offset {
            by,
            runs: runs.1.clone(),
        })
        .depends_on(seed);
    let report = d.run(spawn).await.unwrap();
    (dag.get(offset).unwrap(), report)
}

#[tokio::test]
async fn by_default_a_record_is_reused_whatever_the_fields_are_now() {
    // Documented behaviour (resume by key, as in duraflow-rs): editing a field of a task
    // declared without `cache = inputs` does not run it again; the stale value is returned.
    let ctx = memory();
    let runs = (Runs::new(), Runs::new());
    assert_eq!(seed_then_offset(&ctx, None, (1, 10), &runs).await.0, 11);
    let (value, report) = seed_then_offset(&ctx, None, (2, 20), &runs).await;
    assert_eq!((value, report.executed, report.restored), (11, 0, 2));
    assert_eq!((runs.0.count(), runs.1.count()), (1, 1));
    // `cache = key` on the DAG is the same.
    let (value, report) = seed_then_offset(&ctx, Some(Cache::Key), (3, 30), &runs).await;
    assert_eq!((value, report.executed), (11, 0));
}

#[tokio::test]
async fn with_cache_inputs_applies_to_tasks_declared_without_cache() {
    let ctx = memory();
    let runs = (Runs::new(), Runs::new());
    let inputs = Some(Cache::Inputs);
    assert_eq!(seed_then_offset(&ctx, inputs, (1, 10), &runs).await.0, 11);
    assert_eq!(
        seed_then_offset(&ctx, inputs, (1, 10), &runs)
            .await
            .1
            .executed,
        0
    );

    let (value, report) = seed_then_offset(&ctx, inputs, (2, 10), &runs).await;
    assert_eq!(value, 12);
    assert_eq!(
        reasons(&report),
        [
            ("offset", Miss::InputsChanged),
            ("seed", Miss::InputsChanged)
        ]
    );

    let (value, report) = seed_then_offset(&ctx, inputs, (2, 20), &runs).await;
    assert_eq!(value, 22);
    assert_eq!(reasons(&report), [("offset", Miss::InputsChanged)]);
    assert_eq!((runs.0.count(), runs.1.count()), (2, 3));
}

#[tokio::test]
async fn a_record_written_by_key_is_not_reused_once_the_dag_asks_for_inputs() {
    // A record without a fingerprint cannot prove what it was computed from.
    let ctx = memory();
    let runs = (Runs::new(), Runs::new());
    assert_eq!(seed_then_offset(&ctx, None, (1, 10), &runs).await.0, 11);
    let (value, report) = seed_then_offset(&ctx, Some(Cache::Inputs), (1, 10), &runs).await;
    assert_eq!(value, 11);
    assert_eq!(
        reasons(&report),
        [
            ("offset", Miss::InputsChanged),
            ("seed", Miss::InputsChanged)
        ]
    );
    let (_, report) = seed_then_offset(&ctx, Some(Cache::Inputs), (1, 10), &runs).await;
    assert_eq!(report.executed, 0);
}

/// Not `Serialize`: `with_cache(Cache::Inputs)` cannot fingerprint it.
struct Opaque {
    value: i32,
    runs: Runs,
}

#[durable(key = "opaque")]
impl Opaque {
    fn run(&self) -> i32 {
        self.runs.hit();
        self.value
    }
}

#[tokio::test]
async fn a_task_that_cannot_be_fingerprinted_resumes_by_key_under_with_cache_inputs() {
    // Documented fallback: without `Serialize` there is no fingerprint, so the record is
    // reused as with `cache = key`. (`cache = inputs` on the attribute makes this a compile
    // error instead.)
    let ctx = memory();
    let runs = Runs::new();
    for (value, expected) in [(1, 1), (2, 1)] {
        let dag = DagRunner::new();
        let d = DurableDag::new(&dag, ctx.clone()).with_cache(Cache::Inputs);
        let opaque = d
            .task(Opaque {
                value,
                runs: runs.clone(),
            })
            .depends_on(());
        d.run(spawn).await.unwrap();
        assert_eq!(dag.get(opaque).unwrap(), expected);
    }
    assert_eq!(runs.count(), 1);
}

// ---------------------------------------------------------------------------------------
// Retries, backoff and timeouts.

/// The `Retrying` events of a run: (key, failed attempt, why).
type Retries = Arc<Mutex<Vec<(String, u32, String)>>>;

fn recording_retries(d: DurableDag<'_>) -> (DurableDag<'_>, Retries) {
    let retries = Retries::default();
    let log = retries.clone();
    let d = d.with_events(move |event| {
        if let Event::Retrying {
            key,
            attempt,
            error,
        } = event
        {
            log.lock()
                .unwrap()
                .push((key.to_string(), *attempt, error.to_string()));
        }
    });
    (d, retries)
}

/// Panics on its first `failures` attempts (counted across its copies), then adds 1.
#[derive(Clone)]
struct FlakyPanic {
    failures: usize,
    runs: Runs,
}

#[durable(key = "flaky-panic", retries = 3, backoff = "1ms")]
impl FlakyPanic {
    async fn run(&self, x: &i32) -> i32 {
        self.runs.hit();
        let attempt = self.runs.count();
        if attempt <= self.failures {
            panic!("flaky failure on attempt {attempt}");
        }
        x + 1
    }
}

#[tokio::test]
async fn a_task_that_panics_twice_succeeds_on_its_third_attempt() {
    let ctx = memory();
    let dag = DagRunner::new();
    let (d, retries) = recording_retries(DurableDag::new(&dag, ctx.clone()));
    let runs = Runs::new();
    let source = d
        .task(Source {
            name: "x",
            value: 41,
            runs: Runs::new(),
        })
        .depends_on(());
    let flaky = d
        .task(FlakyPanic {
            failures: 2,
            runs: runs.clone(),
        })
        .depends_on(source);
    let report = d.run(spawn).await.unwrap();

    assert_eq!(dag.get(flaky).unwrap(), 42);
    assert_eq!(runs.count(), 3);
    let run = report.runs.iter().find(|run| run.key == "flaky-panic");
    assert_eq!(
        run,
        Some(&TaskRun {
            key: "flaky-panic".into(),
            reason: Miss::NoRecord,
            persisted: true,
            attempts: 3
        })
    );
    let retries = retries.lock().unwrap().clone();
    assert_eq!(retries.len(), 2, "{retries:?}");
    for (i, (key, attempt, error)) in retries.iter().enumerate() {
        assert_eq!((key.as_str(), *attempt), ("flaky-panic", i as u32 + 1));
        assert_eq!(
            error,
            &format!("it panicked: flaky failure on attempt {attempt}")
        );
    }
    assert_eq!(ctx.get::<i32>("flaky-panic"), Some(42));
}

/// Returns `Err` on its first `failures` attempts, then `Ok`.
#[derive(Clone)]
struct FlakyResult {
    failures: usize,
    runs: Runs,
}

#[durable(key = "flaky-result", retries = 3, backoff = "1ms")]
impl FlakyResult {
    fn run(&self) -> Result<i32, String> {
        self.runs.hit();
        let attempt = self.runs.count();
        if attempt <= self.failures {
            return Err(format!("not yet ({attempt})"));
        }
        Ok(7)
    }
}

async fn flaky_result(
    ctx: &Arc<Context>,
    failures: usize,
    runs: &Runs,
) -> (Result<i32, String>, RunReport, Retries) {
    let dag = DagRunner::new();
    let (d, retries) = recording_retries(DurableDag::new(&dag, ctx.clone()));
    let flaky = d
        .task(FlakyResult {
            failures,
            runs: runs.clone(),
        })
        .depends_on(());
    let report = d.run(spawn).await.unwrap();
    (dag.get(flaky).unwrap(), report, retries)
}

#[tokio::test]
async fn a_task_that_returns_err_twice_succeeds_on_its_third_attempt() {
    let ctx = memory();
    let runs = Runs::new();
    let (output, report, retries) = flaky_result(&ctx, 2, &runs).await;
    assert_eq!(output, Ok(7));
    assert_eq!(runs.count(), 3);
    assert_eq!(
        (report.runs[0].attempts, report.runs[0].persisted),
        (3, true)
    );
    let attempts: Vec<u32> = retries.lock().unwrap().iter().map(|r| r.1).collect();
    assert_eq!(attempts, [1, 2]);
    assert!(retries
        .lock()
        .unwrap()
        .iter()
        .all(|(key, _, error)| key == "flaky-result" && error.starts_with("it returned Err")));
    assert_eq!(ctx.get::<Result<i32, String>>("flaky-result"), Some(Ok(7)));
}

#[tokio::test]
async fn an_err_on_every_attempt_is_passed_on_with_the_attempt_count_and_not_stored() {
    let ctx = memory();
    let runs = Runs::new();
    let (output, report, retries) = flaky_result(&ctx, usize::MAX, &runs).await;
    assert_eq!(output, Err("not yet (4)".to_owned()));
    assert_eq!(runs.count(), 4);
    assert_eq!(
        report.runs,
        [TaskRun {
            key: "flaky-result".into(),
            reason: Miss::NoRecord,
            persisted: false,
            attempts: 4
        }]
    );
    assert_eq!(report.not_persisted, 1);
    assert_eq!(retries.lock().unwrap().len(), 3);
    assert_eq!(ctx.get::<Result<i32, String>>("flaky-result"), None);

    // Not stored, so the next run tries again (and now succeeds at once).
    let runs = Runs::new();
    let (output, report, _) = flaky_result(&ctx, 0, &runs).await;
    assert_eq!((output, report.runs[0].attempts), (Ok(7), 1));
}

/// Always panics; declared without options, retried through `task_with`.
#[derive(Clone)]
struct AlwaysPanics {
    runs: Runs,
}

#[durable(key = "always-panics")]
impl AlwaysPanics {
    fn run(&self) -> i32 {
        self.runs.hit();
        panic!("broken for good");
    }
}

#[tokio::test]
async fn a_panic_on_every_attempt_reports_the_attempt_count_and_stores_nothing() {
    let ctx = memory();
    let dag = DagRunner::new();
    let (d, retries) = recording_retries(DurableDag::new(&dag, ctx.clone()));
    let runs = Runs::new();
    let options = TaskOptions::DEFAULT
        .retries(2)
        .backoff(Duration::from_millis(1));
    let broken = d
        .task_with(AlwaysPanics { runs: runs.clone() }, options)
        .depends_on(());
    let downstream = d.task(Double { runs: Runs::new() }).depends_on(broken);
    let error = d.run(spawn).await.unwrap_err();

    match &error {
        DuraflowError::TaskPanicked { key, message } => {
            assert_eq!(key, "always-panics");
            assert_eq!(message, "broken for good (failed on all 3 attempts)");
        }
        other => panic!("expected TaskPanicked, got {other:?}"),
    }
    assert_eq!(runs.count(), 3);
    assert_eq!(retries.lock().unwrap().len(), 2);
    assert!(dag.get(downstream).is_err());
    assert_eq!(ctx.get::<i32>("always-panics"), None);
    assert_eq!(ctx.get::<i32>("double"), None);
}

#[tokio::test]
async fn task_with_retries_a_task_declared_without_retries() {
    let ctx = memory();
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let runs = Runs::new();
    let options = TaskOptions::DEFAULT
        .retries(2)
        .backoff(Duration::from_millis(1));
    let flaky = d
        .task_with(
            FlakyResult {
                failures: 2,
                runs: runs.clone(),
            },
            options,
        )
        .depends_on(());
    let report = d.run(spawn).await.unwrap();
    assert_eq!(dag.get(flaky).unwrap(), Ok(7));
    assert_eq!(report.runs[0].attempts, 3);
    assert_eq!(runs.count(), 3);
}

/// Sleeps far longer than its timeout.
#[derive(Clone)]
struct Sleepy {
    runs: Runs,
}

#[durable(key = "sleepy", timeout = "50ms")]
impl Sleepy {
    async fn run(&self) -> i32 {
        self.runs.hit();
        tokio::time::sleep(Duration::from_secs(10)).await;
        1
    }
}

#[tokio::test]
async fn a_task_past_its_timeout_fails_with_timed_out_and_stores_nothing() {
    let ctx = memory();
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let runs = Runs::new();
    d.task(Sleepy { runs: runs.clone() }).depends_on(());
    let error = d.run(spawn).await.unwrap_err();
    match error {
        DuraflowError::TimedOut {
            key,
            after,
            attempts,
        } => {
            assert_eq!(key, "sleepy");
            assert_eq!(after, Duration::from_millis(50));
            assert_eq!(attempts, 1);
        }
        other => panic!("expected TimedOut, got {other:?}"),
    }
    assert_eq!(runs.count(), 1);
    assert_eq!(ctx.get::<i32>("sleepy"), None);
}

#[tokio::test]
async fn every_attempt_gets_its_own_timeout() {
    let ctx = memory();
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let runs = Runs::new();
    let options = <Sleepy as duraflow::DurableTask>::OPTIONS
        .retries(1)
        .backoff(Duration::from_millis(1));
    d.task_with(Sleepy { runs: runs.clone() }, options)
        .depends_on(());
    match d.run(spawn).await.unwrap_err() {
        DuraflowError::TimedOut { key, attempts, .. } => {
            assert_eq!((key.as_str(), attempts), ("sleepy", 2));
        }
        other => panic!("expected TimedOut, got {other:?}"),
    }
    assert_eq!(runs.count(), 2);
    assert_eq!(ctx.get::<i32>("sleepy"), None);
}

#[tokio::test]
async fn a_dsl_node_with_an_explicit_key_keeps_the_attribute_options() {
    let ctx = memory();
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let runs = Runs::new();
    duraflow::durable_dag! {
        dag: d;
        flaky @ "flaky-under-another-key" = FlakyPanic { failures: 2, runs: runs.clone() } <- x;
        x @ "x" = Source { name: "x", value: 1, runs: Runs::new() };
    }
    let report = d.run(spawn).await.unwrap();
    assert_eq!(dag.get(flaky).unwrap(), 2);
    let run = report
        .runs
        .iter()
        .find(|run| run.key == "flaky-under-another-key");
    assert_eq!(run.map(|run| run.attempts), Some(3));
}
