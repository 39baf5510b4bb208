//! The four examples of the duraflow-rs 1.0.1 README, against duraflow, with the README's two
//! defects fixed: `Task` is imported (dagx's `#[task]` needs it in scope), and `Mul` takes
//! the input it is wired to with `depends_on`.

use dagx::{task, DagRunner, Task};
use duraflow::{Context, DurableDag, DuraflowError, FileStore, MemoryStore};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

// A small task that returns the contained value.
struct Load(i32);
#[task]
impl Load {
    async fn run(&self) -> i32 {
        self.0
    }
}

// Multiply task depends on a previous task's output (demonstrates .depends_on()).
struct Mul(i32);
#[task]
impl Mul {
    async fn run(&self, x: &i32) -> i32 {
        x * self.0
    }
}

/// The README's `main`, top to bottom (the store directory is a fresh temp dir).
#[tokio::test]
async fn readme_main() -> Result<(), DuraflowError> {
    // --- Example 1: in-memory store + progress callback ---------------------------------
    let dag = DagRunner::new();
    let db = Arc::new(MemoryStore::new());
    let ctx = Arc::new(Context {
        db: db.clone(),
        completed_count: Arc::new(AtomicUsize::new(0)),
    });
    let d = DurableDag::new(&dag, ctx.clone()).with_progress(|id, completed| {
        eprintln!("progress: {} completed (total {})", id, completed);
    });
    let a = d.add("load-5", Load(5));
    let b = d.add("mul-2", Mul(2)).depends_on(&a);
    dag.run(|f| {
        tokio::spawn(f);
    })
    .await
    .unwrap();
    assert_eq!(dag.get(a).unwrap(), 5);
    assert_eq!(dag.get(b).unwrap(), 10);
    assert_eq!(ctx.get::<i32>("load-5").unwrap(), 5);

    // --- Example 2: cached path (re-run with a fresh DagRunner) ------------------------
    let dag2 = DagRunner::new();
    let d2 = DurableDag::new(&dag2, ctx.clone());
    let a2 = d2.add("load-5", Load(999));
    let b2 = d2.add("mul-3", Mul(3)).depends_on(&a2);
    dag2.run(|f| {
        tokio::spawn(f);
    })
    .await
    .unwrap();
    assert_eq!(dag2.get(a2).unwrap(), 5);
    assert_eq!(dag2.get(b2).unwrap(), 15);

    // --- Example 3: FileStore (persists to disk) --------------------------------------
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("duraflow_example_store");
    let fs = FileStore::new(&dir).expect("create filestore");
    let ctx2 = Arc::new(Context {
        db: Arc::new(fs),
        completed_count: Arc::new(AtomicUsize::new(0)),
    });
    let dag3 = DagRunner::new();
    let d3 = DurableDag::new(&dag3, ctx2.clone());
    let _f = d3.add("load-file", Load(7));
    dag3.run(|f| {
        tokio::spawn(f);
    })
    .await
    .unwrap();
    assert_eq!(ctx2.get::<i32>("load-file").unwrap(), 7);

    // --- Example 4: inspect persistence errors with `run_result` -----------------------
    let durable = duraflow::Durable::new("one-off", ctx.clone(), Load(11), None);
    let out = durable.run_result(()).await?;
    assert_eq!(out, 11);
    Ok(())
}

