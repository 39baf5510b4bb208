//! The figures of BENCHMARKS.md's section on `ObjectStore`: tasks/s and MB/s of runs against
//! moto's S3 server on loopback (see `duraflow_tests::s3_server`). A measurement, not a test:
//! it asserts only that each run did what it should, and is ignored by default. Run it with
//!
//! ```sh
//! cargo test --release -p duraflow-tests --test object_store_figures -- --ignored --nocapture
//! ```

use dagx::{task, DagRunner, Task};
use duraflow::object_store::memory::InMemory;
use duraflow::{Context, DurableDag, ObjectStore, RedbStore, Storage};
use duraflow_tests::s3_server::S3Server;
use std::sync::Arc;
use std::time::Instant;

/// Returns `len` bytes that depend on `seed` (made at memory speed: the store is measured).
struct Blob {
    seed: u64,
    len: usize,
}

#[task]
impl Blob {
    async fn run(&self) -> Vec<u8> {
        vec![(self.seed % 251) as u8; self.len]
    }
}

/// Runs `tasks` independent tasks of `len` bytes each against `store`; prints and returns
/// `(executed, restored)`.
async fn run(what: &str, store: impl Storage + 'static, tasks: u64, len: usize) -> (usize, usize) {
    let ctx = Arc::new(Context::new(store));
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx).with_journal(false);
    for seed in 0..tasks {
        d.add(&format!("blob-{len}-{seed}"), Blob { seed, len });
    }
    let started = Instant::now();
    let report = d.run(|f| drop(tokio::spawn(f))).await.expect("the run");
    let seconds = started.elapsed().as_secs_f64();
    let megabytes = (tasks as usize * len) as f64 / 1e6;
    println!(
        "{tasks:>6} tasks x {len:>9} B  {what:<34} {:>8.0} tasks/s {:>8.1} MB/s ({seconds:.2} s)",
        tasks as f64 / seconds,
        megabytes / seconds,
    );
    (report.executed, report.restored)
}

/// The runs of one size: fresh and restored on a bucket, through a new local store, and
/// from that local store.
const SIZES: [(u64, usize); 3] = [(2_000, 1_000), (200, 100_000), (20, 10_000_000)];

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement: see the module's doc for the command"]
async fn fresh_and_restored_runs_against_a_loopback_server() {
    let server = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    for (tasks, len) in SIZES {
        let prefix = format!("figures-{len}");
        let all = (tasks as usize, 0);
        let none = (0, tasks as usize);
        let bucket = || server.open(&prefix).unwrap();
        assert_eq!(run("fresh", bucket(), tasks, len).await, all);
        assert_eq!(
            run("restored from the bucket", bucket(), tasks, len).await,
            none
        );
        let local = || RedbStore::open(dir.path().join(format!("{len}.redb"))).unwrap();
        let cached = "restored through a new local store";
        assert_eq!(
            run(cached, bucket().cached(local()), tasks, len).await,
            none
        );
        let again = "restored from the local store";
        assert_eq!(run(again, bucket().cached(local()), tasks, len).await, none);
    }
}

/// The same runs on `object_store`'s in-memory store: what the store costs without a server.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement: see the module's doc for the command"]
async fn fresh_and_restored_runs_without_a_server() {
    let memory: Arc<dyn duraflow::object_store::ObjectStore> = Arc::new(InMemory::new());
    for (tasks, len) in SIZES {
        let bucket = || ObjectStore::new(Arc::clone(&memory), "figures", "memory").unwrap();
        let (all, none) = ((tasks as usize, 0), (0, tasks as usize));
        assert_eq!(run("fresh, in memory", bucket(), tasks, len).await, all);
        let restored = "restored, in memory";
        assert_eq!(run(restored, bucket(), tasks, len).await, none);
    }
}
