//! Failures: `Result::Err` outputs flow downstream but are not stored, panics are reported
//! with their key, write failures name the key, and a duplicate key is refused.

mod common;

use common::{spawn, Counted, CountedAdd, MaybePanic, Runs};
use dagx::{task, DagRunner, Task};
use duraflow::{
    Context, Durable, DurableDag, DuraflowError, FailedWrite, FileStore, Listed, MemoryStore,
    Storage,
};
use std::io;
use std::sync::{Arc, Mutex};

// --- Result::Err is passed on, not persisted -------------------------------------------

/// Fails with "boom" when `fail` is set; counts its executions.
struct Fetch {
    fail: bool,
    runs: Runs,
}

#[task]
impl Fetch {
    async fn run(&self) -> Result<i32, String> {
        self.runs.hit();
        if self.fail {
            Err("boom".to_owned())
        } else {
            Ok(20)
        }
    }
}

/// Sees its input's `Result` as is.
struct Describe;

#[task]
impl Describe {
    async fn run(input: &Result<i32, String>) -> Result<String, String> {
        match input {
            Ok(v) => Ok(format!("got {v}")),
            Err(e) => Err(format!("upstream failed: {e}")),
        }
    }
}

async fn fetch_and_describe(
    ctx: &Arc<Context>,
    fail: bool,
    runs: &Runs,
) -> (
    duraflow::RunReport,
    Result<i32, String>,
    Result<String, String>,
) {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let fetch = d.add(
        "fetch",
        Fetch {
            fail,
            runs: runs.clone(),
        },
    );
    let describe = d.add("describe", Describe).depends_on(&fetch);
    let report = d
        .run(spawn)
        .await
        .expect("an Err output is not a run failure");
    (report, dag.get(fetch).unwrap(), dag.get(describe).unwrap())
}

#[tokio::test]
async fn an_err_output_is_passed_downstream_but_not_persisted() {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    let runs = Runs::new();

    let (report, fetched, described) = fetch_and_describe(&ctx, true, &runs).await;
    assert_eq!(fetched, Err("boom".to_owned()));
    assert_eq!(described, Err("upstream failed: boom".to_owned()));
    assert_eq!((report.executed, report.not_persisted), (2, 2));
    assert!(report.runs.iter().all(|run| !run.persisted));
    assert_eq!(ctx.get::<Result<i32, String>>("fetch"), None);
    assert_eq!(ctx.get::<Result<String, String>>("describe"), None);

    let (report, fetched, described) = fetch_and_describe(&ctx, true, &runs).await;
    assert_eq!(runs.count(), 2, "the failed task is retried");
    assert_eq!(
        (fetched, described.is_err()),
        (Err("boom".to_owned()), true)
    );
    assert_eq!(report.not_persisted, 2);

    let (report, fetched, described) = fetch_and_describe(&ctx, false, &runs).await;
    assert_eq!(runs.count(), 3);
    assert_eq!(fetched, Ok(20));
    assert_eq!(described, Ok("got 20".to_owned()));
    assert_eq!((report.executed, report.not_persisted), (2, 0));
    assert_eq!(ctx.get::<Result<i32, String>>("fetch"), Some(Ok(20)));

    let (report, fetched, _) = fetch_and_describe(&ctx, true, &runs).await;
    assert_eq!(runs.count(), 3, "an Ok output is persisted and restored");
    assert_eq!(fetched, Ok(20));
    assert_eq!((report.executed, report.restored), (0, 2));
}

#[tokio::test]
async fn run_result_returns_an_err_output_without_persisting_it() {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    let runs = Runs::new();
    let failing = Fetch {
        fail: true,
        runs: runs.clone(),
    };
    let out = Durable::new("fetch", ctx.clone(), failing, None)
        .run_result(())
        .await
        .unwrap();
    assert_eq!(out, Err("boom".to_owned()));
    assert_eq!(ctx.get::<Result<i32, String>>("fetch"), None);

    let working = Fetch {
        fail: false,
        runs: runs.clone(),
    };
    let out = Durable::new("fetch", ctx.clone(), working, None)
        .run_result(())
        .await
        .unwrap();
    assert_eq!((out, runs.count()), (Ok(20), 2));
    assert_eq!(ctx.get::<Result<i32, String>>("fetch"), Some(Ok(20)));
}

// --- panics ----------------------------------------------------------------------------

