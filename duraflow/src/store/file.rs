//! `FileStore`: one file per key in a directory, written atomically and durably.

use super::file_name::{self, TEMP_PREFIX};
use super::write_behind::{storage_over_queue, Backend, Op, WriteBehind};
use super::{remove_temp_files, FailedWrite};
use crate::DuraflowError;
use crate::TaskKey;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Records as files in one directory.
///
/// * one file per key; names are a reversible, collision-free escape of the key (see the
///   module docs of `file_name`), so no key reaches outside the directory;
/// * a write goes to a temp file in the same directory, is synced, renamed over the final
///   name, and the directory is synced: a record is either wholly there or not at all;
/// * writes are grouped: records queued while the previous batch commits are committed
///   together, with one file-system sync and one directory sync per batch;
/// * temp files left by a crashed process are ignored, and removed by the next `new`.
///
/// ```
/// # fn main() -> Result<(), duraflow::DuraflowError> {
/// use duraflow::{Context, FileStore};
/// let dir = std::env::temp_dir().join(format!("duraflow-doc-{}", std::process::id()));
/// let ctx = Context::new(FileStore::new(&dir)?);
/// ctx.save("a.b", &1u8)?;
/// ctx.save("a_b", &2u8)?; // another file
/// assert_eq!(ctx.get::<u8>("a.b"), Some(1));
/// # std::fs::remove_dir_all(dir).unwrap();
/// # Ok(()) }
/// ```
pub struct FileStore {
    dir: PathBuf,
    queue: WriteBehind<Files>,
}

/// File that marks a directory as a `FileStore`.
const MARKER: &str = ".duraflow-store";
const MARKER_TEXT: &str = "duraflow FileStore, record format 1\n";

struct Files {
    dir: PathBuf,
    dir_handle: File,
    /// Distinguishes this handle's temp files from those of an earlier process that had
    /// the same pid (a restarted container's pid 1, say).
    nonce: u64,
    next_temp: AtomicU64,
}

impl FileStore {
    /// Opens the store in `dir`, creating the directory (and its `.duraflow-store` marker)
    /// if needed, and removes temp files left by processes that are no longer running.
    pub fn new(dir: impl AsRef<Path>) -> Result<Self, DuraflowError> {
        let dir = dir.as_ref().to_path_buf();
        let open_error = |source| DuraflowError::Open {
            path: dir.clone(),
            source,
        };
        fs::create_dir_all(&dir).map_err(open_error)?;
        let marker = dir.join(MARKER);
        if !marker.exists() {
            fs::write(&marker, MARKER_TEXT).map_err(open_error)?;
        }
        // Best effort: a temp file that cannot be removed is ignored all the same.
        let _ = remove_temp_files(&dir, TEMP_PREFIX, false);
        Self::open_dir(dir)
    }

    /// Opens an existing store without creating or removing anything: for tools that must
    /// not turn a mistyped path into an empty store, nor change what they inspect.
    pub fn open_existing(dir: impl AsRef<Path>) -> Result<Self, DuraflowError> {
        let dir = dir.as_ref().to_path_buf();
        let reason = if !dir.is_dir() {
            Some("no such directory")
        } else if !dir.join(MARKER).is_file() {
            Some("the directory has no `.duraflow-store` marker")
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(DuraflowError::NotAStore {
                path: dir,
                reason: reason.to_owned(),
            });
        }
        Self::open_dir(dir)
    }

    fn open_dir(dir: PathBuf) -> Result<Self, DuraflowError> {
        let open_error = |source| DuraflowError::Open {
            path: dir.clone(),
            source,
        };
        let dir_handle = File::open(&dir).map_err(open_error)?;
        let files = Files {
            dir: dir.clone(),
            dir_handle,
            nonce: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
            next_temp: AtomicU64::new(0),
        };
        let queue = WriteBehind::new(files, "duraflow-filestore", None).map_err(open_error)?;
        Ok(Self { dir, queue })
    }

