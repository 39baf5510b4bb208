//! `FileStore`: one file per key in a directory, written atomically and durably.

use super::file_name::{self, TEMP_PREFIX};
use super::fs::{self, Dir, FileSystem, StdFs};
use super::write_behind::{Backend, Op, WriteBehind};
use super::{remove_temp_files, FailedWrite, Found, Listed, Storage};
use crate::DuraflowError;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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
    dir: Arc<dyn Dir>,
    queue: WriteBehind<Files>,
}

/// File that marks a directory as a `FileStore`.
const MARKER: &str = ".duraflow-store";
const MARKER_TEXT: &str = "duraflow FileStore, record format 1\n";

/// The committed side of the queue: the files themselves.
struct Files {
    dir: Arc<dyn Dir>,
    /// Starts every temp file's name: [`TEMP_PREFIX`], this process's id (so a later `new`
    /// can tell the files of dead processes) and a nonce that tells this handle's files from
    /// those of an earlier process that had the same pid (a restarted container's pid 1).
    temp_prefix: String,
    next_temp: AtomicU64,
}

impl FileStore {
    /// Opens the store in `dir`, creating the directory (and its `.duraflow-store` marker)
    /// if needed, durably, and removes temp files left by processes that are no longer
    /// running.
    pub fn new(dir: impl AsRef<Path>) -> Result<Self, DuraflowError> {
        Self::new_on(&StdFs, dir.as_ref())
    }

    /// [`FileStore::new`] on `fs`.
    pub(crate) fn new_on(fs: &dyn FileSystem, dir: &Path) -> Result<Self, DuraflowError> {
        let open_error = |source| DuraflowError::Open {
            path: dir.to_path_buf(),
            source,
        };
        // The directory's name must be durable before any record in it is.
        let opened = fs::create_dir_durably(fs, dir).map_err(open_error)?;
        if opened.size(MARKER).map_err(open_error)?.is_none() {
            match opened.write_new(MARKER, MARKER_TEXT.as_bytes(), true) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(open_error(e)),
                _ => opened.sync().map_err(open_error)?,
            }
        }
        // Best effort: a temp file that cannot be removed is ignored all the same.
        let _ = remove_temp_files(&*opened, TEMP_PREFIX, false);
        Self::start(opened)
    }

    /// Opens an existing store without creating or removing anything: for tools that must
    /// not turn a mistyped path into an empty store, nor change what they inspect.
    pub fn open_existing(dir: impl AsRef<Path>) -> Result<Self, DuraflowError> {
        Self::open_existing_on(&StdFs, dir.as_ref())
    }

    /// [`FileStore::open_existing`] on `fs`.
    pub(crate) fn open_existing_on(fs: &dyn FileSystem, dir: &Path) -> Result<Self, DuraflowError> {
        let not_a_store = |reason: &str| DuraflowError::NotAStore {
            path: dir.to_path_buf(),
            reason: reason.to_owned(),
        };
        let opened = match fs.open_dir(dir) {
            Ok(opened) => opened,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(not_a_store("no such directory"))
            }
            Err(source) => {
                return Err(DuraflowError::Open {
                    path: dir.to_path_buf(),
                    source,
                })
            }
        };
        match opened.size(MARKER) {
            Ok(Some(_)) => Self::start(opened),
            _ => Err(not_a_store("the directory has no `.duraflow-store` marker")),
        }
    }

    fn start(dir: Arc<dyn Dir>) -> Result<Self, DuraflowError> {
        let open_error = |source| DuraflowError::Open {
            path: dir.path().to_path_buf(),
            source,
        };
        let files = Files::open(Arc::clone(&dir));
        let queue = WriteBehind::new(files, "duraflow-filestore", None).map_err(open_error)?;
        Ok(Self { dir, queue })
    }

    /// Removes temp files left by processes that are no longer running (with
    /// `include_live`, also those of running processes, whose writes then fail). Returns
    /// `(removed, kept)`.
    pub fn remove_temp_files(&self, include_live: bool) -> io::Result<(usize, usize)> {
        remove_temp_files(&*self.dir, TEMP_PREFIX, include_live)
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
        self.dir.path()
    }

    /// The file that holds (or would hold) the record of `key`.
    pub fn path_of(&self, key: &str) -> PathBuf {
        self.dir().join(file_name::file_name(key))
    }
}

impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("dir", &self.dir())
            .finish()
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
    dir: &'a dyn Dir,
    key: &'a str,
    temp: Option<String>,
}

