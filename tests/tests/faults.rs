//! Fault injection: every store operation of a 232-task run fails in turn (EIO), or is
//! delayed; the run reports an error naming a task key, and the next, fault-free run on the
//! same store completes with every output and record right. On PostgresStore, claims and
//! releases fail too.

use dagx::{task, DagRunner, Task};
use duraflow::{
    Claim, Context, DurableDag, DuraflowError, FileStore, MemoryStore, PostgresStore, RedbStore,
    Storage, JOURNAL_PREFIX,
};
use duraflow_tests::faults::{Fault, FaultyStore, Op, Target};
use duraflow_tests::pg_workers::{namespace, server};
use duraflow_tests::SideLog;
use std::collections::{BTreeMap, BTreeSet};
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
    // The run journal's entries are records too: they must read back, but are no task's.
    ctx.runs().expect("the journal reads back");
    let keys = duraflow_tests::stored_keys(store);
    for key in keys
        .into_iter()
        .filter(|key| !key.starts_with(JOURNAL_PREFIX))
    {
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
    let kinds: BTreeSet<Op> = counted.log().into_iter().collect();
    let reads = kinds.contains(&Op::Get) || kinds.contains(&Op::GetMany);
    assert!(
        reads && kinds.is_superset(&[Op::Put, Op::Flush].into()),
        "the run reads, writes and flushes: {kinds:?}"
    );

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
                assert_names_a_task(&error, &reference, &format!("fault at op {at}"));
            }
        }
        drop(faulty);
        // The next run, fault-free, on the same store: complete and right.
        resume_and_check(&rt, open(kind, &path, &memory), &reference);
    }
    eprintln!(
        "{kind}: {} faults injected (of {operations} operations), {failed_runs} failed runs \
         naming their key, {recovered} recovered, no wrong value",
        chosen.len()
    );
    assert!(failed_runs > chosen.len() / 2);
}

/// Checks that `error` is a failed store call naming a task of the DAG, and the injected EIO.
fn assert_names_a_task(error: &DuraflowError, reference: &BTreeMap<String, u64>, what: &str) {
    let key = match error {
        DuraflowError::Persist { key, .. } | DuraflowError::Load { key, .. } => key,
        other => panic!("{what}: unexpected error {other}"),
    };
    assert!(
        reference.contains_key(key) || key.starts_with(JOURNAL_PREFIX),
        "{what}: error names {key:?}"
    );
    let message = error.to_string();
    assert!(
        message.contains(key.as_str()),
        "message names the key: {message}"
    );
    assert!(message.contains("Input/output error"), "{message}");
}

/// A fault-free run on `store` after a faulty one: it completes, and every record is right.
fn resume_and_check(rt: &tokio::runtime::Runtime, store: Store, reference: &BTreeMap<String, u64>) {
    check_records(&store, reference);
    assert_eq!(run(rt, store.clone()).expect("resumed run"), *reference);
    check_records(&store, reference);
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

/// A task whose output is an error: not stored, so its claim is given up.
struct Refuse;

#[task]
impl Refuse {
    async fn run(&self) -> Result<u64, String> {
        Err("refused".to_owned())
    }
}

/// On a coordinating store a failed claim fails the run naming its task, and the next run
/// completes; a failed release (of a task whose output is an error) changes nothing the run
/// returns, and the claim is free once the store is dropped.
#[test]
fn failing_claims_and_releases_on_postgres_store_are_reported_and_lose_nothing() {
    let Some(url) = server() else { return };
    let rt = runtime();
    let reference = reference(&rt);
    let open =
        |ns: &str| -> Store { Arc::new(PostgresStore::connect_with(&url, ns).expect("store")) };
    for nth in [0, 117, reference.len() - 1] {
        let ns = namespace("claim_fault");
        let faulty = Arc::new(FaultyStore::at(
            open(&ns),
            Target::Nth(Op::Claim, nth),
            Fault::Error(libc::EIO),
        ));
        let error = run(&rt, faulty.clone()).expect_err("a claim failed");
        assert_names_a_task(&error, &reference, &format!("fault at claim {nth}"));
        assert!(faulty.log().contains(&Op::Claim));
        drop(faulty);
        resume_and_check(&rt, open(&ns), &reference);
    }

    let ns = namespace("release_fault");
    {
        let faulty = Arc::new(FaultyStore::at(
            open(&ns),
            Target::Nth(Op::Release, 0),
            Fault::Error(libc::EIO),
        ));
        let dag = DagRunner::new();
        let d = DurableDag::new(&dag, Arc::new(Context::new(faulty.clone())));
        let refused = d.add("refused", Refuse);
        let report = rt
            .block_on(d.run(|f| {
                tokio::spawn(f);
            }))
            .expect("a failed release does not fail the run");
        assert_eq!(report.executed, 1);
        assert_eq!(dag.get(refused).unwrap(), Err("refused".to_owned()));
        assert!(faulty.log().contains(&Op::Release), "{:?}", faulty.log());
        // The store goes with the DAG that holds it, giving up its claims.
    }
    assert_eq!(open(&ns).claim("refused", None).expect("claim"), Claim::Run);
}