    /// Removes temp files left by processes that are no longer running (with
    /// `include_live`, also those of running processes, whose writes then fail). Returns
    /// `(removed, kept)`.
    pub fn remove_temp_files(&self, include_live: bool) -> io::Result<(usize, usize)> {
        remove_temp_files(&self.dir, TEMP_PREFIX, include_live)
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds (or would hold) the record of `key`.
    pub fn path_of(&self, key: &str) -> PathBuf {
        self.dir.join(file_name::file_name(key))
    }
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore").field("dir", &self.dir).finish()
    }
}

impl FileStore {
    /// Queues `record` under `key` (see `storage_over_queue`).
    fn queue_put(&self, key: TaskKey, record: Vec<u8>) -> io::Result<()> {
        self.queue.push(key, Some(record));
        Ok(())
    }
}

storage_over_queue!(FileStore {});

/// A temp file written and not yet renamed.
struct Staged<'a> {
    op: &'a Op<'a>,
    temp: PathBuf,
    file: File,
}

impl Files {
    fn stage<'a>(&self, op: &'a Op<'a>, record: &[u8]) -> io::Result<Staged<'a>> {
        let n = self.next_temp.fetch_add(1, Ordering::Relaxed);
        let temp = self.dir.join(format!(
            "{TEMP_PREFIX}{}-{:x}-{n}",
            std::process::id(),
            self.nonce
        ));
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        if let Err(e) = file.write_all(record) {
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
        Ok(Staged { op, temp, file })
    }

    /// Makes the data of every staged file durable: one file-system sync where the platform
    /// has it and the batch has several files, else one sync per file.
    fn sync_staged(&self, staged: &[Staged<'_>]) -> Result<(), FailedWrite> {
        #[cfg(target_os = "linux")]
        if staged.len() > 1 {
            use std::os::fd::AsRawFd;
            // SAFETY: syncfs only reads the descriptor, which `dir_handle` keeps open.
            if unsafe { libc::syncfs(self.dir_handle.as_raw_fd()) } == 0 {
                return Ok(());
            }
        }
        for s in staged {
            s.file.sync_data().map_err(|source| failed(s.op, source))?;
        }
        Ok(())
    }
}

fn failed(op: &Op<'_>, source: io::Error) -> FailedWrite {
    FailedWrite {
        key: op.key.to_string(),
        source,
    }
}

impl Backend for Files {
    fn read(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.dir.join(file_name::file_name(key))) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every batch is durable: a file store has no cheap way to make a later sync cover
    /// earlier renames on every platform, so it keeps no durability window.
    fn commit(&self, batch: &[Op<'_>], _durable: bool) -> Result<(), FailedWrite> {
        let Some(first) = batch.first() else {
            return Ok(());
        };
        let mut staged = Vec::with_capacity(batch.len());
        let result = (|| {
            for op in batch {
                if let Some(record) = op.record {
                    staged.push(self.stage(op, record).map_err(|e| failed(op, e))?);
                }
            }
            self.sync_staged(&staged)?;
            for s in staged.drain(..) {
                let target = self.dir.join(file_name::file_name(s.op.key));
                if let Err(e) = fs::rename(&s.temp, target) {
                    let _ = fs::remove_file(&s.temp);
                    return Err(failed(s.op, e));
                }
            }
            for op in batch.iter().filter(|op| op.record.is_none()) {
                match fs::remove_file(self.dir.join(file_name::file_name(op.key))) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(failed(op, e)),
                    _ => {}
                }
            }
            self.dir_handle.sync_all().map_err(|e| failed(first, e))
        })();
        for s in staged {
            let _ = fs::remove_file(&s.temp);
        }
        result
    }

    fn keys(&self) -> io::Result<Vec<String>> {
        let mut keys = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') {
                continue;
            }
            if file_name::is_hashed(name) {
                let bytes = fs::read(entry.path())?;
                if let Ok(record) = crate::codec::parse(&bytes) {
                    if file_name::file_name(record.key) == name {
                        keys.push(record.key.to_owned());
                    }
                }
            } else if let Some(key) = file_name::key_of(name) {
                keys.push(key);
            }
        }
        Ok(keys)
    }
}
