//! `FileStore`: one file per key, names that keep every key apart and inside the directory,
//! refused keys, temp files, atomic writes, and no stalled runtime.

mod common;

use common::{
    files_below, record_files, spawn, temp_files, tricky_keys, Counted, CountedAdd, Load, Runs,
    MARKER,
};
use dagx::DagRunner;
use duraflow::{Context, DurableDag, DuraflowError, FileStore, MemoryStore};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

#[test]
fn keys_that_look_alike_are_stored_and_read_back_apart() -> Result<(), DuraflowError> {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = Context::new(FileStore::new(tmp.path())?);
    let keys = tricky_keys();
    for (i, key) in keys.iter().enumerate() {
        ctx.save(key, &i)?;
    }
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(ctx.get::<usize>(key), Some(i), "key {key:?}");
    }

    // a store opened later (another process) reads the same values
    let reopened = Context::new(FileStore::new(tmp.path())?);
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(
            reopened.get::<usize>(key),
            Some(i),
            "key {key:?} after reopening"
        );
    }
    let listed: BTreeSet<String> = duraflow_tests::stored_keys(&*reopened.db)
        .into_iter()
        .collect();
    assert_eq!(listed, keys.iter().cloned().collect::<BTreeSet<_>>());
    Ok(())
}

#[test]
fn one_file_per_key_and_nothing_outside_the_directory() -> Result<(), DuraflowError> {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("store");
    let store = FileStore::new(&dir)?;
    let keys = tricky_keys();
    let mut paths: Vec<_> = keys.iter().map(|k| store.path_of(k)).collect();
    paths.sort();
    let ctx = Context::new(store);
    for key in &keys {
        ctx.save(key, &key.len())?;
    }

    let all = files_below(root.path());
    assert_eq!(
        all.len(),
        keys.len() + 1,
        "one file per key, plus the marker: {all:#?}"
    );
    for file in &all {
        assert_eq!(
            file.parent(),
            Some(dir.as_path()),
            "{file:?} is not directly in the store"
        );
        let name = file.file_name().unwrap().to_str().unwrap();
        assert!(name.len() <= 255, "{name} is too long for a file system");
        assert!(!name.starts_with('.') || name == MARKER, "{name} is hidden");
    }
    assert_eq!(
        record_files(root.path()),
        paths,
        "path_of names the file of each key"
    );
    let outside: Vec<_> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside, vec![std::ffi::OsString::from("store")]);
    Ok(())
}

fn assert_invalid_key<T: std::fmt::Debug>(result: Result<T, DuraflowError>, what: &str) {
    match result {
        Err(DuraflowError::InvalidKey { .. }) => {}
        other => panic!("{what}: expected InvalidKey, got {other:?}"),
    }
}

#[test]
fn empty_and_nul_keys_are_refused_by_context() -> Result<(), DuraflowError> {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = Context::new(FileStore::new(tmp.path())?);
    let too_long = "k".repeat(duraflow::MAX_KEY_LEN + 1);
    for key in ["", "\0", "a\0b", "nul at end\0", too_long.as_str()] {
        assert_invalid_key(ctx.save(key, &1i32), "save");
        assert_invalid_key(ctx.try_get::<i32>(key), "try_get");
        assert_invalid_key(ctx.remove(key), "remove");
        assert_eq!(ctx.get::<i32>(key), None);
    }
    assert!(
        record_files(tmp.path()).is_empty(),
        "a refused key wrote nothing"
    );

    let message = ctx.save("a\0b", &1i32).unwrap_err().to_string();
    assert!(message.contains("NUL"), "{message}");
    let longest = "k".repeat(duraflow::MAX_KEY_LEN);
    ctx.save(&longest, &7i32)?;
    assert_eq!(
        ctx.get::<i32>(&longest),
        Some(7),
        "a key of MAX_KEY_LEN bytes is fine"
    );
    Ok(())
}

async fn run_with_key(ctx: Arc<Context>, key: &str) -> Result<duraflow::RunReport, DuraflowError> {
    let dag = DagRunner::new();
    // The run journal would add files of its own: this test counts the records' files.
    let d = DurableDag::new(&dag, ctx).with_journal(false);
    d.add("fine", Load(1));
    d.add(key, Load(2));
    d.run(spawn).await
}

#[tokio::test]
async fn a_dag_with_an_empty_or_nul_key_fails_with_invalid_key() -> Result<(), DuraflowError> {
    for key in ["", "a\0b"] {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileStore::new(tmp.path())?;
        let fine = store.path_of("fine");
        match run_with_key(Arc::new(Context::new(store)), key).await {
            Err(DuraflowError::InvalidKey { key: reported, .. }) => assert_eq!(reported, key),
            other => panic!("key {key:?}: expected InvalidKey, got {other:?}"),
        }
        assert_eq!(
            record_files(tmp.path()),
            vec![fine],
            "key {key:?}: only the valid key's file"
        );

        let mem = Arc::new(Context::new(MemoryStore::new()));
        assert_invalid_key(run_with_key(mem, key).await, "MemoryStore run");
    }
    Ok(())
}