fn assert_panicked<T: std::fmt::Debug>(result: Result<T, DuraflowError>, want_key: &str) {
    match result {
        Err(error @ DuraflowError::TaskPanicked { .. }) => {
            let DuraflowError::TaskPanicked { key, message } = &error else {
                unreachable!()
            };
            assert_eq!(key, want_key);
            assert_eq!(message, "disk on fire");
            let text = error.to_string();
            assert!(
                text.contains(want_key) && text.contains("disk on fire"),
                "{text}"
            );
        }
        other => panic!("expected TaskPanicked for {want_key:?}, got {other:?}"),
    }
}

/// Adds 10 to its input, or panics with "disk on fire".
struct PanickyAdd {
    panic: bool,
    runs: Runs,
}

#[task]
impl PanickyAdd {
    async fn run(&self, x: &i32) -> i32 {
        self.runs.hit();
        assert!(!self.panic, "disk on fire");
        x + 10
    }
}

/// source → flaky → after: each task alone in its layer. Returns the output of `after`.
async fn chain(ctx: &Arc<Context>, panic: bool, runs: &[Runs; 3]) -> Result<i32, DuraflowError> {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let source = d.add(
        "source",
        Counted {
            value: 1,
            runs: runs[0].clone(),
        },
    );
    let flaky = d
        .add(
            "flaky",
            PanickyAdd {
                panic,
                runs: runs[1].clone(),
            },
        )
        .depends_on(&source);
    let after = d
        .add(
            "after",
            CountedAdd {
                add: 100,
                runs: runs[2].clone(),
            },
        )
        .depends_on(flaky);
    d.run(spawn).await?;
    Ok(dag.get(after).unwrap())
}

fn counts(runs: &[Runs; 3]) -> [usize; 3] {
    [runs[0].count(), runs[1].count(), runs[2].count()]
}

#[tokio::test]
async fn a_panic_alone_in_its_layer_is_reported_with_its_key() {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    let runs = [Runs::new(), Runs::new(), Runs::new()];
    assert_panicked(chain(&ctx, true, &runs).await, "flaky");
    assert_eq!(
        ctx.get::<i32>("source"),
        Some(1),
        "the upstream record is kept"
    );
    assert_eq!(ctx.get::<i32>("flaky"), None);
    assert_eq!(ctx.get::<i32>("after"), None);
    assert_eq!(counts(&runs), [1, 1, 0]);

    assert_eq!(chain(&ctx, false, &runs).await.unwrap(), 111);
    assert_eq!(
        counts(&runs),
        [1, 2, 1],
        "only the failed task and its dependent run"
    );
}

/// 20 siblings and one panicking task in one layer, and a dependent of the panicking one.
async fn wide(
    ctx: &Arc<Context>,
    panic: bool,
    sibling_runs: &Runs,
    flaky_runs: &Runs,
) -> Result<duraflow::RunReport, DuraflowError> {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    for i in 0..20 {
        d.add(
            &format!("sibling-{i}"),
            Counted {
                value: i,
                runs: sibling_runs.clone(),
            },
        );
    }
    let flaky = d.add(
        "flaky",
        MaybePanic {
            value: 5,
            panic_with: panic.then_some("disk on fire"),
            runs: flaky_runs.clone(),
        },
    );
    let after = d.add("after", common::Mul(3)).depends_on(&flaky);
    let report = d.run(spawn).await;
    if report.is_ok() {
        assert_eq!(dag.get(after).unwrap(), 15);
    }
    report
}

#[tokio::test]
async fn a_panic_in_a_wide_layer_is_reported_and_the_siblings_are_kept() {
    for store in ["memory", "file"] {
        let tmp = tempfile::tempdir().unwrap();
        let ctx = Arc::new(match store {
            "memory" => Context::new(MemoryStore::new()),
            _ => Context::new(FileStore::new(tmp.path()).unwrap()),
        });
        let (siblings, flaky) = (Runs::new(), Runs::new());
        assert_panicked(wide(&ctx, true, &siblings, &flaky).await, "flaky");
        assert_eq!(siblings.count(), 20, "{store}");
        for i in 0..20 {
            assert_eq!(ctx.get::<i32>(&format!("sibling-{i}")), Some(i), "{store}");
        }
        assert_eq!(ctx.get::<i32>("flaky"), None, "{store}");

        let report = wide(&ctx, false, &siblings, &flaky).await.unwrap();
        assert_eq!(siblings.count(), 20, "{store}: siblings are restored");
        assert_eq!(flaky.count(), 2, "{store}");
        assert_eq!((report.executed, report.restored), (2, 20), "{store}");
        let mut executed: Vec<_> = report.runs.iter().map(|r| r.key.as_str()).collect();
        executed.sort_unstable();
        assert_eq!(executed, ["after", "flaky"], "{store}");
    }
}