impl Drop for Staged<'_> {
    fn drop(&mut self) {
        if let Some(temp) = &self.temp {
            let _ = self.dir.remove(temp);
        }
    }
}

impl Files {
    fn open(dir: Arc<dyn Dir>) -> Files {
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Files {
            dir,
            temp_prefix: format!("{TEMP_PREFIX}{}-{nonce:x}-", std::process::id()),
            next_temp: AtomicU64::new(0),
        }
    }

    /// Writes `record` to a new temp file, synced at once with `sync`.
    fn stage<'a>(&'a self, key: &'a str, record: &[u8], sync: bool) -> io::Result<Staged<'a>> {
        let n = self.next_temp.fetch_add(1, Ordering::Relaxed);
        let staged = Staged {
            dir: &*self.dir,
            key,
            temp: Some(format!("{}{n}", self.temp_prefix)),
        };
        let temp = staged
            .temp
            .as_deref()
            .expect("a staged file has a temp file");
        self.dir.write_new(temp, record, sync)?;
        Ok(staged)
    }

    /// Renames a synced temp file over its key's name, replacing any record there.
    fn publish(&self, mut staged: Staged<'_>) -> io::Result<()> {
        let temp = staged.temp.as_ref().expect("a staged file has a temp file");
        self.dir.rename(temp, &file_name::file_name(staged.key))?;
        staged.temp = None;
        Ok(())
    }

    /// The record in the file of `key`, unless it is longer than `limit`.
    fn read_file(&self, key: &str, limit: u64) -> io::Result<Found> {
        self.dir.read(&file_name::file_name(key), limit)
    }
}

/// Whether one system call makes every file written in a directory's file system durable
/// (Linux's `syncfs`): a batch then costs one disk flush, where syncing each file costs one
/// a file. Elsewhere each file is synced as it is written.
const SYNCS_FILE_SYSTEM: bool = cfg!(target_os = "linux");

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
    fn commit(&self, batch: &[Op<'_>]) -> Result<(), FailedWrite> {
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
            self.dir.sync_file_system().map_err(|e| failed(s.key, e))?;
        }
        for s in staged {
            let key = s.key;
            // On failure the temp files not yet renamed are removed as `Staged` drops.
            self.publish(s).map_err(|e| failed(key, e))?;
        }
        for op in batch.iter().filter(|op| op.record.is_none()) {
            match self.dir.remove(&file_name::file_name(op.key)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(failed(op.key, e)),
                _ => {}
            }
        }
        self.dir.sync().map_err(|e| failed(first.key, e))
    }

    fn list(&self) -> io::Result<Vec<Listed>> {
        let mut listed = Vec::new();
        for name in self.dir.names()? {
            if name.starts_with('.') {
                continue;
            }
            let key = if file_name::is_hashed(&name) {
                match self.dir.read(&name, u64::MAX)? {
                    Found::Record(bytes) => crate::codec::parse(&bytes)
                        .ok()
                        .filter(|record| file_name::file_name(record.key) == name)
                        .map(|record| record.key.to_owned()),
                    _ => None,
                }
            } else {
                file_name::key_of(&name)
            };
            let Some(key) = key else { continue };
            // A file removed since the listing began is left out.
            if let Some(size) = self.dir.size(&name)? {
                listed.push(Listed { key, size });
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
        let files = Files::open(StdFs.open_dir(dir.path()).unwrap());
        (dir, files)
    }

    /// Keys `k000`, `k001`, ... in order.
    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("k{i:03}")).collect()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
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
            .commit(&[put("a", b"first a"), put("b", b"first b")])
            .unwrap();
        files.commit(&[put("a", b"second a")]).unwrap();
        assert_eq!(files.read("a").unwrap().as_deref(), Some(&b"second a"[..]));
        assert_eq!(files.read("b").unwrap().as_deref(), Some(&b"first b"[..]));
        let removal = Op {
            key: "b",
            record: None,
        };
        files.commit(&[removal, put("c", b"c")]).unwrap();
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
        files.commit(&old).unwrap();
        let records: Vec<Vec<u8>> = (0..keys.len()).map(|i| vec![i as u8; 40]).collect();
        let batch: Vec<Op<'_>> = keys.iter().zip(&records).map(|(k, r)| put(k, r)).collect();
        files.commit(&batch).unwrap();
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
        std::fs::create_dir_all(dir.path().join(blocked).join("in-the-way")).unwrap();
        let batch: Vec<Op<'_>> = keys.iter().map(|k| put(k, b"record")).collect();
        let error = files.commit(&batch).unwrap_err();
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