/// A pid that belonged to a process which has exited.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn stray_temp_files_are_ignored_then_removed_by_the_next_open() -> Result<(), DuraflowError> {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let store = FileStore::new(dir)?;
    let real = store.path_of("real");
    let ctx = Context::new(store);
    ctx.save("real", &1i32)?;

    let dead = format!(".tmp-{}-0", dead_pid());
    // (a live pid: its temp file may still be renamed, so it is kept)
    let live = format!(".tmp-{}-999999", std::process::id());
    // the stray files even hold a valid record: they must still not count
    let record = std::fs::read(real).unwrap();
    for name in [&dead, ".tmp-garbage", &live] {
        std::fs::write(dir.join(name), &record).unwrap();
    }

    assert_eq!(duraflow_tests::stored_keys(&*ctx.db), ["real"]);
    assert_eq!(ctx.get::<i32>("real"), Some(1));

    let reopened = Context::new(FileStore::new(dir)?);
    assert_eq!(
        temp_files(dir),
        vec![live.clone()],
        "only the live process's temp file stays"
    );
    assert_eq!(duraflow_tests::stored_keys(&*reopened.db), ["real"]);
    assert_eq!(reopened.get::<i32>("real"), Some(1));
    reopened.save("next", &2i32)?;
    assert_eq!(reopened.get::<i32>("next"), Some(2));
    Ok(())
}

/// A crashed run leaves `.tmp-<pid>-0`; a later process may get the same pid (typical in a
/// container, where the program is pid 1 on every start). Its first write must still work.
#[test]
fn a_leftover_temp_file_with_our_own_pid_does_not_block_writes() -> Result<(), DuraflowError> {
    let tmp = tempfile::tempdir().unwrap();
    let leftover = format!(".tmp-{}-0", std::process::id());
    std::fs::write(tmp.path().join(&leftover), b"half a record").unwrap();

    let ctx = Context::new(FileStore::new(tmp.path())?);
    ctx.save("k", &1i32)?;
    assert_eq!(
        Context::new(FileStore::new(tmp.path())?).get::<i32>("k"),
        Some(1)
    );
    Ok(())
}

#[tokio::test]
async fn writes_leave_no_temp_files() -> Result<(), DuraflowError> {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = Arc::new(Context::new(FileStore::new(tmp.path())?));
    ctx.save("saved", &"value".to_owned())?;
    assert!(temp_files(tmp.path()).is_empty());

    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone()).with_journal(false);
    let runs = Runs::new();
    for i in 0..50 {
        let load = d.add(
            &format!("load-{i}"),
            Counted {
                value: i,
                runs: runs.clone(),
            },
        );
        d.add(
            &format!("next-{i}"),
            CountedAdd {
                add: 1,
                runs: runs.clone(),
            },
        )
        .depends_on(&load);
    }
    let report = d.run(spawn).await?;
    assert_eq!(report.executed, 100);
    assert!(
        temp_files(tmp.path()).is_empty(),
        "{:?}",
        temp_files(tmp.path())
    );
    assert_eq!(record_files(tmp.path()).len(), 101);
    Ok(())
}

/// When a run returns `Ok`, every record file on disk is whole, named after its key, and
/// holds its task's value.
#[tokio::test]
async fn every_record_on_disk_decodes_after_a_run() -> Result<(), DuraflowError> {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = Arc::new(Context::new(FileStore::new(tmp.path())?));
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone()).with_journal(false);
    for i in 0..20 {
        d.add(&format!("value-{i}"), Load(i));
    }
    d.run(spawn).await?;
    let files = record_files(tmp.path());
    assert_eq!(files.len(), 20);
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        let record = duraflow::codec::parse(&bytes).expect("a whole record");
        assert_eq!(file.file_name().unwrap().to_str(), Some(record.key));
        let i: i32 = record.key.strip_prefix("value-").unwrap().parse().unwrap();
        let value: i32 = duraflow::codec::decode(record.key, &bytes, Default::default()).unwrap();
        assert_eq!(value, i);
    }
    Ok(())
}

async fn diamond_on_a_file_store(dir: &Path) -> Result<(usize, usize, i32), DuraflowError> {
    let ctx = Arc::new(Context::new(FileStore::new(dir)?));
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx);
    let runs = Runs::new();
    let root = d.add(
        "root",
        Counted {
            value: 1,
            runs: runs.clone(),
        },
    );
    let mut last = Vec::new();
    for i in 0..16 {
        last.push(
            d.add(
                &format!("branch-{i}"),
                CountedAdd {
                    add: i,
                    runs: runs.clone(),
                },
            )
            .depends_on(&root),
        );
    }
    let sum = d.add("sum", common::Add).depends_on((&last[0], &last[15]));
    let report = d.run(spawn).await?;
    Ok((report.executed, report.restored, dag.get(sum).unwrap()))
}

#[tokio::test(flavor = "current_thread")]
async fn a_file_store_dag_runs_on_a_current_thread_runtime() -> Result<(), DuraflowError> {
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(diamond_on_a_file_store(tmp.path()).await?, (18, 0, 17));
    assert_eq!(diamond_on_a_file_store(tmp.path()).await?, (0, 18, 17));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_file_store_dag_runs_on_a_multi_thread_runtime() -> Result<(), DuraflowError> {
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(diamond_on_a_file_store(tmp.path()).await?, (18, 0, 17));
    assert_eq!(diamond_on_a_file_store(tmp.path()).await?, (0, 18, 17));
    Ok(())
}

#[tokio::test(flavor = "current_thread")]
async fn dagx_own_run_on_a_file_store_works_on_a_current_thread_runtime(
) -> Result<(), DuraflowError> {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = Arc::new(Context::new(FileStore::new(tmp.path())?));
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let a = d.add("a", Load(2));
    let b = d.add("b", common::Mul(21)).depends_on(&a);
    dag.run(spawn).await?;
    assert_eq!(dag.get(b)?, 42);
    assert_eq!(ctx.get::<i32>("b"), Some(42));
    Ok(())
}
