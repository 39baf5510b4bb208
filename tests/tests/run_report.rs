//! `RunReport` counts for fresh, resumed and partly failed runs, on every store; a resumed
//! run on a durable store uses a new handle on the same path, as a new process would.

mod common;

use common::{spawn, Counted, CountedAdd, MaybePanic, Runs};
use dagx::DagRunner;
use duraflow::{Context, DurableDag, DuraflowError, FileStore, MemoryStore, RedbStore, Storage};
use std::sync::Arc;

/// Executions of the tasks of `shape`, by role.
#[derive(Clone, Default)]
struct Counters {
    sources: Runs,
    flaky: Runs,
    sinks: Runs,
}

/// 10 sources; `flaky` beside them; one sink per source, and one on `flaky`: 22 tasks.
const TASKS: usize = 22;

async fn shape(
    ctx: Arc<Context>,
    flaky_panics: bool,
    counters: &Counters,
) -> Result<duraflow::RunReport, DuraflowError> {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx);
    let mut sinks = Vec::new();
    for i in 0..10 {
        let source = d.add(
            &format!("source-{i}"),
            Counted {
                value: i,
                runs: counters.sources.clone(),
            },
        );
        let sink = CountedAdd {
            add: 100,
            runs: counters.sinks.clone(),
        };
        sinks.push(d.add(&format!("sink-{i}"), sink).depends_on(&source));
    }
    let flaky = d.add(
        "flaky",
        MaybePanic {
            value: 7,
            panic_with: flaky_panics.then_some("flaky failed"),
            runs: counters.flaky.clone(),
        },
    );
    let flaky_sink = CountedAdd {
        add: 1,
        runs: counters.sinks.clone(),
    };
    let after_flaky = d.add("after-flaky", flaky_sink).depends_on(&flaky);
    let report = d.run(spawn).await?;
    for (i, sink) in sinks.into_iter().enumerate() {
        assert_eq!(dag.get(sink).unwrap(), i as i32 + 100);
    }
    assert_eq!(dag.get(after_flaky).unwrap(), 8);
    Ok(report)
}

/// Fresh run, resumed run, and a run resumed after a failure, against stores from `open`.
async fn counts_on(open: impl Fn(&str) -> Arc<Context>) {
    let counters = Counters::default();
    let report = shape(open("a"), false, &counters).await.unwrap();
    assert_eq!((report.executed, report.restored), (TASKS, 0));
    assert_eq!(report.not_persisted, 0);
    assert_eq!(report.runs.len(), TASKS);

    let report = shape(open("a"), false, &counters).await.unwrap();
    assert_eq!((report.executed, report.restored), (0, TASKS));
    assert!(report.runs.is_empty());
    assert_eq!(counters.sources.count(), 10);

    let counters = Counters::default();
    let failed = shape(open("b"), true, &counters).await;
    assert!(
        matches!(&failed, Err(DuraflowError::TaskPanicked { key, .. }) if key == "flaky"),
        "{failed:?}"
    );
    assert_eq!(counters.sinks.count(), 10, "every sink but after-flaky ran");

    let report = shape(open("b"), false, &counters).await.unwrap();
    assert_eq!((report.executed, report.restored), (2, TASKS - 2));
    let mut executed: Vec<_> = report.runs.iter().map(|r| r.key.clone()).collect();
    executed.sort();
    assert_eq!(executed, ["after-flaky", "flaky"]);
    assert_eq!(counters.sources.count(), 10);
    assert_eq!(counters.flaky.count(), 2);
}

#[tokio::test]
async fn counts_on_a_memory_store() {
    let a: Arc<dyn Storage + Send + Sync> = Arc::new(MemoryStore::new());
    let b: Arc<dyn Storage + Send + Sync> = Arc::new(MemoryStore::new());
    counts_on(|name| {
        let db = if name == "a" { a.clone() } else { b.clone() };
        Arc::new(Context {
            db,
            completed_count: Arc::default(),
        })
    })
    .await;
}

#[tokio::test]
async fn counts_on_a_file_store() {
    let tmp = tempfile::tempdir().unwrap();
    counts_on(|name| Arc::new(Context::new(FileStore::new(tmp.path().join(name)).unwrap()))).await;
}

#[tokio::test]
async fn counts_on_a_redb_store() {
    let tmp = tempfile::tempdir().unwrap();
    let open = |name: &str| -> Arc<Context> {
        let path = tmp.path().join(format!("{name}.redb"));
        Arc::new(Context::new(RedbStore::open(path).unwrap()))
    };
    counts_on(open).await;
}

#[tokio::test(flavor = "current_thread")]
async fn counts_on_a_redb_store_on_a_current_thread_runtime() {
    let tmp = tempfile::tempdir().unwrap();
    let open = |name: &str| -> Arc<Context> {
        let path = tmp.path().join(format!("{name}.redb"));
        Arc::new(Context::new(RedbStore::open(path).unwrap()))
    };
    counts_on(open).await;
}

/// The executed tasks of a report are built from a compact log when first looked at: they
/// must name the right keys and reasons however late that is, and whatever the DAG did since.
#[tokio::test]
async fn a_report_read_late_names_its_own_tasks() {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    let long = "a-key-longer-than-thirty-bytes-is-not-held-inline".to_owned();
    let runs = Runs::new();
    let counted = |value| Counted {
        value,
        runs: runs.clone(),
    };
    ctx.save("corrupt-me", &1i32).unwrap();
    ctx.db.put("corrupt-me", b"not a record".to_vec()).unwrap();

    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let first = d.add("first", counted(1));
    d.add(
        &long,
        CountedAdd {
            add: 1,
            runs: runs.clone(),
        },
    )
    .depends_on(&first);
    d.add("corrupt-me", counted(3));
    let report = d.run(spawn).await.unwrap();

    // Tasks added after the run, and a second run that executes only them, leave the first
    // report as it was.
    d.add("later", counted(4));
    let second = d.run(spawn).await.unwrap();
    assert_eq!(keys_in_order(&second), ["later"]);
    drop(d);
    drop(dag);

    let mut keys = keys_in_order(&report);
    keys.sort();
    assert_eq!(
        keys,
        [
            "a-key-longer-than-thirty-bytes-is-not-held-inline",
            "corrupt-me",
            "first"
        ]
    );
    let in_order = keys_in_order(&report);
    let first_at = in_order.iter().position(|k| k == "first");
    let long_at = in_order.iter().position(|k| *k == long);
    assert!(
        first_at < long_at,
        "completion order: a task before its dependent"
    );
    for run in &report.runs {
        let expected_corrupt = run.key == "corrupt-me";
        assert_eq!(
            matches!(run.reason, duraflow::Miss::Corrupt(_)),
            expected_corrupt,
            "{run:?}"
        );
        if !expected_corrupt {
            assert_eq!(run.reason, duraflow::Miss::NoRecord, "{run:?}");
        }
        assert!(run.persisted && run.attempts == 1, "{run:?}");
    }

    // Every way of reading the runs agrees.
    let copy = report.clone();
    assert_eq!(copy, report);
    assert_eq!(copy.runs, report.runs.to_vec());
    let owned: Vec<duraflow::TaskRun> = copy.runs.into_iter().collect();
    assert_eq!(report.runs, owned);
    assert_eq!(report.runs.len(), 3);
    assert_eq!(duraflow::RunReport::default().runs.len(), 0);
}

fn keys_in_order(report: &duraflow::RunReport) -> Vec<String> {
    report.runs.iter().map(|run| run.key.to_string()).collect()
}
