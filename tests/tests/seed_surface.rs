//! The surface of DESIGN.md, "The surface users write", compiled and run as shown.

use dagx::{task, DagRunner, Task};
use duraflow::{Context, Durable, DurableDag, DuraflowError, FileStore, MemoryStore};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

struct Load(i32);
#[task]
impl Load {
    async fn run(&self) -> i32 {
        self.0
    }
}

#[tokio::test]
async fn the_design_snippet_compiles_and_works() -> Result<(), DuraflowError> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let progress = Arc::clone(&seen);

    let dag = DagRunner::new();
    let ctx = Arc::new(Context {
        db: Arc::new(MemoryStore::new()),
        completed_count: Arc::new(AtomicUsize::new(0)),
    });
    let d = DurableDag::new(&dag, ctx.clone()).with_progress(move |key, completed| {
        eprintln!("{key} {completed}");
        progress.lock().unwrap().push((key.to_owned(), completed));
    });
    let a = d.add("load-5", Load(5));
    dag.run(|f| {
        tokio::spawn(f);
    })
    .await
    .unwrap(); // dagx's own run still works
    assert_eq!(dag.get(a).unwrap(), 5);
    assert_eq!(ctx.get::<i32>("load-5"), Some(5)); // visible right after run
    assert_eq!(*seen.lock().unwrap(), vec![("load-5".to_owned(), 1)]);
    assert_eq!(ctx.completed_count.load(Ordering::SeqCst), 1);

    let out: i32 = Durable::new("one-off", ctx.clone(), Load(11), None)
        .run_result(())
        .await?;
    assert_eq!(out, 11);
    assert_eq!(ctx.get::<i32>("one-off"), Some(11));

    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("x");
    assert!(!dir.exists());
    let _fs = FileStore::new(&dir)?; // creates the directory
    assert!(dir.is_dir());
    Ok(())
}

#[tokio::test]
async fn dagx_own_run_on_a_file_store_is_visible_right_after_run() -> Result<(), DuraflowError> {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = Arc::new(Context::new(FileStore::new(tmp.path())?));
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let a = d.add("load-5", Load(5));
    dag.run(|f| {
        tokio::spawn(f);
    })
    .await
    .unwrap();
    assert_eq!(dag.get(a).unwrap(), 5);
    assert_eq!(ctx.get::<i32>("load-5"), Some(5));
    Ok(())
}

#[test]
fn context_new_save_get_try_get_remove() -> Result<(), DuraflowError> {
    let ctx = Context::new(MemoryStore::new());
    assert_eq!(ctx.get::<i32>("answer"), None);
    assert_eq!(ctx.try_get::<i32>("answer")?, None);

    ctx.save("answer", &42i32)?;
    assert_eq!(ctx.get::<i32>("answer"), Some(42));
    assert_eq!(ctx.try_get::<i32>("answer")?, Some(42));

    ctx.save("answer", &43i32)?;
    assert_eq!(
        ctx.get::<i32>("answer"),
        Some(43),
        "save replaces the record"
    );

    ctx.remove("answer")?;
    assert_eq!(ctx.get::<i32>("answer"), None);
    ctx.remove("answer")?; // removing nothing is fine
    Ok(())
}

#[tokio::test]
async fn a_removed_record_makes_the_task_run_again() -> Result<(), DuraflowError> {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    d.add("load", Load(1));
    assert_eq!(
        d.run(|f| {
            tokio::spawn(f);
        })
        .await?
        .executed,
        1
    );

    ctx.remove("load")?;
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let a = d.add("load", Load(2));
    let report = d
        .run(|f| {
            tokio::spawn(f);
        })
        .await?;
    assert_eq!((report.executed, report.restored), (1, 0));
    assert_eq!(dag.get(a).unwrap(), 2);
    assert_eq!(ctx.get::<i32>("load"), Some(2));
    Ok(())
}

#[tokio::test]
async fn durable_dag_run_reports_and_dag_get_still_works() -> Result<(), DuraflowError> {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let a = d.add("load-5", Load(5));
    let report = d
        .run(|f| {
            tokio::spawn(f);
        })
        .await?;
    assert_eq!(report.executed, 1);
    assert_eq!(report.restored, 0);
    assert_eq!(report.runs.len(), 1);
    assert_eq!(report.runs[0].key, "load-5");
    assert_eq!(report.runs[0].reason, duraflow::Miss::NoRecord);
    assert!(report.runs[0].persisted);
    assert_eq!(dag.get(a).unwrap(), 5);
    Ok(())
}
