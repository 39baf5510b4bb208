//! A full disk: a store on a small tmpfs (mounted when the test may, as root in CI) fills
//! up; the run fails with an error naming the key and saying the device is full, and the
//! records written before stay intact. Without mount rights the same is checked with an
//! injected ENOSPC (also forced by `DURAFLOW_TEST_NO_MOUNT=1`).

use dagx::{task, DagRunner, Task, TaskHandle};
use duraflow::{Context, DurableDag, DuraflowError, FileStore, RedbStore, Storage};
use duraflow_tests::faults::{Fault, FaultyStore};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// A task producing `len` bytes.
struct Blob(u8, usize);

#[task]
impl Blob {
    async fn run(&self) -> Vec<u8> {
        vec![self.0; self.1]
    }
}

/// A tmpfs of `size` mounted at `path` for the guard's lifetime.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(path: &Path, size: &str) -> Option<Self> {
        if std::env::var_os("DURAFLOW_TEST_NO_MOUNT").is_some() {
            return None;
        }
        std::fs::create_dir_all(path).ok()?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then(|| Self(path.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

async fn run_blobs(
    ctx: Arc<Context>,
    prefix: &str,
    count: usize,
    len: usize,
) -> Result<Vec<Vec<u8>>, DuraflowError> {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx);
    let handles: Vec<TaskHandle<Vec<u8>>> = (0..count)
        .map(|i| d.add(&format!("{prefix}-{i}"), Blob(i as u8, len)).into())
        .collect();
    d.run(|f| {
        tokio::spawn(f);
    })
    .await?;
    Ok(handles
        .into_iter()
        .map(|h| dag.get(h).expect("output"))
        .collect())
}

async fn fill_up(
    store: Arc<dyn Storage + Send + Sync>,
    reopen: impl Fn() -> Arc<dyn Storage + Send + Sync>,
) {
    let ctx = Arc::new(Context {
        db: store,
        completed_count: Default::default(),
    });
    // Fits: 8 records of 2 KiB.
    run_blobs(ctx.clone(), "early", 8, 2048)
        .await
        .expect("the first records fit");
    // Does not fit: 256 records of 64 KiB.
    let error = run_blobs(ctx.clone(), "late", 256, 64 * 1024)
        .await
        .expect_err("the disk is full");
    let DuraflowError::Persist { key, source } = &error else {
        panic!("expected a Persist error, got {error}");
    };
    assert!(
        key.starts_with("late-"),
        "names a key that did not fit: {key}"
    );
    let message = error.to_string();
    assert!(message.contains(key.as_str()), "{message}");
    assert!(
        source.raw_os_error() == Some(libc::ENOSPC) || message.contains("No space left"),
        "says the disk is full: {message}"
    );
    drop(ctx);
    // Earlier records are intact, read through a fresh handle.
    let ctx = Context {
        db: reopen(),
        completed_count: Default::default(),
    };
    for i in 0..8 {
        assert_eq!(
            ctx.try_get::<Vec<u8>>(&format!("early-{i}"))
                .expect("readable"),
            Some(vec![i as u8; 2048])
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn full_disk_fails_the_run_naming_the_key_and_keeps_earlier_records() {
    let dir = tempfile::tempdir().expect("temp dir");
    let files_disk = SmallDisk::mount(&dir.path().join("small-files"), "1m");
    let redb_disk = SmallDisk::mount(&dir.path().join("small-redb"), "8m");
    match (files_disk, redb_disk) {
        (Some(files_disk), Some(redb_disk)) => {
            let files = files_disk.0.join("files");
            fill_up(Arc::new(FileStore::new(&files).expect("FileStore")), || {
                Arc::new(FileStore::new(&files).expect("FileStore"))
            })
            .await;
            let db = redb_disk.0.join("records.redb");
            fill_up(Arc::new(RedbStore::open(&db).expect("RedbStore")), || {
                Arc::new(RedbStore::open(&db).expect("RedbStore"))
            })
            .await;
            eprintln!("checked on real 1 MiB and 8 MiB tmpfs mounts");
        }
        _ => {
            eprintln!("cannot mount a tmpfs here: checking with an injected ENOSPC instead");
            let files = dir.path().join("files");
            let inner: Arc<dyn Storage + Send + Sync> =
                Arc::new(FileStore::new(&files).expect("FileStore"));
            // Operation 11 is the first put of the second run (get_many, 8 puts, flush, get_many, put).
            let faulty = Arc::new(FaultyStore::new(inner, 11, Fault::Error(libc::ENOSPC)));
            fill_up(faulty, || {
                Arc::new(FileStore::new(&files).expect("FileStore"))
            })
            .await;
        }
    }
}
