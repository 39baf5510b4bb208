//! Typed events: the total first, then per task Started → Restored, or Started → Missed →
//! Executed → Persisted, or Failed; the seed's progress callback keeps working beside them.

use dagx::{task, DagRunner, Task, TaskHandle};
use duraflow::{Context, DurableDag, DuraflowError, Event, MemoryStore, Miss};
use std::sync::{Arc, Mutex};

struct Load(i32);
#[task]
impl Load {
    async fn run(&self) -> i32 {
        self.0
    }
}

struct Half;
#[task]
impl Half {
    async fn run(x: &i32) -> Result<i32, String> {
        if x % 2 == 0 {
            Ok(x / 2)
        } else {
            Err(format!("{x} is odd"))
        }
    }
}

struct Boom;
#[task]
impl Boom {
    async fn run(_x: &i32) -> i32 {
        panic!("boom")
    }
}

type Log = Arc<Mutex<Vec<String>>>;

fn recorder() -> (Log, impl Fn(&Event<'_>) + Send + Sync + 'static) {
    let log = Log::default();
    let sink = log.clone();
    let handler = move |event: &Event<'_>| {
        let line = match event {
            Event::RunStarted { total } => format!("start {total}"),
            Event::Started { key } => format!("{key} started"),
            Event::Restored { key, total, .. } => format!("{key} restored of {total:?}"),
            Event::Missed { key, reason } => format!("{key} missed: {reason}"),
            Event::Executed { key, total, .. } => format!("{key} executed of {total:?}"),
            Event::Persisted { key } => format!("{key} persisted"),
            Event::Failed { key, error } => format!("{key} failed: {error}"),
            Event::RunFinished { report } => {
                format!("finish {} {}", report.executed, report.restored)
            }
            other => format!("{other}"),
        };
        sink.lock().unwrap().push(line);
    };
    (log, handler)
}

fn lines_of(log: &Log, key: &str) -> Vec<String> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|line| line.starts_with(&format!("{key} ")))
        .cloned()
        .collect()
}

async fn run(
    ctx: &Arc<Context>,
    value: i32,
) -> (
    Log,
    Result<duraflow::RunReport, DuraflowError>,
    Arc<Mutex<Vec<(String, usize)>>>,
) {
    let (log, handler) = recorder();
    let progress = Arc::new(Mutex::new(Vec::new()));
    let seen = progress.clone();
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone())
        .with_progress(move |key, completed| seen.lock().unwrap().push((key.to_owned(), completed)))
        .with_events(handler);
    let load: TaskHandle<i32> = d.add("load", Load(value)).into();
    d.add("half", Half).depends_on(load);
    let result = d
        .run(|f| {
            tokio::spawn(f);
        })
        .await;
    (log, result, progress)
}

#[tokio::test]
async fn events_follow_each_task_through_a_fresh_and_a_resumed_run() {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    let (log, result, progress) = run(&ctx, 8).await;
    result.expect("fresh run");
    assert_eq!(
        log.lock().unwrap().first().map(String::as_str),
        Some("start 2")
    );
    assert_eq!(
        log.lock().unwrap().last().map(String::as_str),
        Some("finish 2 0")
    );
    assert_eq!(
        lines_of(&log, "load"),
        [
            "load started",
            "load missed: no record",
            "load executed of Some(2)",
            "load persisted"
        ]
    );
    assert_eq!(
        lines_of(&log, "half"),
        [
            "half started",
            "half missed: no record",
            "half executed of Some(2)",
            "half persisted"
        ]
    );
    assert_eq!(
        *progress.lock().unwrap(),
        [("load".to_owned(), 1), ("half".to_owned(), 2)]
    );

    let (log, result, progress) = run(&ctx, 8).await;
    result.expect("resumed run");
    assert_eq!(
        lines_of(&log, "load"),
        ["load started", "load restored of Some(2)"]
    );
    assert_eq!(
        lines_of(&log, "half"),
        ["half started", "half restored of Some(2)"]
    );
    assert_eq!(
        log.lock().unwrap().last().map(String::as_str),
        Some("finish 0 2")
    );
    assert_eq!(
        *progress.lock().unwrap(),
        [("load".to_owned(), 3), ("half".to_owned(), 4)]
    );
}

#[tokio::test]
async fn an_err_output_is_executed_not_persisted_and_reported_as_failed() {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    let (log, result, _) = run(&ctx, 7).await;
    let report = result.expect("an Err output is not a failed run");
    assert_eq!(report.not_persisted, 1);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].key, "half");
    assert!(report.failed[0].message.contains("7 is odd"));
    assert_eq!(
        lines_of(&log, "half"),
        [
            "half started",
            "half missed: no record",
            "half failed: task `half` returned an error: 7 is odd; it was not stored, so the \
             task runs again on the next run",
            "half executed of Some(2)"
        ]
    );
}

#[tokio::test]
async fn a_panic_is_a_failed_event_with_the_error() {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    let (log, handler) = recorder();
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx).with_events(handler);
    let load: TaskHandle<i32> = d.add("load", Load(1)).into();
    d.add("boom", Boom).depends_on(load);
    let error = d
        .run(|f| {
            tokio::spawn(f);
        })
        .await
        .expect_err("the panic fails the run");
    assert!(matches!(error, DuraflowError::TaskPanicked { ref key, .. } if key == "boom"));
    let boom = lines_of(&log, "boom");
    assert_eq!(boom.len(), 3, "{boom:?}");
    assert_eq!(boom[1], "boom missed: no record");
    assert!(
        boom[2].starts_with("boom failed: task `boom` panicked: boom"),
        "{}",
        boom[2]
    );
    assert!(!Miss::NoRecord.to_string().is_empty());
}
