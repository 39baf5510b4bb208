//! A store that says its calls may block (`Storage::is_blocking`, the default) has its reads,
//! flushes and claims called off the async runtime's threads, so its I/O cannot stall the
//! runtime. Only `put` is called where the task ran: a durable store queues it.

mod common;

use common::{spawn, Load, Mul};
use dagx::{task, DagRunner, Task};
use duraflow::{
    Claim, Context, Durable, DurableDag, FailedWrite, Found, Listed, MemoryStore, Storage,
};
use std::io;
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

/// A blocking store (over a `MemoryStore`) that coordinates workers, and records which calls
/// ran on `runtime`.
struct WatchedStore {
    records: MemoryStore,
    runtime: ThreadId,
    calls: Mutex<Vec<&'static str>>,
    calls_on_runtime: Mutex<Vec<&'static str>>,
}

impl WatchedStore {
    fn new() -> Self {
        Self {
            records: MemoryStore::new(),
            runtime: std::thread::current().id(),
            calls: Mutex::default(),
            calls_on_runtime: Mutex::default(),
        }
    }

    fn check(&self, call: &'static str) {
        self.calls.lock().unwrap().push(call);
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
    fn get_many(&self, keys: &[&str], limit: u64) -> io::Result<Vec<Found>> {
        self.check("get_many");
        self.records.get_many(keys, limit)
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
    fn list(&self) -> io::Result<Vec<Listed>> {
        self.check("list");
        self.records.list()
    }
    fn coordinates(&self) -> bool {
        true
    }
    fn claim(&self, _key: &str, _stale: Option<&[u8]>) -> io::Result<Claim> {
        self.check("claim");
        Ok(Claim::Run)
    }
    fn release(&self, _key: &str) -> io::Result<()> {
        self.check("release");
        Ok(())
    }
}

/// A task whose output is an error: not stored, so its claim is released.
struct Refuse;

#[task]
impl Refuse {
    async fn run(&self) -> Result<i32, String> {
        Err("refused".to_owned())
    }
}

/// Runs a three-task DAG twice (fresh, then restored but for the task whose output is an
/// error) and a one-off `run_result`, on the current-thread runtime this test runs on.
async fn exercise(store: &Arc<WatchedStore>) {
    let ctx = Arc::new(Context {
        db: store.clone(),
        completed_count: Arc::default(),
    });
    for expected_executed in [3, 1] {
        let dag = DagRunner::new();
        let d = DurableDag::new(&dag, ctx.clone());
        let a = d.add("a", Load(2));
        let b = d.add("b", Mul(21)).depends_on(&a);
        d.add("refused", Refuse);
        let report = d.run(spawn).await.unwrap();
        assert_eq!(report.executed, expected_executed);
        assert_eq!(dag.get(b).unwrap(), 42);
    }
    let out = Durable::new("one-off", ctx.clone(), Load(1), None)
        .run_result(())
        .await
        .unwrap();
    assert_eq!(out, 1);
    let calls = store.calls.lock().unwrap().clone();
    assert!(
        ["get_many", "put", "flush", "claim", "release"]
            .iter()
            .all(|call| calls.contains(call)),
        "the runs made every kind of call: {calls:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn only_puts_of_a_blocking_store_run_on_the_runtime() {
    let store = Arc::new(WatchedStore::new());
    exercise(&store).await;
    assert_eq!(store.calls_on_runtime(), ["put"]);
}
