//! A store that says its calls may block (`Storage::is_blocking`, the default) is called off
//! the async runtime's threads, so its I/O cannot stall the runtime.

mod common;

use common::{spawn, Load, Mul};
use dagx::DagRunner;
use duraflow::{Context, Durable, DurableDag, FailedWrite, MemoryStore, Storage};
use std::io;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

/// A blocking store (over a `MemoryStore`) that records which calls ran on `runtime`.
struct WatchedStore {
    records: MemoryStore,
    runtime: ThreadId,
    calls_on_runtime: Mutex<Vec<&'static str>>,
}

impl WatchedStore {
    fn new() -> Self {
        Self {
            records: MemoryStore::new(),
            runtime: std::thread::current().id(),
            calls_on_runtime: Mutex::default(),
        }
    }

    fn check(&self, call: &'static str) {
        if std::thread::current().id() == self.runtime {
            self.calls_on_runtime.lock().unwrap().push(call);
        }
    }

    fn calls_on_runtime(&self) -> Vec<&'static str> {
        let mut calls = self.calls_on_runtime.lock().unwrap().clone();
        calls.sort_unstable();
        calls.dedup();
        calls
    }
}

impl Storage for WatchedStore {
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        self.check("get");
        self.records.get(key)
    }
    fn get_many(&self, keys: &[&str]) -> io::Result<Vec<Option<Vec<u8>>>> {
        self.check("get_many");
        self.records.get_many(keys)
    }
    fn put(&self, key: &str, record: Vec<u8>) -> io::Result<()> {
        self.check("put");
        self.records.put(key, record)
    }
    fn remove(&self, key: &str) -> io::Result<()> {
        self.check("remove");
        self.records.remove(key)
    }
    fn flush(&self) -> Result<(), FailedWrite> {
        self.check("flush");
        self.records.flush()
    }
    fn keys(&self) -> io::Result<Vec<String>> {
        self.check("keys");
        self.records.keys()
    }
}

/// Runs a two-task DAG twice (fresh, then restored) and a one-off `run_result`, on the
/// current-thread runtime this test runs on.
async fn exercise(store: &Arc<WatchedStore>) {
    let ctx = Arc::new(Context {
        db: store.clone(),
        completed_count: Arc::default(),
    });
    for expected_executed in [2, 0] {
        let dag = DagRunner::new();
        let d = DurableDag::new(&dag, ctx.clone());
        let a = d.add("a", Load(2));
        let b = d.add("b", Mul(21)).depends_on(&a);
        let report = d.run(spawn).await.unwrap();
        assert_eq!(report.executed, expected_executed);
        assert_eq!(dag.get(b).unwrap(), 42);
    }
    let out = Durable::new("one-off", ctx.clone(), Load(1), None)
        .run_result(())
        .await
        .unwrap();
    assert_eq!(out, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn reads_and_flushes_of_a_blocking_store_run_off_the_runtime() {
    let store = Arc::new(WatchedStore::new());
    exercise(&store).await;
    let reads_and_flushes: Vec<_> = store
        .calls_on_runtime()
        .into_iter()
        .filter(|call| *call != "put")
        .collect();
    assert_eq!(reads_and_flushes, Vec::<&str>::new());
}

#[tokio::test(flavor = "current_thread")]
async fn puts_of_a_blocking_store_run_off_the_runtime() {
    let store = Arc::new(WatchedStore::new());
    exercise(&store).await;
    assert_eq!(store.calls_on_runtime(), Vec::<&str>::new());
}
