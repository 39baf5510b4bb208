//! `FileStore`: one file per key in a directory, written atomically and durably.

use super::file_name::{self, TEMP_PREFIX};
use super::write_behind::{Backend, Op, WriteBehind};
use super::{remove_temp_files, FailedWrite, Found, Listed, Storage};
use crate::DuraflowError;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Records as files in one directory.
///
/// * one file per key; names are a reversible, collision-free escape of the key (see the
///   module docs of `file_name`), so no key reaches outside the directory;
/// * a write goes to a temp file in the same directory, is synced, renamed over the final
///   name, and the directory is synced: a record is either wholly there or not at all;
/// * writes are grouped: records stored while the previous batch commits are committed
///   together, with one sync of their files and one directory sync per batch;
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

/// The committed side of the queue: the files themselves.
struct Files {
    dir: PathBuf,
    dir_handle: File,
    /// Starts every temp file's name: [`TEMP_PREFIX`], this process's id (so a later `new`
    /// can tell the files of dead processes) and a nonce that tells this handle's files from
    /// those of an earlier process that had the same pid (a restarted container's pid 1).
    temp_prefix: String,
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
        let files = Files::open(dir.clone()).map_err(open_error)?;
        let queue = WriteBehind::new(files, "duraflow-filestore", None).map_err(open_error)?;
        Ok(Self { dir, queue })
    }

    /// Removes temp files left by processes that are no longer running (with
    /// `include_live`, also those of running processes, whose writes then fail). Returns
    /// `(removed, kept)`.
    pub fn remove_temp_files(&self, include_live: bool) -> io::Result<(usize, usize)> {
        remove_temp_files(&self.dir, TEMP_PREFIX, include_live)
    }

    /// Compresses the payload of every record stored from now on with zstd at `level` (1 to
    /// 22; 3 is zstd's default), on the thread that stores it. Records say in their header
    /// whether they are compressed, so every reader decodes both kinds; a payload that does
    /// not shrink is stored as it is. Off by default.
    pub fn with_compression(self, level: i32) -> Self {
        self.queue.set_compression(Some(level));
        self
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

/// Reads see the records still queued; `put` and `remove` only queue, for the store's
/// writer thread, and `flush` waits for it.
impl Storage for FileStore {
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        self.queue.get(key)
    }

    fn get_many(&self, keys: &[&str], limit: u64) -> io::Result<Vec<Found>> {
        self.queue.get_many(keys, limit)
    }

    fn put(&self, key: &str, record: Vec<u8>) -> io::Result<()> {
        self.queue.push(key, Some(record));
        Ok(())
    }

    fn remove(&self, key: &str) -> io::Result<()> {
        self.queue.push(key, None);
        Ok(())
    }

    fn flush(&self) -> Result<(), FailedWrite> {
        self.queue.flush()
    }

    fn list(&self) -> io::Result<Vec<Listed>> {
        self.queue.list()
    }
}

/// A temp file holding a record, not yet under its key's name; removed if it never gets
/// there.
struct Staged<'a> {
    key: &'a str,
    temp: Option<PathBuf>,
}

impl Drop for Staged<'_> {
    fn drop(&mut self) {
        if let Some(temp) = &self.temp {
            let _ = fs::remove_file(temp);
        }
    }
}

impl Files {
    fn open(dir: PathBuf) -> io::Result<Files> {
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Ok(Files {
            dir_handle: File::open(&dir)?,
            dir,
            temp_prefix: format!("{TEMP_PREFIX}{}-{nonce:x}-", std::process::id()),
            next_temp: AtomicU64::new(0),
        })
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(file_name::file_name(key))
    }

    /// Writes `record` to a new temp file, synced at once with `sync`.
    fn stage<'a>(&self, key: &'a str, record: &[u8], sync: bool) -> io::Result<Staged<'a>> {
        let n = self.next_temp.fetch_add(1, Ordering::Relaxed);
        let temp = self.dir.join(format!("{}{n}", self.temp_prefix));
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        let staged = Staged {
            key,
            temp: Some(temp),
        };
        file.write_all(record)?;
        if sync {
            file.sync_data()?;
        }
        Ok(staged)
    }

    /// Renames a synced temp file over its key's name, replacing any record there.
    fn publish(&self, mut staged: Staged<'_>) -> io::Result<()> {
        let temp = staged.temp.as_ref().expect("a staged file has a temp file");
        fs::rename(temp, self.path(staged.key))?;
        staged.temp = None;
        Ok(())
    }

    /// The record in the file of `key`, unless it is longer than `limit`.
    fn read_file(&self, key: &str, limit: u64) -> io::Result<Found> {
        let mut file = match File::open(self.path(key)) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Found::Absent),
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        if len > limit {
            return Ok(Found::Unread);
        }
        let mut record = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        file.read_to_end(&mut record)?;
        Ok(Found::Record(record))
    }
}

/// Whether one system call makes every file written in a directory's file system durable
/// (Linux's `syncfs`): a batch then costs one disk flush, where syncing each file costs one
/// a file. Elsewhere each file is synced as it is written.
const SYNCS_FILE_SYSTEM: bool = cfg!(target_os = "linux");

