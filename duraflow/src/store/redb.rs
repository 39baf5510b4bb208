//! `RedbStore`: the embedded durable default, one redb database file.

use super::blobs::{self, Blobs};
use super::fs::{self, FileSystem, StdFs};
use super::redb_read::{self, open_failed, RECORDS, SHARING};
use super::write_behind::{Backend, Op, WriteBehind};
use super::{remove_temp_files, FailedWrite, Found, Listed, Storage, LARGE_RECORD};
use crate::DuraflowError;
use redb::{Builder, Database, Durability, ReadableDatabase, TableDefinition, TableError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// File name → key, for every large record's file: what an open's sweep keeps.
const BLOB_FILES: TableDefinition<&str, &str> = TableDefinition::new("duraflow_blob_files");

/// How long a record may stay not durable by default (see [`RedbStore::sync_window`]).
#[cfg_attr(docsrs, doc(cfg(feature = "redb")))]
pub const DEFAULT_SYNC_WINDOW: Duration = Duration::from_millis(100);

/// Records in one [redb](https://docs.rs/redb) database file: crash-safe (copy-on-write
/// B-trees, checksummed commits), fast, and the recommended durable store.
///
/// Records of tasks that complete close together are committed in one transaction, durable
/// at the latest [`DEFAULT_SYNC_WINDOW`] after they were stored (see
/// [`RedbStore::sync_window`]) and at once on flush. One process writes the file: a second
/// process opening it gets [`DuraflowError::StoreInUse`] naming it, while any number of
/// processes may read it meanwhile through a [`crate::RedbReader`] (as `duraflow ls` does).
///
/// ```
/// # fn main() -> Result<(), duraflow::DuraflowError> {
/// use duraflow::{Context, RedbStore};
/// let path = std::env::temp_dir().join(format!("duraflow-doc-{}.redb", std::process::id()));
/// let ctx = Context::new(RedbStore::open(&path)?);
/// ctx.save("answer", &42u64)?;
/// assert_eq!(ctx.get::<u64>("answer"), Some(42));
/// # drop(ctx); std::fs::remove_file(path).unwrap();
/// # Ok(()) }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "redb")))]
pub struct RedbStore {
    path: PathBuf,
    queue: WriteBehind<Db>,
}

struct Db {
    db: Database,
    blobs: Blobs,
}

/// Settings a [`RedbStore`] is opened with: [`RedbStore::builder`].
#[cfg_attr(docsrs, doc(cfg(feature = "redb")))]
#[derive(Debug, Clone, Default)]
pub struct RedbBuilder {
    cache_size: Option<usize>,
}

impl RedbBuilder {
    /// The memory redb may use to cache the database's pages (redb's default: 1 GiB).
    /// Large records live in files of their own and are not cached, so this bounds the
    /// memory of the store's small records and B-tree.
    pub fn with_cache_size(mut self, bytes: usize) -> Self {
        self.cache_size = Some(bytes);
        self
    }

    /// Opens (or creates) the database file at `path` with these settings.
    pub fn open(&self, path: impl AsRef<Path>) -> Result<RedbStore, DuraflowError> {
        RedbStore::open_with(path.as_ref(), self)
    }

    fn redb(&self) -> Builder {
        let mut builder = Database::builder();
        builder.set_concurrency_mode(SHARING);
        if let Some(bytes) = self.cache_size {
            builder.set_cache_size(bytes);
        }
        builder
    }
}

impl RedbStore {
    /// Opens (or creates) the database file at `path`, with its large records in the
    /// directory beside it (`{path}.blobs`).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, DuraflowError> {
        Self::open_with(path.as_ref(), &RedbBuilder::default())
    }

    /// Settings to open a store with, such as its cache size:
    ///
    /// ```
    /// # fn main() -> Result<(), duraflow::DuraflowError> {
    /// use duraflow::RedbStore;
    /// let path = std::env::temp_dir().join(format!("duraflow-cache-{}.redb", std::process::id()));
    /// let store = RedbStore::builder().with_cache_size(64 << 20).open(&path)?;
    /// # drop(store); std::fs::remove_file(path).unwrap();
    /// # Ok(()) }
    /// ```
    pub fn builder() -> RedbBuilder {
        RedbBuilder::default()
    }

    fn open_with(path: &Path, builder: &RedbBuilder) -> Result<Self, DuraflowError> {
        let path = path.to_path_buf();
        let open_error = |source: io::Error| DuraflowError::Open {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_durably(&StdFs, parent).map_err(open_error)?;
        }
        if !path.exists() {
            create_atomically(&path)?;
        }
        let db = builder
            .redb()
            .create(&path)
            .map_err(|e| open_failed(&path, e))?;
        Self::open_db(path, db, Arc::new(StdFs))
    }

    /// Opens the store in `backend` (a database, or nothing to create one in), with its large
    /// records in `{path}.blobs` on `fs`: the seam of the power-loss tests.
    #[cfg(test)]
    pub(crate) fn open_on(
        path: &Path,
        backend: impl redb::StorageBackend,
        fs: Arc<dyn FileSystem>,
    ) -> Result<Self, DuraflowError> {
        let db = RedbBuilder::default()
            .redb()
            .create_with_backend(backend)
            .map_err(|e| open_failed(path, e))?;
        Self::open_db(path.to_path_buf(), db, fs)
    }

    fn open_db(
        path: PathBuf,
        db: Database,
        fs: Arc<dyn FileSystem>,
    ) -> Result<Self, DuraflowError> {
        let db = Db {
            blobs: Blobs::beside(&path, fs),
            db,
        };
        // Files of large records that no committed pointer names: from commits a crash lost.
        db.sweep().map_err(|source| DuraflowError::Open {
            path: db.blobs.dir().to_path_buf(),
            source,
        })?;
        Self::start(path, db)
    }

    /// Opens an existing store file without creating anything: for tools that must not
    /// turn a mistyped path into an empty store.
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Self, DuraflowError> {
        let path = path.as_ref().to_path_buf();
        let db = redb_read::open_existing(&path, |path| RedbBuilder::default().redb().open(path))?;
        let db = Db {
            blobs: Blobs::beside(&path, Arc::new(StdFs)),
            db,
        };
        Self::start(path, db)
    }

    fn start(path: PathBuf, db: Db) -> Result<Self, DuraflowError> {
        let open_error = |source: io::Error| DuraflowError::Open {
            path: path.clone(),
            source,
        };
        let queue =
            WriteBehind::new(db, "duraflow-redb", Some(DEFAULT_SYNC_WINDOW)).map_err(open_error)?;
        Ok(Self { path, queue })
    }

    /// Sets how long a stored record may stay not durable (default 100 ms). Inside the window
    /// records gather (up to 16 MiB) and one synced commit then covers them all: a crash
    /// loses at most the window's records (their tasks run again), never their consistency.
    /// `DurableDag::run` and `Storage::flush` sync at once, so records are durable whenever
    /// they return `Ok`. `None` commits every batch at once.
    ///
    /// ```
    /// # fn main() -> Result<(), duraflow::DuraflowError> {
    /// use duraflow::RedbStore;
    /// use std::time::Duration;
    /// let path = std::env::temp_dir().join(format!("duraflow-window-{}.redb", std::process::id()));
    /// let store = RedbStore::open(&path)?.sync_window(Some(Duration::from_millis(20)));
    /// # drop(store); std::fs::remove_file(path).unwrap();
    /// # Ok(()) }
    /// ```
    pub fn sync_window(self, window: Option<Duration>) -> Self {
        self.queue.set_window(window);
        self
    }

    /// Compresses the payload of every record stored from now on with zstd at `level` (1 to
    /// 22; 3 is zstd's default), on the thread that stores it. Records say in their header
    /// whether they are compressed, so every reader decodes both kinds; a payload that does
    /// not shrink is stored as it is. Off by default.
    pub fn with_compression(self, level: i32) -> Self {
        self.queue.set_compression(Some(level));
        self
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Creates the database under a temp name, with its table, and links it into place, so a
/// crash during creation never leaves a half-written file at `path` that no later open could
/// read. Loses no race: if another process created `path` first, its file is kept.
fn create_atomically(path: &Path) -> Result<(), DuraflowError> {
    let open_error = |source: io::Error| DuraflowError::Open {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| open_error(io::Error::other("the path has no file name")))?
        .to_string_lossy();
    let prefix = format!(".{name}.creating-");
    if let Ok(opened) = StdFs.open_dir(dir) {
        let _ = remove_temp_files(&*opened, &prefix, false);
    }
    let temp = dir.join(format!("{prefix}{}", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    let created = (|| {
        let db = Database::create(&temp).map_err(io::Error::other)?;
        let txn = db.begin_write().map_err(io::Error::other)?;
        txn.open_table(RECORDS).map_err(io::Error::other)?;
        txn.commit().map_err(io::Error::other)?;
        drop(db);
        match std::fs::hard_link(&temp, path) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
        std::fs::File::open(dir)?.sync_all()
    })();
    let _ = std::fs::remove_file(&temp);
    created.map_err(open_error)
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.path)
            .finish()
    }
}

/// Reads see the records still queued; `put` and `remove` only queue, for the store's
/// writer thread, and `flush` waits for it.
#[cfg_attr(docsrs, doc(cfg(feature = "redb")))]
impl Storage for RedbStore {
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

impl Db {
    /// Deletes the files of large records that no committed pointer names.
    fn sweep(&self) -> io::Result<usize> {
        let txn = self.db.begin_read().map_err(io::Error::other)?;
        let files = match txn.open_table(BLOB_FILES) {
            Ok(files) => Some(files),
            Err(TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(io::Error::other(e)),
        };
        self.blobs.sweep(|name| match &files {
            Some(files) => Ok(files.get(name).map_err(io::Error::other)?.is_some()),
            None => Ok(false),
        })
    }

    /// Writes the batch's large records to files of their own; the value each op stores.
    fn stage_large<'b>(
        &self,
        batch: &'b [Op<'b>],
        written: &mut Vec<String>,
    ) -> Result<Vec<Option<std::borrow::Cow<'b, [u8]>>>, FailedWrite> {
        let mut values = Vec::with_capacity(batch.len());
        for op in batch {
            values.push(match op.record {
                Some(record) if record.len() as u64 >= LARGE_RECORD => {
                    let name = self.blobs.write(record).map_err(|e| failed(op.key, e))?;
                    let pointer = blobs::pointer(&name, record.len() as u64);
                    written.push(name);
                    Some(std::borrow::Cow::Owned(pointer))
                }
                record => record.map(std::borrow::Cow::Borrowed),
            });
        }
        if let Some(op) = batch.iter().find(|op| op.record.is_some()) {
            if !written.is_empty() {
                self.blobs.sync_dir().map_err(|e| failed(op.key, e))?;
            }
        }
        Ok(values)
    }

    /// Applies the batch in one durable write transaction, then deletes the files of the
    /// records it replaced or removed.
    fn apply(
        &self,
        batch: &[Op<'_>],
        values: &[Option<std::borrow::Cow<'_, [u8]>>],
    ) -> Result<(), FailedWrite> {
        let fail = |e: &dyn std::fmt::Display| FailedWrite {
            key: batch
                .first()
                .map(|op| op.key.to_owned())
                .unwrap_or_default(),
            source: io::Error::other(e.to_string()),
        };
        let mut txn = self.db.begin_write().map_err(|e| fail(&e))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| fail(&e))?;
        let mut dropped = Vec::new();
        {
            let mut table = txn.open_table(RECORDS).map_err(|e| fail(&e))?;
            let mut files = txn.open_table(BLOB_FILES).map_err(|e| fail(&e))?;
            // In key order, each B-tree page is visited once, in one pass.
            let mut in_order: Vec<(&Op<'_>, &Option<std::borrow::Cow<'_, [u8]>>)> =
                batch.iter().zip(values).collect();
            in_order.sort_unstable_by(|a, b| a.0.key.cmp(b.0.key));
            for (op, value) in in_order {
                let key = op.key;
                let failed_op = |e: redb::StorageError| failed(key, io::Error::other(e));
                let old = match value {
                    Some(value) => table.insert(key, value.as_ref()).map_err(failed_op)?,
                    None => table.remove(key).map_err(failed_op)?,
                };
                if let Some(old) = old {
                    if let Some((_, name)) = blobs::parse_pointer(old.value()) {
                        dropped.push(name.to_owned());
                    }
                }
                if let Some((_, name)) = value.as_deref().and_then(blobs::parse_pointer) {
                    files.insert(name, key).map_err(failed_op)?;
                }
            }
            for name in &dropped {
                files.remove(name.as_str()).map_err(|e| fail(&e))?;
            }
        }
        txn.commit().map_err(|e| fail(&e))?;
        self.blobs.delete(&dropped);
        Ok(())
    }
}

fn failed(key: &str, source: io::Error) -> FailedWrite {
    FailedWrite {
        key: key.to_owned(),
        source,
    }
}

impl Backend for Db {
    fn read(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        redb_read::read(&self.db, &self.blobs, key)
    }

    /// One read transaction for all keys.
    fn read_many(&self, keys: &[&str], limit: u64) -> io::Result<Vec<Found>> {
        redb_read::read_many(&self.db, &self.blobs, keys, limit)
    }

    /// Large records to files of their own first, then one durable write transaction for
    /// the batch.
    fn commit(&self, batch: &[Op<'_>]) -> Result<(), FailedWrite> {
        let mut written = Vec::new();
        let applied = self
            .stage_large(batch, &mut written)
            .and_then(|values| self.apply(batch, &values));
        if applied.is_err() {
            self.blobs.delete(&written);
        }
        applied
    }

    fn list(&self) -> io::Result<Vec<Listed>> {
        redb_read::list(&self.db)
    }
}