#[tokio::test]
async fn a_panic_in_run_result_is_an_error_with_the_key() {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    let task = MaybePanic {
        value: 1,
        panic_with: Some("disk on fire"),
        runs: Runs::new(),
    };
    match Durable::new("one-off", ctx.clone(), task, None)
        .run_result(())
        .await
    {
        Err(DuraflowError::TaskPanicked { key, message }) => {
            assert_eq!(
                (key.as_str(), message.as_str()),
                ("one-off", "disk on fire")
            );
        }
        other => panic!("expected TaskPanicked, got {other:?}"),
    }
    assert_eq!(ctx.get::<i32>("one-off"), None);
}

/// A plain dagx task (no key) among durable ones.
struct PlainPanic;

#[task]
impl PlainPanic {
    async fn run(_x: &i32) -> i32 {
        panic!("plain task failed")
    }
}

#[tokio::test]
async fn a_plain_dagx_task_panicking_alone_in_its_layer_fails_the_run() {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx);
    let load = d.add("load", common::Load(1));
    dag.add_task(PlainPanic).depends_on(&load);
    let error = d.run(spawn).await.expect_err("a task panicked");
    assert!(error.to_string().contains("plain task failed"), "{error}");
}

#[tokio::test]
async fn a_plain_dagx_task_panicking_beside_durable_ones_fails_the_run() {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx);
    let load = d.add("load", common::Load(1));
    let plain = dag.add_task(PlainPanic).depends_on(&load);
    d.add("beside", common::Mul(2)).depends_on(&load);
    let result = d.run(spawn).await;
    assert!(dag.get(plain).is_err(), "the plain task has no output");
    let error = result.expect_err("a task panicked: the run must not be Ok");
    assert!(error.to_string().contains("plain task failed"), "{error}");
}

// --- write failures --------------------------------------------------------------------

/// A store over a `MemoryStore` whose `put` of one key fails, or whose `flush` fails.
struct BrokenStore {
    records: MemoryStore,
    put_fails_for: Option<&'static str>,
    flush_fails: bool,
    unflushed: Mutex<Vec<String>>,
}

impl BrokenStore {
    fn put_fails_for(key: &'static str) -> Self {
        Self {
            records: MemoryStore::new(),
            put_fails_for: Some(key),
            flush_fails: false,
            unflushed: Mutex::default(),
        }
    }

    fn flush_fails() -> Self {
        Self {
            records: MemoryStore::new(),
            put_fails_for: None,
            flush_fails: true,
            unflushed: Mutex::default(),
        }
    }
}

impl Storage for BrokenStore {
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        self.records.get(key)
    }
    fn put(&self, key: &str, record: Vec<u8>) -> io::Result<()> {
        if self.put_fails_for == Some(key) {
            return Err(io::Error::new(io::ErrorKind::StorageFull, "no space left"));
        }
        self.unflushed.lock().unwrap().push(key.to_owned());
        self.records.put(key, record)
    }
    fn remove(&self, key: &str) -> io::Result<()> {
        self.records.remove(key)
    }
    fn flush(&self) -> Result<(), FailedWrite> {
        let unflushed = std::mem::take(&mut *self.unflushed.lock().unwrap());
        match unflushed.first() {
            Some(key) if self.flush_fails => Err(FailedWrite {
                key: key.clone(),
                source: io::Error::other("fsync failed"),
            }),
            _ => Ok(()),
        }
    }
    fn list(&self) -> io::Result<Vec<Listed>> {
        self.records.list()
    }
}