#[tokio::test]
async fn example_1_in_memory_store_with_progress() {
    let dag = DagRunner::new();
    let db = Arc::new(MemoryStore::new());
    let ctx = Arc::new(Context {
        db: db.clone(),
        completed_count: Arc::new(AtomicUsize::new(0)),
    });
    let events = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&events);
    let d = DurableDag::new(&dag, ctx.clone()).with_progress(move |id, completed| {
        log.lock().unwrap().push((id.to_owned(), completed));
    });
    let a = d.add("load-5", Load(5));
    let b = d.add("mul-2", Mul(2)).depends_on(&a);
    dag.run(|f| {
        tokio::spawn(f);
    })
    .await
    .unwrap();

    assert_eq!((dag.get(a).unwrap(), dag.get(b).unwrap()), (5, 10));
    assert_eq!(ctx.get::<i32>("load-5"), Some(5));
    assert_eq!(ctx.get::<i32>("mul-2"), Some(10));
    assert_eq!(
        db.len(),
        2,
        "one record per task, in the store the README passed"
    );
    assert_eq!(
        *events.lock().unwrap(),
        vec![("load-5".to_owned(), 1), ("mul-2".to_owned(), 2)]
    );
    assert_eq!(ctx.completed_count.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn example_2_persisted_value_wins_over_new_task_fields() -> Result<(), DuraflowError> {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let a = d.add("load-5", Load(5));
    d.add("mul-2", Mul(2)).depends_on(&a);
    d.run(|f| {
        tokio::spawn(f);
    })
    .await?;

    let dag2 = DagRunner::new();
    let d2 = DurableDag::new(&dag2, ctx.clone());
    let a2 = d2.add("load-5", Load(999));
    let b2 = d2.add("mul-3", Mul(3)).depends_on(&a2);
    let report = d2
        .run(|f| {
            tokio::spawn(f);
        })
        .await?;

    assert_eq!(
        dag2.get(a2).unwrap(),
        5,
        "the persisted value wins, not 999"
    );
    assert_eq!(
        dag2.get(b2).unwrap(),
        15,
        "mul-3 is new: it runs on the restored 5"
    );
    assert_eq!((report.executed, report.restored), (1, 1));
    assert_eq!(report.runs[0].key, "mul-3");
    assert_eq!(
        ctx.get::<i32>("load-5"),
        Some(5),
        "the record is not overwritten"
    );
    Ok(())
}

#[tokio::test]
async fn example_3_file_store_is_read_by_the_next_process() -> Result<(), DuraflowError> {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("duraflow_example_store");
    {
        let ctx2 = Arc::new(Context {
            db: Arc::new(FileStore::new(&dir)?),
            completed_count: Arc::new(AtomicUsize::new(0)),
        });
        let dag3 = DagRunner::new();
        let d3 = DurableDag::new(&dag3, ctx2.clone());
        let f = d3.add("load-file", Load(7));
        dag3.run(|f| {
            tokio::spawn(f);
        })
        .await
        .unwrap();
        assert_eq!(dag3.get(f).unwrap(), 7);
        assert_eq!(ctx2.get::<i32>("load-file"), Some(7));
    } // the "process" ends: every handle on the store is gone

    let next = Context::new(FileStore::new(&dir)?);
    assert_eq!(next.get::<i32>("load-file"), Some(7));

    // and a DAG in the next process restores it instead of running the task
    let ctx = Arc::new(next);
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let f = d.add("load-file", Load(8));
    let report = d
        .run(|f| {
            tokio::spawn(f);
        })
        .await?;
    assert_eq!((report.executed, report.restored), (0, 1));
    assert_eq!(dag.get(f).unwrap(), 7);
    Ok(())
}

#[tokio::test]
async fn example_3_durable_dag_run_makes_the_file_readable_by_another_store(
) -> Result<(), DuraflowError> {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = Arc::new(Context::new(FileStore::new(tmp.path())?));
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    d.add("load-file", Load(7));
    d.run(|f| {
        tokio::spawn(f);
    })
    .await?;

    // `ctx` is still alive: the record is already on disk, not only queued
    let other = Context::new(FileStore::new(tmp.path())?);
    assert_eq!(other.get::<i32>("load-file"), Some(7));
    Ok(())
}

#[tokio::test]
async fn example_4_run_result() -> Result<(), DuraflowError> {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    let durable = duraflow::Durable::new("one-off", ctx.clone(), Load(11), None);
    let out = durable.run_result(()).await?;
    assert_eq!(out, 11);
    assert_eq!(ctx.get::<i32>("one-off"), Some(11));

    let again = duraflow::Durable::new("one-off", ctx.clone(), Load(12), None)
        .run_result(())
        .await?;
    assert_eq!(again, 11, "the record wins: resume by key");
    assert_eq!(ctx.completed_count.load(Ordering::SeqCst), 2);
    Ok(())
}

#[tokio::test]
async fn example_4_run_result_on_a_file_store_is_durable_when_it_returns(
) -> Result<(), DuraflowError> {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = Arc::new(Context::new(FileStore::new(tmp.path())?));
    let out = duraflow::Durable::new("one-off", ctx.clone(), Load(11), None)
        .run_result(())
        .await?;
    assert_eq!(out, 11);
    let other = Context::new(FileStore::new(tmp.path())?);
    assert_eq!(other.get::<i32>("one-off"), Some(11));
    Ok(())
}
