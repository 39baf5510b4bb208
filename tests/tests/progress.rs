//! The progress callback fires once per completed task, executed or restored, with the
//! running count; `completed_count` ends at the number of tasks.

mod common;

use common::{spawn, Add, Load, MaybePanic, Mul, Runs};
use dagx::DagRunner;
use duraflow::{Context, DurableDag, DuraflowError, MemoryStore, Storage};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

type Events = Arc<Mutex<Vec<(String, usize)>>>;

/// 12 tasks: a wide first layer of 8 loads, pairs multiplied, then summed.
const TASKS: usize = 12;

fn all_keys() -> BTreeSet<String> {
    let mut keys: BTreeSet<String> = (0..8).map(|i| format!("load-{i}")).collect();
    keys.extend((0..2).map(|i| format!("mul-{i}")));
    keys.extend(["sum".to_owned(), "double".to_owned()]);
    keys
}

/// Builds and runs the DAG with a progress callback recording every call.
async fn run(ctx: Arc<Context>) -> (Result<duraflow::RunReport, DuraflowError>, Events, i32) {
    let events: Events = Arc::default();
    let log = Arc::clone(&events);
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx).with_progress(move |key, completed| {
        log.lock().unwrap().push((key.to_owned(), completed));
    });
    let loads: Vec<_> = (0..8)
        .map(|i| d.add(&format!("load-{i}"), Load(i)))
        .collect();
    let m0 = d.add("mul-0", Mul(2)).depends_on(&loads[3]);
    let m1 = d.add("mul-1", Mul(3)).depends_on(&loads[7]);
    let sum = d.add("sum", Add).depends_on((&m0, &m1));
    let double = d.add("double", Mul(2)).depends_on(sum);
    let report = d.run(spawn).await;
    let out = dag.get(double).unwrap_or(-1);
    (report, events, out)
}

fn fresh_counter(db: Arc<dyn Storage + Send + Sync>) -> Arc<Context> {
    Arc::new(Context {
        db,
        completed_count: Arc::new(AtomicUsize::new(0)),
    })
}

fn assert_once_per_task(events: &Events, first: usize) {
    let events = events.lock().unwrap();
    assert_eq!(events.len(), TASKS, "{events:?}");
    let keys: BTreeSet<String> = events.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(keys, all_keys(), "each task once");
    let mut counts: Vec<usize> = events.iter().map(|(_, n)| *n).collect();
    counts.sort_unstable();
    assert_eq!(counts, (first..first + TASKS).collect::<Vec<_>>());
}

#[tokio::test]
async fn progress_fires_once_per_executed_task_then_once_per_restored_task() {
    let db: Arc<dyn Storage + Send + Sync> = Arc::new(MemoryStore::new());

    let ctx = fresh_counter(db.clone());
    let (report, events, out) = run(ctx.clone()).await;
    assert_eq!(report.unwrap().executed, TASKS);
    assert_eq!(out, (3 * 2 + 7 * 3) * 2);
    assert_once_per_task(&events, 1);
    assert_eq!(ctx.completed_count.load(Ordering::SeqCst), TASKS);

    let ctx = fresh_counter(db.clone());
    let (report, events, out) = run(ctx.clone()).await;
    assert_eq!(report.unwrap().restored, TASKS);
    assert_eq!(out, 54);
    assert_once_per_task(&events, 1);
    assert_eq!(ctx.completed_count.load(Ordering::SeqCst), TASKS);
}

#[tokio::test]
async fn the_counter_of_a_reused_context_keeps_counting() {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    run(ctx.clone()).await.0.unwrap();
    let (_, events, _) = run(ctx.clone()).await;
    assert_once_per_task(&events, TASKS + 1);
    assert_eq!(ctx.completed_count.load(Ordering::SeqCst), 2 * TASKS);
}

#[tokio::test]
async fn a_partly_restored_run_reports_every_task_once() {
    let db: Arc<dyn Storage + Send + Sync> = Arc::new(MemoryStore::new());
    let seed = Context {
        db: db.clone(),
        completed_count: Arc::default(),
    };
    for i in [0, 3, 5] {
        seed.save(&format!("load-{i}"), &i).unwrap();
    }
    seed.save("mul-1", &21i32).unwrap();

    let ctx = fresh_counter(db);
    let (report, events, out) = run(ctx.clone()).await;
    let report = report.unwrap();
    assert_eq!((report.executed, report.restored), (TASKS - 4, 4));
    assert_eq!(out, 54);
    assert_once_per_task(&events, 1);
    assert_eq!(ctx.completed_count.load(Ordering::SeqCst), TASKS);
}

#[tokio::test]
async fn progress_fires_with_dagx_own_run_too() {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    let events: Events = Arc::default();
    let log = Arc::clone(&events);
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone()).with_progress(move |key, completed| {
        log.lock().unwrap().push((key.to_owned(), completed));
    });
    let a = d.add("a", Load(1));
    d.add("b", Mul(2)).depends_on(&a);
    dag.run(spawn).await.unwrap();
    assert_eq!(
        *events.lock().unwrap(),
        vec![("a".to_owned(), 1), ("b".to_owned(), 2)]
    );
}

#[tokio::test]
async fn a_panicking_task_is_not_counted_as_completed() {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    let events: Events = Arc::default();
    let log = Arc::clone(&events);
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone()).with_progress(move |key, completed| {
        log.lock().unwrap().push((key.to_owned(), completed));
    });
    d.add("fine", Load(1));
    d.add(
        "broken",
        MaybePanic {
            value: 0,
            panic_with: Some("no"),
            runs: Runs::new(),
        },
    );
    assert!(d.run(spawn).await.is_err());
    assert_eq!(*events.lock().unwrap(), vec![("fine".to_owned(), 1)]);
    assert_eq!(ctx.completed_count.load(Ordering::SeqCst), 1);
}
