//! Concurrency: two processes run the same DAG on the same store at once, and many tasks of
//! one process write at once.

use duraflow::{Context, FileStore, MemoryStore, RedbStore};
use duraflow_tests::SideLog;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

fn reference() -> BTreeMap<String, u64> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    rt.block_on(duraflow_tests::run(ctx, &SideLog::default()))
        .expect("reference run")
        .1
}

fn two_at_once(kind: &str, store: &Path, logs: &Path) -> [Output; 2] {
    let spawn = |n: u8| {
        Command::new(env!("CARGO_BIN_EXE_crash_child"))
            .arg(kind)
            .arg(store)
            .arg(logs.join(format!("log-{n}")))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("child starts")
    };
    let (a, b) = (spawn(1), spawn(2));
    [
        a.wait_with_output().expect("child 1"),
        b.wait_with_output().expect("child 2"),
    ]
}

/// Checks the records against `reference`, and that the journal holds `runs` runs.
fn check_store(ctx: &Context, reference: &BTreeMap<String, u64>, runs: usize) {
    // Beside the DAG's records, the store holds the run journal, which must read back too.
    let keys: Vec<String> = duraflow_tests::stored_keys(&*ctx.db);
    let (journal, keys): (Vec<String>, Vec<String>) = keys
        .into_iter()
        .partition(|key| key.starts_with(duraflow::JOURNAL_PREFIX));
    assert!(!journal.is_empty(), "the runs left journal entries");
    let journaled = ctx.runs().expect("the journal reads back");
    assert_eq!(
        journaled.len(),
        runs,
        "every run that finished is in the journal"
    );
    assert_eq!(keys.len(), reference.len());
    for key in keys {
        assert_eq!(
            ctx.try_get::<u64>(&key).expect("readable"),
            reference.get(&key).copied(),
            "{key}"
        );
    }
}

#[test]
fn two_processes_on_one_file_store_both_finish_right() {
    let reference = reference();
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("store");
    for output in two_at_once("file", &store, dir.path()) {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    check_store(
        &Context::new(FileStore::new(&store).expect("FileStore")),
        &reference,
        2,
    );
}

#[test]
fn two_processes_on_one_redb_store_finish_or_get_store_in_use() {
    let reference = reference();
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("store.redb");
    let outputs = two_at_once("redb", &store, dir.path());
    let mut finished = 0;
    for output in &outputs {
        if output.status.success() {
            finished += 1;
        } else {
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(3), "{stderr}");
            assert!(stderr.contains("in use by another process"), "{stderr}");
            assert!(stderr.contains("store.redb"), "names the file: {stderr}");
        }
    }
    assert!(finished >= 1, "at least one process finishes");
    check_store(
        &Context::new(RedbStore::open(&store).expect("RedbStore")),
        &reference,
        finished,
    );
}

#[test]
fn many_tasks_writing_at_once_in_one_process() {
    let reference = reference();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        for run in 0..3 {
            let dir = tempfile::tempdir().expect("temp dir");
            let ctx = Arc::new(Context::new(FileStore::new(dir.path()).expect("FileStore")));
            let (report, outputs) = duraflow_tests::run(ctx.clone(), &SideLog::default())
                .await
                .expect("run");
            assert_eq!(outputs, reference, "run {run}");
            assert_eq!(report.executed, reference.len());
            check_store(&ctx, &reference, 1);
        }
    });
}
