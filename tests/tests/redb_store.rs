//! `RedbStore`: the embedded durable default.

mod common;

use common::{spawn, Counted, Runs};
use dagx::DagRunner;
use duraflow::{Context, DurableDag, DuraflowError, Miss, RedbStore, Storage};
use std::sync::Arc;

#[test]
fn a_second_open_of_an_open_file_is_store_in_use_naming_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("runs.redb");
    let first = RedbStore::open(&path).unwrap();

    match RedbStore::open(&path) {
        Err(error @ DuraflowError::StoreInUse { .. }) => {
            let DuraflowError::StoreInUse { path: reported } = &error else {
                unreachable!()
            };
            assert_eq!(reported, &path);
            let text = error.to_string();
            assert!(text.contains(&path.display().to_string()), "{text}");
        }
        other => panic!("expected StoreInUse, got {other:?}"),
    }

    drop(first);
    RedbStore::open(&path).expect("free again once the first handle is gone");
}

#[test]
fn records_survive_reopening() -> Result<(), DuraflowError> {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("nested/dirs/runs.redb");
    {
        let ctx = Context::new(RedbStore::open(&path)?);
        ctx.save("answer", &42u64)?;
        ctx.save("name", &"duraflow".to_owned())?;
        ctx.save("gone", &1u8)?;
        ctx.remove("gone")?;
        assert_eq!(ctx.get::<u64>("answer"), Some(42));
    }
    let ctx = Context::new(RedbStore::open(&path)?);
    assert_eq!(ctx.get::<u64>("answer"), Some(42));
    assert_eq!(ctx.get::<String>("name").as_deref(), Some("duraflow"));
    assert_eq!(ctx.get::<u8>("gone"), None);
    assert_eq!(duraflow_tests::stored_keys(&*ctx.db), ["answer", "name"]);
    // Read as another type, the record is refused, not decoded.
    assert!(matches!(
        ctx.try_get::<String>("answer"),
        Err(DuraflowError::TypeMismatch { .. } | DuraflowError::SchemaMismatch { .. })
    ));
    Ok(())
}

#[test]
fn long_and_odd_keys_are_kept_apart() -> Result<(), DuraflowError> {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = Context::new(RedbStore::open(tmp.path().join("runs.redb"))?);
    let keys = ["Key", "key", "a/b", "a.b", "..", "ключ", &"x".repeat(5_000)].map(String::from);
    for (i, key) in keys.iter().enumerate() {
        ctx.save(key, &i)?;
    }
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(ctx.get::<usize>(key), Some(i), "{key:?}");
    }
    assert!(matches!(
        ctx.save("", &1),
        Err(DuraflowError::InvalidKey { .. })
    ));
    Ok(())
}

#[tokio::test]
async fn a_damaged_record_in_redb_makes_the_task_run_again() -> Result<(), DuraflowError> {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = Arc::new(Context::new(RedbStore::open(tmp.path().join("runs.redb"))?));
    ctx.save("answer", &42i32)?;
    let mut record = ctx.db.get("answer").unwrap().unwrap();
    let last = record.len() - 1;
    record[last] ^= 0xff;
    ctx.db.put("answer", record).unwrap();
    ctx.db.flush().unwrap();

    let runs = Runs::new();
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    d.add(
        "answer",
        Counted {
            value: 42,
            runs: runs.clone(),
        },
    );
    let report = d.run(spawn).await?;
    assert_eq!(runs.count(), 1);
    assert!(matches!(report.runs[0].reason, Miss::Corrupt(_)));
    assert_eq!(ctx.get::<i32>("answer"), Some(42));
    Ok(())
}

#[tokio::test]
async fn a_dag_run_on_redb_is_durable_when_it_returns() -> Result<(), DuraflowError> {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("runs.redb");
    let runs = Runs::new();
    {
        let ctx = Arc::new(Context::new(RedbStore::open(&path)?));
        let dag = DagRunner::new();
        let d = DurableDag::new(&dag, ctx.clone());
        for i in 0..30 {
            d.add(
                &format!("task-{i}"),
                Counted {
                    value: i,
                    runs: runs.clone(),
                },
            );
        }
        assert_eq!(d.run(spawn).await?.executed, 30);
    }
    let ctx = Context::new(RedbStore::open(&path)?);
    for i in 0..30 {
        assert_eq!(ctx.get::<i32>(&format!("task-{i}")), Some(i));
    }
    Ok(())
}

/// The durability window: a record saved with a flush survives a SIGKILL; one still queued
/// inside the window may be lost, but never reads as a wrong value.
#[test]
fn a_kill_inside_the_sync_window_keeps_flushed_records_and_never_corrupts() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("window.redb");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_window_child"))
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    child.kill().unwrap();
    child.wait().unwrap();

    let ctx = duraflow::Context::new(duraflow::RedbStore::open(&path).unwrap());
    assert_eq!(ctx.try_get::<u32>("flushed").unwrap(), Some(1));
    let unflushed = ctx.try_get::<u32>("unflushed").unwrap();
    assert!(matches!(unflushed, None | Some(2)), "{unflushed:?}");
}
