//! Inline restores: in a DAG of durable tasks alone, `DurableDag::run` polls each task of a
//! wide layer once before handing it to the spawner, so a restored task is never scheduled.
//! What must hold: values, reports and events are as with spawned tasks; a task that must
//! run, a record too large to decode on the spawning thread, and any DAG holding a plain dagx
//! task all still go to the spawner.

// dagx hands a task a reference to its input's type: `&Vec<u8>`.
#![allow(clippy::ptr_arg)]

use dagx::{task, DagRunner, Task, TaskHandle};
use duraflow::{Context, DurableDag, Event, MemoryStore, RedbStore};
use futures::future::BoxFuture;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

struct Blob(usize, usize);
#[task]
impl Blob {
    /// `self.0` bytes, all `self.1 as u8`.
    async fn run(&self) -> Vec<u8> {
        vec![self.1 as u8; self.0]
    }
}

struct Len;
#[task]
impl Len {
    async fn run(blob: &Vec<u8>) -> usize {
        blob.len()
    }
}

struct Plain;
#[task]
impl Plain {
    async fn run(&self) -> u8 {
        9
    }
}

/// A tokio spawner, and how many tasks it was handed.
fn counting_spawner() -> (Arc<AtomicUsize>, impl Fn(BoxFuture<'static, ()>)) {
    let spawned = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&spawned);
    let spawner = move |f: BoxFuture<'static, ()>| {
        count.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(f);
    };
    (spawned, spawner)
}

/// What one run did: tasks handed to the spawner, the report, and the events.
struct Ran {
    spawned: usize,
    report: duraflow::RunReport,
    restored_events: usize,
    lengths: Vec<usize>,
}

/// `width` sources of `size` bytes, each with a dependent; with `plain`, a plain dagx task
/// beside them.
async fn run(ctx: &Arc<Context>, width: usize, size: usize, plain: bool) -> Ran {
    let dag = DagRunner::new();
    let restored_events = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&restored_events);
    let d = DurableDag::new(&dag, Arc::clone(ctx)).with_events(move |event| {
        if matches!(event, Event::Restored { .. }) {
            seen.fetch_add(1, Ordering::Relaxed);
        }
    });
    let lengths: Vec<TaskHandle<usize>> = (0..width)
        .map(|i| {
            let blob: TaskHandle<Vec<u8>> = d.add(&format!("blob-{i}"), Blob(size, i)).into();
            d.add(&format!("len-{i}"), Len).depends_on(blob)
        })
        .collect();
    if plain {
        dag.add_task(Plain);
    }
    let (spawned, spawner) = counting_spawner();
    let report = d.run(spawner).await.expect("run");
    Ran {
        spawned: spawned.load(Ordering::Relaxed),
        report,
        restored_events: restored_events.load(Ordering::Relaxed),
        lengths: lengths.into_iter().map(|h| dag.get(h).unwrap()).collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_wide_layer_is_restored_without_being_scheduled() {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    let fresh = run(&ctx, 50, 100, false).await;
    assert_eq!(fresh.report.executed, 100);
    assert!(
        fresh.spawned >= 100,
        "fresh tasks run where the spawner puts them"
    );
    assert_eq!(fresh.lengths, vec![100; 50]);

    let resumed = run(&ctx, 50, 100, false).await;
    assert_eq!((resumed.report.executed, resumed.report.restored), (0, 100));
    assert_eq!(resumed.spawned, 0, "restored tasks are not scheduled");
    assert_eq!(resumed.restored_events, 100);
    assert_eq!(resumed.lengths, vec![100; 50]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefetched_store_restores_inline_too() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = Arc::new(Context::new(
        RedbStore::open(dir.path().join("records.redb")).unwrap(),
    ));
    run(&ctx, 40, 10, false).await;
    let resumed = run(&ctx, 40, 10, false).await;
    assert_eq!((resumed.report.restored, resumed.spawned), (80, 0));
    assert_eq!(resumed.lengths, vec![10; 40]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_records_are_decoded_where_the_spawner_runs_tasks() {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    run(&ctx, 20, 64 * 1024, false).await;
    let resumed = run(&ctx, 20, 64 * 1024, false).await;
    assert_eq!(resumed.report.restored, 40);
    // The 20 blobs are too large to decode inline; their small dependents are restored
    // inline until this run stops trying (at most 8 tasks go to the spawner that way).
    assert!(resumed.spawned >= 20, "{} spawned", resumed.spawned);
    assert_eq!(resumed.lengths, vec![64 * 1024; 20]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dag_with_a_plain_task_is_never_polled_inline() {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    run(&ctx, 30, 10, true).await;
    let resumed = run(&ctx, 30, 10, true).await;
    assert_eq!(resumed.report.restored, 60);
    // Every task, restored or plain, went to the spawner.
    assert!(resumed.spawned >= 61, "{} spawned", resumed.spawned);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partly_resumed_run_runs_the_rest_where_the_spawner_puts_it() {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    run(&ctx, 40, 10, false).await;
    for i in 0..40 {
        ctx.remove(&format!("len-{i}")).unwrap();
    }
    let resumed = run(&ctx, 40, 10, false).await;
    assert_eq!((resumed.report.executed, resumed.report.restored), (40, 40));
    assert!(resumed.spawned >= 40, "{} spawned", resumed.spawned);
    assert_eq!(resumed.lengths, vec![10; 40]);
}

struct Seed(u32);
#[duraflow::durable(key = "seed-{0}")]
impl Seed {
    async fn run(&self) -> u32 {
        self.0
    }
}

#[derive(serde::Serialize)]
struct Square(u32);
#[duraflow::durable(key = "square-{0}", cache = inputs)]
impl Square {
    async fn run(&self, seed: &u32) -> u32 {
        seed * seed
    }
}

/// Tasks spawned for a DAG of `width` seeds, each with a `cache = inputs` dependent.
async fn run_fingerprinted(ctx: &Arc<Context>, width: u32) -> (usize, duraflow::RunReport) {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, Arc::clone(ctx));
    for i in 0..width {
        let seed: TaskHandle<u32> = d.task(Seed(i)).into();
        d.task(Square(i)).depends_on(seed);
    }
    let (spawned, spawner) = counting_spawner();
    let report = d.run(spawner).await.expect("run");
    (spawned.load(Ordering::Relaxed), report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_that_fingerprint_their_inputs_are_not_restored_inline() {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    run_fingerprinted(&ctx, 30).await;
    let (spawned, report) = run_fingerprinted(&ctx, 30).await;
    assert_eq!(report.restored, 60);
    // The seeds are restored inline; the squares fingerprint their inputs where the spawner
    // runs them.
    assert_eq!(spawned, 30);
}
