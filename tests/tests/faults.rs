//! Fault injection: every store operation of a 232-task run fails in turn (EIO), or is
//! delayed; the run reports an error naming a task key, and the next, fault-free run on the
//! same store completes with every output and record right.

use duraflow::{Context, DuraflowError, FileStore, MemoryStore, RedbStore, Storage};
use duraflow_tests::faults::{Fault, FaultyStore};
use duraflow_tests::SideLog;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

type Store = Arc<dyn Storage + Send + Sync>;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("tokio runtime")
}

fn run(rt: &tokio::runtime::Runtime, store: Store) -> Result<BTreeMap<String, u64>, DuraflowError> {
    let ctx = Arc::new(Context {
        db: store,
        completed_count: Default::default(),
    });
    rt.block_on(duraflow_tests::run(ctx, &SideLog::default()))
        .map(|(_, outputs)| outputs)
}

fn reference(rt: &tokio::runtime::Runtime) -> BTreeMap<String, u64> {
    run(rt, Arc::new(MemoryStore::new())).expect("reference run")
}

/// Opens the store under test (the in-memory one lives in `memory`, to survive "reopening").
fn open(kind: &str, path: &Path, memory: &Arc<MemoryStore>) -> Store {
    match kind {
        "memory" => memory.clone(),
        "file" => Arc::new(FileStore::new(path).expect("FileStore")),
        _ => Arc::new(RedbStore::open(path).expect("RedbStore")),
    }
}

fn check_records(store: &Store, reference: &BTreeMap<String, u64>) {
    let ctx = Context {
        db: store.clone(),
        completed_count: Default::default(),
    };
    for key in store.keys().expect("keys") {
        let expected = reference.get(&key).expect("only DAG keys are stored");
        assert_eq!(
            ctx.try_get::<u64>(&key).expect("readable"),
            Some(*expected),
            "{key}"
        );
    }
}

/// Every operation index in turn gets `fault`.
fn inject_everywhere(kind: &str) {
    let rt = runtime();
    let reference = reference(&rt);
    let counting_dir = tempfile::tempdir().expect("temp dir");
    let counted = Arc::new(FaultyStore::new(
        open(
            kind,
            &counting_dir.path().join("store"),
            &Arc::new(MemoryStore::new()),
        ),
        usize::MAX,
        Fault::Error(libc::EIO),
    ));
    run(&rt, counted.clone()).expect("a fault-free run");
    let operations = counted.operations();
    assert!(operations > reference.len(), "every task touches the store");

    let chosen: Vec<usize> = (0..operations).collect();
    let (mut failed_runs, mut recovered) = (0, 0);
    for &at in &chosen {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("store");
        let memory = Arc::new(MemoryStore::new());
        let faulty = Arc::new(FaultyStore::new(
            open(kind, &path, &memory),
            at,
            Fault::Error(libc::EIO),
        ));
        match run(&rt, faulty.clone()) {
            Ok(outputs) => {
                // Only a failed prefetch is recovered from: each task then reads its own record.
                assert_eq!(outputs, reference, "fault at op {at}");
                recovered += 1;
            }
            Err(error) => {
                failed_runs += 1;
                let key = match &error {
                    DuraflowError::Persist { key, .. } | DuraflowError::Load { key, .. } => key,
                    other => panic!("fault at op {at}: unexpected error {other}"),
                };
                assert!(reference.contains_key(key), "op {at}: error names {key:?}");
                let message = error.to_string();
                assert!(
                    message.contains(key.as_str()),
                    "message names the key: {message}"
                );
                assert!(message.contains("Input/output error"), "{message}");
            }
        }
        drop(faulty);
        // The next run, fault-free, on the same store: complete and right.
        let store = open(kind, &path, &memory);
        check_records(&store, &reference);
        assert_eq!(run(&rt, store.clone()).expect("resumed run"), reference);
        check_records(&store, &reference);
    }
    eprintln!(
        "{kind}: {} faults injected (of {operations} operations), {failed_runs} failed runs \
         naming their key, {recovered} recovered, no wrong value",
        chosen.len()
    );
    assert!(failed_runs > chosen.len() / 2);
}

#[test]
fn every_failing_operation_on_memory_store_is_reported_and_loses_nothing() {
    inject_everywhere("memory");
}

#[test]
fn every_failing_operation_on_file_store_is_reported_and_loses_nothing() {
    inject_everywhere("file");
}

#[test]
fn every_failing_operation_on_redb_store_is_reported_and_loses_nothing() {
    inject_everywhere("redb");
}

#[test]
fn delayed_operations_change_nothing() {
    let rt = runtime();
    let reference = reference(&rt);
    for at in [0, 1, 7, 100, 233] {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Arc::new(FileStore::new(dir.path()).expect("FileStore"));
        let slow = Arc::new(FaultyStore::new(
            store,
            at,
            Fault::Delay(Duration::from_millis(30)),
        ));
        assert_eq!(
            run(&rt, slow).expect("a slow store is still right"),
            reference
        );
    }
}
