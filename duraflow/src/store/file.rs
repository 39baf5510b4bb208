//! `FileStore`: one file per key in a directory, written atomically and durably.

use super::file_name::{self, TEMP_PREFIX};
use super::write_behind::{storage_over_queue, Backend, Op, WriteBehind};
use super::{remove_temp_files, FailedWrite, RecordVisitor};
use crate::DuraflowError;
use crate::TaskKey;
use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Records as files in one directory.
///
/// * one file per key; names are a reversible, collision-free escape of the key (see the
///   module docs of `file_name`), so no key reaches outside the directory;
/// * a write goes to a temp file in the same directory, is synced, renamed over the final
///   name, and the directory is synced: a record is either wholly there or not at all. On
///   Linux the temp file of a new key has no name (`O_TMPFILE`) and is linked under its
///   final name once synced, which saves a rename: a directory operation a record;
/// * writes are grouped: records queued while the previous batch commits are committed
///   together, with one file-system sync and one directory sync per batch; a large batch that
///   is slow to write goes in chunks, each synced and named on a second thread while the
///   next is written;
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

/// Batched reads of at least this many keys list the directory first.
const LIST_FROM: usize = 16;

/// A batch of more new records than this is committed in chunks, each synced and put under
/// its names on a second thread while the next is being written: only the last chunk's sync
/// and links are left when the last file is written.
const PIPELINE_FROM: usize = 64;

/// How long writing a chunk takes at least. Each chunk costs a file-system sync: where files
/// are created fast (30 µs each), a batch of 1,000 is one chunk, as without a second thread;
/// where creating one takes 0.7 ms (this VM after many deletions), chunks of about 30 files
/// overlap their syncs and links with the writing of the next.
const CHUNK_TIME: Duration = Duration::from_millis(20);

struct Files {
    dir: PathBuf,
    dir_handle: File,
    /// Distinguishes this handle's temp files from those of an earlier process that had
    /// the same pid (a restarted container's pid 1, say).
    nonce: u64,
    next_temp: AtomicU64,
    /// This process's id, part of every temp file's name.
    pid: u32,
    /// Whether records are staged in unnamed temp files (see [`anonymous`]).
    anonymous: bool,
    /// [`CHUNK_TIME`] (tests take less, to make many chunks).
    chunk_time: Duration,
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

/// A temp file written and not yet under its final name.
struct Staged<'a> {
    op: &'a Op<'a>,
    /// Its name, or `None` for an unnamed one (see [`anonymous`]).
    temp: Option<PathBuf>,
    file: File,
}

/// A named temp file that was not put under its key's name is removed (an unnamed one
/// vanishes with its handle).
impl Drop for Staged<'_> {
    fn drop(&mut self) {
        if let Some(temp) = &self.temp {
            let _ = fs::remove_file(temp);
        }
    }
}

impl Files {
    /// The files of the store in `dir`.
    fn open(dir: PathBuf) -> io::Result<Files> {
        let files = Files {
            dir_handle: File::open(&dir)?,
            dir,
            nonce: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
            next_temp: AtomicU64::new(0),
            pid: std::process::id(),
            anonymous: false,
            chunk_time: CHUNK_TIME,
        };
        Ok(Files {
            anonymous: anonymous::works(&files),
            ..files
        })
    }

    /// A new temp file name: the prefix, this process's id (so a later `new` can tell the
    /// files of dead processes), the store's nonce and a counter.
    fn temp_name(&self) -> PathBuf {
        let n = self.next_temp.fetch_add(1, Ordering::Relaxed);
        let (pid, nonce) = (self.pid, self.nonce);
        self.dir.join(format!("{TEMP_PREFIX}{pid}-{nonce:x}-{n}"))
    }

    /// Writes `op`'s record to a new temp file.
    fn stage<'a>(&self, op: &'a Op<'a>) -> Result<Staged<'a>, FailedWrite> {
        self.try_stage(op).map_err(|e| failed(op, e))
    }

