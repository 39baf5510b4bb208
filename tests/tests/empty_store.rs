//! A run that starts on a store holding no record at all (`Storage::holds_nothing`) looks up
//! no task's record; any record in the store, even another DAG's, makes tasks look again.

mod common;

use common::{spawn, Load, Mul};
use dagx::DagRunner;
use duraflow::{Context, DurableDag, FailedWrite, MemoryStore, Storage};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A `MemoryStore` that counts reads of single records.
#[derive(Default)]
struct CountedReads {
    records: MemoryStore,
    reads: AtomicUsize,
}

impl CountedReads {
    fn reads(&self) -> usize {
        self.reads.swap(0, Ordering::SeqCst)
    }
}

impl Storage for CountedReads {
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.records.get(key)
    }
    fn read_with(&self, key: &str, read: &mut dyn FnMut(Option<&[u8]>)) -> io::Result<()> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.records.read_with(key, read)
    }
    fn put(&self, key: &str, record: Vec<u8>) -> io::Result<()> {
        self.records.put(key, record)
    }
    fn holds_nothing(&self) -> bool {
        self.records.holds_nothing()
    }
    fn remove(&self, key: &str) -> io::Result<()> {
        self.records.remove(key)
    }
    fn flush(&self) -> Result<(), FailedWrite> {
        self.records.flush()
    }
    fn keys(&self) -> io::Result<Vec<String>> {
        self.records.keys()
    }
    fn is_blocking(&self) -> bool {
        false
    }
}

/// Runs a ten-task chain and returns how many tasks ran and its last value.
async fn chain(ctx: &Arc<Context>) -> (usize, i32) {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let mut last = d.add("chain-0", Load(1)).into();
    for i in 1..10 {
        last = d.add(&format!("chain-{i}"), Mul(2)).depends_on(last);
    }
    let report = d.run(spawn).await.unwrap();
    (report.executed, dag.get(last).unwrap())
}

#[tokio::test]
async fn a_run_on_an_empty_store_reads_nothing_and_the_next_restores_everything() {
    let store = Arc::new(CountedReads::default());
    let ctx = Arc::new(Context::new(store.clone()));
    assert_eq!(chain(&ctx).await, (10, 512));
    assert_eq!(
        store.reads(),
        0,
        "a first run on an empty store looked records up"
    );
    assert_eq!(chain(&ctx).await, (0, 512));
}

#[tokio::test]
async fn a_store_with_any_record_is_read_for_every_task() {
    let store = Arc::new(CountedReads::default());
    let ctx = Arc::new(Context::new(store.clone()));
    ctx.save("another-dag", &5i32).unwrap();
    store.reads();
    assert_eq!(chain(&ctx).await, (10, 512));
    // The prefetch probes three keys, then every task looks its own record up.
    assert!(store.reads() >= 10, "tasks did not look their records up");
}

#[tokio::test]
async fn a_record_stored_between_runs_is_found_after_the_store_was_empty() {
    let store = Arc::new(CountedReads::default());
    let ctx = Arc::new(Context::new(store.clone()));
    // Only the middle of the chain is stored (as by another run that was cut short): the
    // next run must see it, and the tasks before it run again.
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let a = d.add("chain-0", Load(1));
    let b = d.add("chain-1", Mul(2)).depends_on(&a);
    d.run(spawn).await.unwrap();
    assert_eq!(dag.get(b).unwrap(), 2);
    store.remove("chain-0").unwrap();
    assert_eq!(chain(&ctx).await, (9, 512));
}