/// Makes the data of every file written in `dir`'s file system durable.
#[cfg(target_os = "linux")]
fn sync_file_system(dir: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // std has no syncfs. SAFETY: it only reads the descriptor, which `dir` keeps open
    // across the call.
    if unsafe { libc::syncfs(dir.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Not called: without syncfs each file is synced as it is written.
#[cfg(not(target_os = "linux"))]
fn sync_file_system(_: &File) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

fn failed(key: &str, source: io::Error) -> FailedWrite {
    FailedWrite {
        key: key.to_owned(),
        source,
    }
}

impl Backend for Files {
    fn read(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        match self.read_file(key, u64::MAX)? {
            Found::Record(record) => Ok(Some(record)),
            _ => Ok(None),
        }
    }

    fn read_many(&self, keys: &[&str], limit: u64) -> io::Result<Vec<Found>> {
        keys.iter().map(|key| self.read_file(key, limit)).collect()
    }

    /// Writes every record of the batch to its temp file, syncs them all, renames each over
    /// its name, applies the removals, and syncs the directory once. Every batch is durable:
    /// a file store has no cheap way to make a later sync cover earlier renames on every
    /// platform, so it keeps no durability window.
    fn commit(&self, batch: &[Op<'_>], _durable: bool) -> Result<(), FailedWrite> {
        let Some(first) = batch.first() else {
            return Ok(());
        };
        let puts: Vec<(&str, &[u8])> = batch
            .iter()
            .filter_map(|op| Some((op.key, op.record?)))
            .collect();
        // One file is synced by itself: a file-system sync also flushes whatever else is
        // waiting to be written there.
        let sync_each = !SYNCS_FILE_SYSTEM || puts.len() == 1;
        let mut staged = Vec::with_capacity(puts.len());
        for (key, record) in puts {
            staged.push(
                self.stage(key, record, sync_each)
                    .map_err(|e| failed(key, e))?,
            );
        }
        if let (false, Some(s)) = (sync_each, staged.first()) {
            sync_file_system(&self.dir_handle).map_err(|e| failed(s.key, e))?;
        }
        for s in staged {
            let key = s.key;
            // On failure the temp files not yet renamed are removed as `Staged` drops.
            self.publish(s).map_err(|e| failed(key, e))?;
        }
        for op in batch.iter().filter(|op| op.record.is_none()) {
            match fs::remove_file(self.path(op.key)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(failed(op.key, e)),
                _ => {}
            }
        }
        self.dir_handle.sync_all().map_err(|e| failed(first.key, e))
    }

    fn list(&self) -> io::Result<Vec<Listed>> {
        let mut listed = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') {
                continue;
            }
            let key = if file_name::is_hashed(name) {
                let bytes = fs::read(entry.path())?;
                crate::codec::parse(&bytes)
                    .ok()
                    .filter(|record| file_name::file_name(record.key) == name)
                    .map(|record| record.key.to_owned())
            } else {
                file_name::key_of(name)
            };
            if let Some(key) = key {
                // A file removed since the listing began is left out.
                match entry.metadata() {
                    Ok(meta) => listed.push(Listed {
                        key,
                        size: meta.len(),
                    }),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(listed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put<'a>(key: &'a str, record: &'a [u8]) -> Op<'a> {
        Op {
            key,
            record: Some(record),
        }
    }

    fn store() -> (tempfile::TempDir, Files) {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::open(dir.path().to_path_buf()).unwrap();
        (dir, files)
    }

    /// Keys `k000`, `k001`, ... in order.
    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("k{i:03}")).collect()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    /// Batches of one record (synced by itself) and of several (one file-system sync), new
    /// records, replaced ones and removals: each lands under its key's name, and no temp
    /// file is left.
    #[test]
    fn records_are_written_replaced_and_removed() {
        let (dir, files) = store();
        files
            .commit(&[put("a", b"first a"), put("b", b"first b")], true)
            .unwrap();
        files.commit(&[put("a", b"second a")], true).unwrap();
        assert_eq!(files.read("a").unwrap().as_deref(), Some(&b"second a"[..]));
        assert_eq!(files.read("b").unwrap().as_deref(), Some(&b"first b"[..]));
        let removal = Op {
            key: "b",
            record: None,
        };
        files.commit(&[removal, put("c", b"c")], true).unwrap();
        assert_eq!(files.read("b").unwrap(), None);
        assert_eq!(names(dir.path()), ["a", "c"]);
    }

    /// A large batch, new records and replaced ones: every record lands under its key's
    /// name, and no temp file is left.
    #[test]
    fn a_large_batch_lands_whole() {
        let (dir, files) = store();
        let keys = keys(300);
        let old: Vec<Op<'_>> = keys.iter().step_by(7).map(|k| put(k, b"old")).collect();
        files.commit(&old, true).unwrap();
        let records: Vec<Vec<u8>> = (0..keys.len()).map(|i| vec![i as u8; 40]).collect();
        let batch: Vec<Op<'_>> = keys.iter().zip(&records).map(|(k, r)| put(k, r)).collect();
        files.commit(&batch, true).unwrap();
        for (key, record) in keys.iter().zip(&records) {
            assert_eq!(files.read(key).unwrap().as_ref(), Some(record), "{key}");
        }
        assert_eq!(names(dir.path()), keys);
    }

    /// A record that cannot be put under its name (a directory is in the way) in the middle
    /// of a batch fails it naming that key; the records renamed before it are there, and no
    /// temp file is left.
    #[test]
    fn a_failure_in_a_batch_names_its_key_and_leaves_no_temp_file() {
        let (dir, files) = store();
        let keys = keys(100);
        let blocked = &keys[60];
        fs::create_dir_all(dir.path().join(blocked).join("in-the-way")).unwrap();
        let batch: Vec<Op<'_>> = keys.iter().map(|k| put(k, b"record")).collect();
        let error = files.commit(&batch, true).unwrap_err();
        assert_eq!(&error.key, blocked);
        assert_eq!(
            files.read(&keys[0]).unwrap().as_deref(),
            Some(&b"record"[..])
        );
        let temps: Vec<String> = names(dir.path())
            .into_iter()
            .filter(|name| name.starts_with(TEMP_PREFIX))
            .collect();
        assert!(temps.is_empty(), "{temps:?}");
    }
}