    /// [`Files::stage`], failing with the I/O error alone.
    fn try_stage<'a>(&self, op: &'a Op<'a>) -> io::Result<Staged<'a>> {
        let (temp, file) = if self.anonymous {
            (None, anonymous::create(&self.dir)?)
        } else {
            let temp = self.temp_name();
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)?;
            (Some(temp), file)
        };
        let mut staged = Staged { op, temp, file };
        staged.file.write_all(op.record.unwrap_or_default())?;
        Ok(staged)
    }

    /// Puts a synced temp file under its key's name, replacing any record there. An unnamed
    /// one is linked; if the name is taken (a record is replaced), it is linked under a temp
    /// name first and renamed, as a rename replaces atomically and a link does not.
    fn publish(&self, mut staged: Staged<'_>) -> Result<(), FailedWrite> {
        let op = staged.op;
        let target = self.dir.join(file_name::file_name(op.key));
        if staged.temp.is_none() {
            match anonymous::link(&staged.file, &target) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let temp = self.temp_name();
                    anonymous::link(&staged.file, &temp).map_err(|e| failed(op, e))?;
                    staged.temp = Some(temp);
                }
                linked => return linked.map_err(|e| failed(op, e)),
            }
        }
        let temp = staged.temp.as_ref().expect("a named temp file");
        // On failure the temp file is removed when `staged` drops.
        fs::rename(temp, &target).map_err(|e| failed(op, e))?;
        staged.temp = None;
        Ok(())
    }

    /// The record in the file `name`, if there is one.
    fn read_name(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.dir.join(name)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The names in the directory, or `None` if it holds more than `limit` entries (then
    /// opening each wanted file is cheaper than reading them all).
    fn names(&self, limit: usize) -> io::Result<Option<HashSet<OsString>>> {
        let mut names = HashSet::new();
        for entry in fs::read_dir(&self.dir)? {
            if names.len() == limit {
                return Ok(None);
            }
            names.insert(entry?.file_name());
        }
        Ok(Some(names))
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

    /// Makes `staged` durable and puts each file under its key's name. The directory is
    /// synced by the caller.
    fn publish_all(&self, staged: Vec<Staged<'_>>) -> Result<(), FailedWrite> {
        self.sync_staged(&staged)?;
        staged.into_iter().try_for_each(|s| self.publish(s))
    }

    /// Writes, syncs and names `puts` in one go.
    fn put_chunk(&self, puts: &[&Op<'_>]) -> Result<(), FailedWrite> {
        let staged: Result<Vec<_>, _> = puts.iter().map(|op| self.stage(op)).collect();
        self.publish_all(staged?)
    }

    /// Writes `puts` chunk by chunk on this thread while a second one syncs and names the
    /// chunks written before. The first error, of either thread, fails the batch; the files
    /// of chunks not yet named are removed (or, unnamed, vanish).
    fn put_pipelined(&self, puts: &[&Op<'_>]) -> Result<(), FailedWrite> {
        std::thread::scope(|scope| {
            // Two chunks may wait: the writer does not stop for a sync, and holds at most
            // four chunks of open files.
            let (chunks, written) = std::sync::mpsc::sync_channel::<Vec<Staged<'_>>>(2);
            let publisher = std::thread::Builder::new()
                .name("duraflow-filestore-sync".to_owned())
                .spawn_scoped(scope, move || {
                    written
                        .into_iter()
                        .try_for_each(|staged| self.publish_all(staged))
                });
            let publisher = match publisher {
                Ok(publisher) => publisher,
                // No second thread: the batch in one chunk, on this one.
                Err(_) => return self.put_chunk(puts),
            };
            let mut staging = Ok(());
            let mut chunk = Vec::new();
            let mut since = Instant::now();
            for op in puts {
                match self.stage(op) {
                    Ok(staged) => chunk.push(staged),
                    Err(e) => {
                        staging = Err(e);
                        break;
                    }
                }
                if since.elapsed() >= self.chunk_time {
                    if chunks.send(std::mem::take(&mut chunk)).is_err() {
                        // The publisher failed and stopped: its error is the batch's.
                        break;
                    }
                    since = Instant::now();
                }
            }
            if staging.is_ok() && !chunk.is_empty() {
                let _ = chunks.send(chunk);
            }
            drop(chunks);
            let published = publisher.join().unwrap_or_else(|_| {
                Err(failed(
                    puts[0],
                    io::Error::other("the thread syncing the store's files panicked"),
                ))
            });
            published.and(staging)
        })
    }
}

/// Unnamed temp files: Linux's `O_TMPFILE`, linked under a name through `/proc/self/fd`
/// (which needs no privilege, unlike `AT_EMPTY_PATH`). A crash before the link leaves
/// nothing behind: the file system frees an unnamed file once it is closed.
mod anonymous {
    use super::Files;
    use std::fs::File;
    use std::io;
    use std::path::Path;

    /// Whether the store's directory takes unnamed temp files that can be linked: tried
    /// once, when the store is opened, with a file linked under a temp name and removed.
    pub(super) fn works(files: &Files) -> bool {
        let Ok(file) = create(&files.dir) else {
            return false;
        };
        let probe = files.temp_name();
        let linked = link(&file, &probe).is_ok();
        linked && std::fs::remove_file(&probe).is_ok()
    }

    /// A new unnamed file in `dir`, open for writing.
    #[cfg(target_os = "linux")]
    pub(super) fn create(dir: &Path) -> io::Result<File> {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .mode(0o666)
            .custom_flags(libc::O_TMPFILE)
            .open(dir)
    }

    /// Gives the unnamed `file` the name `to`; fails with `AlreadyExists` if it is taken.
    #[cfg(target_os = "linux")]
    pub(super) fn link(file: &File, to: &Path) -> io::Result<()> {
        use std::ffi::CString;
        use std::os::fd::AsRawFd;
        use std::os::unix::ffi::OsStrExt;
        let from = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd()))?;
        let to = CString::new(to.as_os_str().as_bytes())?;
        // SAFETY: both paths are NUL-terminated strings that live across the call.
        let linked = unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                from.as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        };
        if linked == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn create(_: &Path) -> io::Result<File> {
        Err(io::ErrorKind::Unsupported.into())
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn link(_: &File, _: &Path) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
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
        self.read_name(&file_name::file_name(key))
    }

    /// Lists the directory once, when asked for many keys and it is not much larger, and
    /// opens only the files that are there: a fresh run asks for keys that have no file, and
    /// each failed open costs a path lookup. A file that appears after the listing is missed,
    /// as it would be by an open made just before it appeared.
    fn read_many_with(&self, keys: &[&str], read: &mut RecordVisitor<'_>) -> io::Result<()> {
        let listed = if keys.len() >= LIST_FROM {
            self.names(4 * keys.len() + 64)?
        } else {
            None
        };
        for (i, key) in keys.iter().enumerate() {
            let name = file_name::file_name(key);
            let absent = listed
                .as_ref()
                .is_some_and(|names| !names.contains(OsStr::new(&name)));
            if absent {
                read(i, None);
            } else {
                read(i, self.read_name(&name)?.as_deref());
            }
        }
        Ok(())
    }

    /// Every batch is durable: a file store has no cheap way to make a later sync cover
    /// earlier renames on every platform, so it keeps no durability window.
    fn commit(&self, batch: &[Op<'_>], _durable: bool) -> Result<(), FailedWrite> {
        let Some(first) = batch.first() else {
            return Ok(());
        };
        let puts: Vec<&Op<'_>> = batch.iter().filter(|op| op.record.is_some()).collect();
        if puts.len() > PIPELINE_FROM {
            self.put_pipelined(&puts)?;
        } else {
            self.put_chunk(&puts)?;
        }
        for op in batch.iter().filter(|op| op.record.is_none()) {
            match fs::remove_file(self.dir.join(file_name::file_name(op.key))) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(failed(op, e)),
                _ => {}
            }
        }
        self.dir_handle.sync_all().map_err(|e| failed(first, e))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn put<'a>(key: &'a TaskKey, record: &'a [u8]) -> Op<'a> {
        Op {
            key,
            record: Some(record),
        }
    }

    /// The files of a store in a new temp dir, staging records in unnamed temp files only
    /// with `anonymous` (and where the platform has them).
    fn store(anonymous: bool) -> (tempfile::TempDir, Files) {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Files::open(dir.path().to_path_buf()).unwrap();
        files.anonymous &= anonymous;
        (dir, files)
    }

    /// Each kind of temp file, with batches in one chunk and in a chunk a file.
    fn setups() -> impl Iterator<Item = (bool, Duration)> {
        [true, false]
            .into_iter()
            .flat_map(|anonymous| [(anonymous, CHUNK_TIME), (anonymous, Duration::ZERO)])
    }

    /// Keys `k000`, `k001`, ... in order.
    fn keys(n: usize) -> Vec<TaskKey> {
        (0..n)
            .map(|i| TaskKey::from(format!("k{i:03}").as_str()))
            .collect()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    /// New records and replaced ones, staged in unnamed temp files (where the platform has
    /// them) and in named ones: each lands under its key's name, and no temp file is left.
    #[test]
    fn records_are_written_and_replaced_with_either_kind_of_temp_file() {
        if cfg!(target_os = "linux") {
            assert!(store(true).1.anonymous, "O_TMPFILE works in the temp dir");
        }
        for anonymous in [true, false] {
            let (dir, files) = store(anonymous);
            let (a, b) = (TaskKey::from("a"), TaskKey::from("b"));
            files
                .commit(&[put(&a, b"first a"), put(&b, b"first b")], true)
                .unwrap();
            files.commit(&[put(&a, b"second a")], true).unwrap();
            assert_eq!(files.read("a").unwrap().as_deref(), Some(&b"second a"[..]));
            assert_eq!(files.read("b").unwrap().as_deref(), Some(&b"first b"[..]));
            assert_eq!(names(dir.path()), ["a", "b"], "anonymous: {anonymous}");
        }
    }

    /// A batch larger than a chunk, new records and replaced ones, with either kind of temp
    /// file: every record lands under its key's name, and no temp file is left.
    #[test]
    fn a_large_batch_is_committed_in_chunks() {
        for (anonymous, chunk_time) in setups() {
            let (dir, mut files) = store(anonymous);
            files.chunk_time = chunk_time;
            let keys = keys(3 * PIPELINE_FROM + 5);
            let old: Vec<Op<'_>> = keys.iter().step_by(7).map(|k| put(k, b"old")).collect();
            files.commit(&old, true).unwrap();
            let records: Vec<Vec<u8>> = (0..keys.len()).map(|i| vec![i as u8; 40]).collect();
            let batch: Vec<Op<'_>> = keys.iter().zip(&records).map(|(k, r)| put(k, r)).collect();
            files.commit(&batch, true).unwrap();
            for (key, record) in keys.iter().zip(&records) {
                assert_eq!(files.read(key).unwrap().as_ref(), Some(record), "{key}");
            }
            let expected: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
            assert_eq!(
                names(dir.path()),
                expected,
                "anonymous: {anonymous}, chunks of {chunk_time:?}"
            );
        }
    }

    /// A record that cannot be put under its name (a directory is in the way) in the middle
    /// of a large batch fails it naming that key; the chunks before it are committed, and no
    /// temp file is left.
    #[test]
    fn a_failure_in_a_large_batch_names_its_key_and_leaves_no_temp_file() {
        for (anonymous, chunk_time) in setups() {
            let (dir, mut files) = store(anonymous);
            files.chunk_time = chunk_time;
            let keys = keys(3 * PIPELINE_FROM);
            let blocked = &keys[PIPELINE_FROM + 10];
            fs::create_dir_all(dir.path().join(blocked.to_string()).join("in-the-way")).unwrap();
            let batch: Vec<Op<'_>> = keys.iter().map(|k| put(k, b"record")).collect();
            let error = files.commit(&batch, true).unwrap_err();
            assert_eq!(
                error.key,
                blocked.to_string(),
                "anonymous: {anonymous}, chunks of {chunk_time:?}"
            );
            assert_eq!(
                files.read(&keys[0]).unwrap().as_deref(),
                Some(&b"record"[..])
            );
            let temps: Vec<String> = names(dir.path())
                .into_iter()
                .filter(|name| name.starts_with(TEMP_PREFIX))
                .collect();
            assert!(
                temps.is_empty(),
                "anonymous: {anonymous}, chunks of {chunk_time:?}: {temps:?}"
            );
        }
    }

    /// The probe at open leaves nothing behind.
    #[test]
    fn opening_leaves_the_directory_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let _files = Files::open(dir.path().to_path_buf()).unwrap();
        assert!(names(dir.path()).is_empty());
    }
}