fn assert_persist_error<T: std::fmt::Debug>(result: Result<T, DuraflowError>, want_key: &str) {
    match result {
        Err(error @ DuraflowError::Persist { .. }) => {
            let DuraflowError::Persist { key, .. } = &error else {
                unreachable!()
            };
            assert_eq!(key, want_key);
            let text = error.to_string();
            assert!(text.contains(&format!("`{want_key}`")), "{text}");
        }
        other => panic!("expected Persist for {want_key:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn run_result_reports_a_failed_put_with_its_key() {
    let ctx = Arc::new(Context::new(BrokenStore::put_fails_for("one-off")));
    let result = Durable::new("one-off", ctx, common::Load(1), None)
        .run_result(())
        .await;
    assert_persist_error(result, "one-off");
}

#[tokio::test]
async fn run_result_reports_a_failed_flush_with_its_key() {
    let ctx = Arc::new(Context::new(BrokenStore::flush_fails()));
    let result = Durable::new("one-off", ctx, common::Load(1), None)
        .run_result(())
        .await;
    assert_persist_error(result, "one-off");
}

async fn three_task_dag(ctx: Arc<Context>) -> Result<duraflow::RunReport, DuraflowError> {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx);
    let a = d.add("a", common::Load(1));
    let b = d.add("b", common::Mul(2)).depends_on(&a);
    d.add("c", common::Mul(3)).depends_on(b);
    d.run(spawn).await
}

#[tokio::test]
async fn a_dag_run_reports_a_failed_put_with_its_key() {
    let ctx = Arc::new(Context::new(BrokenStore::put_fails_for("b")));
    assert_persist_error(three_task_dag(ctx.clone()).await, "b");
    assert_eq!(ctx.get::<i32>("a"), Some(1));
    assert_eq!(ctx.get::<i32>("b"), None);
}

#[tokio::test]
async fn a_dag_run_reports_a_failed_flush_with_its_key() {
    let ctx = Arc::new(Context::new(BrokenStore::flush_fails()));
    let result = three_task_dag(ctx).await;
    let key = match &result {
        Err(DuraflowError::Persist { key, .. }) => key.clone(),
        other => panic!("expected Persist, got {other:?}"),
    };
    assert!(["a", "b", "c"].contains(&key.as_str()), "{key}");
    assert_persist_error(result, &key);
}

#[tokio::test]
async fn a_file_store_whose_directory_vanished_reports_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let ctx = Arc::new(Context::new(FileStore::new(&dir).unwrap()));
    std::fs::remove_dir_all(&dir).unwrap();

    assert_persist_error(ctx.save("saved", &1i32), "saved");
    let result = Durable::new("one-off", ctx.clone(), common::Load(1), None)
        .run_result(())
        .await;
    assert_persist_error(result, "one-off");

    let runs = Runs::new();
    let only = || Counted {
        value: 1,
        runs: runs.clone(),
    };
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    d.add("only", only());
    assert_persist_error(d.run(spawn).await, "only");
    assert_eq!(ctx.get::<i32>("only"), None, "nothing usable was stored");

    // once the store is writable again, the next run executes the task and stores it
    std::fs::create_dir_all(&dir).unwrap();
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    d.add("only", only());
    let report = d.run(spawn).await.unwrap();
    assert_eq!((report.executed, runs.count()), (1, 2));
    assert_eq!(
        Context::new(FileStore::new(&dir).unwrap()).get::<i32>("only"),
        Some(1)
    );
}

#[tokio::test]
async fn a_record_that_cannot_be_read_is_a_load_error_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FileStore::new(tmp.path()).unwrap();
    std::fs::create_dir(store.path_of("blocked")).unwrap(); // a directory where the file goes
    let ctx = Arc::new(Context::new(store));

    match ctx.try_get::<i32>("blocked") {
        Err(DuraflowError::Load { key, .. }) => assert_eq!(key, "blocked"),
        other => panic!("expected Load, got {other:?}"),
    }
    assert_eq!(ctx.get::<i32>("blocked"), None);

    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    d.add("fine", common::Load(1));
    d.add("blocked", common::Load(2));
    match d.run(spawn).await {
        Err(error @ DuraflowError::Load { .. }) => {
            assert!(error.to_string().contains("`blocked`"), "{error}");
        }
        other => panic!("expected Load, got {other:?}"),
    }
    assert_eq!(ctx.get::<i32>("fine"), Some(1));
}

// --- duplicate keys --------------------------------------------------------------------

#[test]
#[should_panic(expected = "duplicate key \"load\"")]
fn a_duplicate_key_in_one_durable_dag_panics_naming_the_key() {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx);
    d.add("load", common::Load(1));
    d.add("load", common::Load(2));
}

#[test]
#[should_panic(expected = "duplicate key \"versioned\"")]
fn a_duplicate_key_across_task_versions_panics_too() {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx);
    d.add_versioned("versioned", 1, common::Load(1));
    d.add_versioned("versioned", 2, common::Load(2));
}

#[test]
fn the_same_key_in_two_durable_dags_is_fine() {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    let (dag1, dag2) = (DagRunner::new(), DagRunner::new());
    DurableDag::new(&dag1, ctx.clone()).add("load", common::Load(1));
    DurableDag::new(&dag2, ctx).add("load", common::Load(1));
}
