//! `RedbStore`: the embedded durable default, one redb database file.

use super::write_behind::{Backend, Op, WriteBehind};
use super::{remove_temp_files, FailedWrite, Storage};
use crate::DuraflowError;
use redb::{
    Database, DatabaseError, Durability, ReadableDatabase, ReadableTable, TableDefinition,
    TableError,
};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("duraflow_records");

/// How long a record may stay not durable by default (see [`RedbStore::sync_window`]).
#[cfg_attr(docsrs, doc(cfg(feature = "redb")))]
pub const DEFAULT_SYNC_WINDOW: Duration = Duration::from_millis(100);

/// Records in one [redb](https://docs.rs/redb) database file: crash-safe (copy-on-write
/// B-trees, checksummed commits), fast, and the recommended durable store.
///
/// Records of tasks that complete close together are committed in one transaction (up to 256
/// at a time), durable at the latest [`DEFAULT_SYNC_WINDOW`] after they were stored (see
/// [`RedbStore::sync_window`]) and at once on flush. The file is locked: a second process
/// opening it gets [`DuraflowError::StoreInUse`] naming it.
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
}

impl RedbStore {
    /// Opens (or creates) the database file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, DuraflowError> {
        let path = path.as_ref().to_path_buf();
        let open_error = |source: io::Error| DuraflowError::Open {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(open_error)?;
        }
        if !path.exists() {
            create_atomically(&path)?;
        }
        let db = Database::create(&path).map_err(|e| open_failed(&path, e))?;
        Self::start(path, db)
    }

    /// Opens an existing store file without creating anything: for tools that must not
    /// turn a mistyped path into an empty store.
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Self, DuraflowError> {
        let path = path.as_ref().to_path_buf();
        let not_a_store = |reason: String| DuraflowError::NotAStore {
            path: path.clone(),
            reason,
        };
        if !path.is_file() {
            return Err(not_a_store("no such file".into()));
        }
        let db = match Database::open(&path) {
            Ok(db) => db,
            Err(DatabaseError::Storage(e)) => {
                return Err(not_a_store(format!("not a redb database ({e})")))
            }
            Err(e) => return Err(open_failed(&path, e)),
        };
        let has_table = db
            .begin_read()
            .map_err(|e| not_a_store(e.to_string()))?
            .open_table(RECORDS)
            .is_ok();
        if !has_table {
            return Err(not_a_store(
                "a redb database without duraflow records".into(),
            ));
        }
        Self::start(path, db)
    }

    fn start(path: PathBuf, db: Database) -> Result<Self, DuraflowError> {
        let open_error = |source: io::Error| DuraflowError::Open {
            path: path.clone(),
            source,
        };
        let queue = WriteBehind::new(Db { db }, "duraflow-redb", Some(DEFAULT_SYNC_WINDOW))
            .map_err(open_error)?;
        Ok(Self { path, queue })
    }

    /// Sets how long a stored record may stay not durable (default 100 ms). Inside the window
    /// records gather into batches of up to 256, each committed atomically but without an
    /// fsync, and one synced commit then covers them all: a crash loses at most the window's
    /// records (their tasks run again), never their consistency. `DurableDag::run` and
    /// `Storage::flush` sync at once, so records are durable whenever they return `Ok`.
    /// `None` syncs every batch.
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
    let _ = remove_temp_files(dir, &prefix, false);
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

fn open_failed(path: &Path, error: DatabaseError) -> DuraflowError {
    match error {
        DatabaseError::DatabaseAlreadyOpen => DuraflowError::StoreInUse {
            path: path.to_path_buf(),
        },
        other => DuraflowError::Open {
            path: path.to_path_buf(),
            source: io::Error::other(other),
        },
    }
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

    fn get_many(&self, keys: &[&str]) -> io::Result<Vec<Option<Vec<u8>>>> {
        self.queue.get_many(keys)
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

    fn keys(&self) -> io::Result<Vec<String>> {
        self.queue.keys()
    }
}

impl Backend for Db {
    fn read(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        Ok(self.read_many(&[key])?.pop().flatten())
    }

    /// One read transaction for all keys.
    fn read_many(&self, keys: &[&str]) -> io::Result<Vec<Option<Vec<u8>>>> {
        let txn = self.db.begin_read().map_err(io::Error::other)?;
        let table = match txn.open_table(RECORDS) {
            Ok(table) => table,
            Err(TableError::TableDoesNotExist(_)) => return Ok(vec![None; keys.len()]),
            Err(e) => return Err(io::Error::other(e)),
        };
        keys.iter()
            .map(|key| {
                let value = table.get(*key).map_err(io::Error::other)?;
                Ok(value.map(|value| value.value().to_vec()))
            })
            .collect()
    }

    /// One write transaction per batch; `durable` commits with `Durability::Immediate`
    /// (which also makes the earlier `Durability::None` commits durable).
    fn commit(&self, batch: &[Op<'_>], durable: bool) -> Result<(), FailedWrite> {
        let fail = |e: &dyn std::fmt::Display| FailedWrite {
            key: batch
                .first()
                .map(|op| op.key.to_owned())
                .unwrap_or_default(),
            source: io::Error::other(e.to_string()),
        };
        let mut txn = self.db.begin_write().map_err(|e| fail(&e))?;
        let durability = if durable {
            Durability::Immediate
        } else {
            Durability::None
        };
        txn.set_durability(durability).map_err(|e| fail(&e))?;
        {
            let mut table = txn.open_table(RECORDS).map_err(|e| fail(&e))?;
            // In key order, each B-tree page is visited once, in one pass.
            let mut in_order: Vec<&Op<'_>> = batch.iter().collect();
            in_order.sort_unstable_by(|a, b| a.key.cmp(b.key));
            for op in in_order {
                let result = match op.record {
                    Some(record) => table.insert(op.key, record).map(drop),
                    None => table.remove(op.key).map(drop),
                };
                result.map_err(|e| FailedWrite {
                    key: op.key.to_owned(),
                    source: io::Error::other(e.to_string()),
                })?;
            }
        }
        txn.commit().map_err(|e| fail(&e))
    }

    fn keys(&self) -> io::Result<Vec<String>> {
        let txn = self.db.begin_read().map_err(io::Error::other)?;
        let table = match txn.open_table(RECORDS) {
            Ok(table) => table,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(io::Error::other(e)),
        };
        table
            .iter()
            .map_err(io::Error::other)?
            .map(|entry| {
                entry
                    .map(|(key, _)| key.value().to_owned())
                    .map_err(io::Error::other)
            })
            .collect()
    }
}
