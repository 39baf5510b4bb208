//! Reading the records of a `RedbStore`'s file, shared by the store itself and by
//! [`RedbReader`], the read-only handle that tools open beside a process that holds the
//! store: the store opens its database as redb's single writer
//! (`ConcurrencyMode::SingleWriter`), which lets any number of read-only handles follow its
//! commits.

use super::blobs::{self, Blobs};
use super::fs::StdFs;
use super::{FailedWrite, Found, Listed, Storage};
use crate::DuraflowError;
use redb::{
    ConcurrencyMode, Database, DatabaseError, ReadOnlyDatabase, ReadableDatabase, ReadableTable,
    TableDefinition, TableError,
};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Key → record, or → pointer to the file of a large record (see [`blobs`]).
pub(super) const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("duraflow_records");

/// How every handle of a store's file shares it: one writing process, any number of
/// read-only ones.
pub(super) const SHARING: ConcurrencyMode = ConcurrencyMode::SingleWriter;

/// The record of `key`, read whole.
pub(super) fn read(
    db: &impl ReadableDatabase,
    blobs: &Blobs,
    key: &str,
) -> io::Result<Option<Vec<u8>>> {
    match read_many(db, blobs, &[key], u64::MAX)?.pop() {
        Some(Found::Record(record)) => Ok(Some(record)),
        _ => Ok(None),
    }
}

/// The records of `keys` in one read transaction, in order; those longer than `limit` left
/// unread. A large record's file that is gone was replaced or removed by a commit after the
/// transaction began: the keys are read once more, in a new transaction.
pub(super) fn read_many(
    db: &impl ReadableDatabase,
    blobs: &Blobs,
    keys: &[&str],
    limit: u64,
) -> io::Result<Vec<Found>> {
    match read_once(db, blobs, keys, limit) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => read_once(db, blobs, keys, limit),
        read => read,
    }
}

fn read_once(
    db: &impl ReadableDatabase,
    blobs: &Blobs,
    keys: &[&str],
    limit: u64,
) -> io::Result<Vec<Found>> {
    let txn = db.begin_read().map_err(io::Error::other)?;
    let table = match txn.open_table(RECORDS) {
        Ok(table) => table,
        Err(TableError::TableDoesNotExist(_)) => return Ok(vec![Found::Absent; keys.len()]),
        Err(e) => return Err(io::Error::other(e)),
    };
    keys.iter()
        .map(|key| match table.get(*key).map_err(io::Error::other)? {
            None => Ok(Found::Absent),
            Some(value) => resolve(blobs, key, value.value(), limit),
        })
        .collect()
}

/// What a value of the records table holds: the record, or the record its pointer names
/// when that is not longer than `limit`.
fn resolve(blobs: &Blobs, key: &str, value: &[u8], limit: u64) -> io::Result<Found> {
    match blobs::parse_pointer(value) {
        None if value.len() as u64 > limit => Ok(Found::Unread),
        None => Ok(Found::Record(value.to_vec())),
        Some((len, _)) if len > limit => Ok(Found::Unread),
        Some((_, name)) => blobs.read(key, name).map(Found::Record),
    }
}

/// Every committed key with its record's length.
pub(super) fn list(db: &impl ReadableDatabase) -> io::Result<Vec<Listed>> {
    let txn = db.begin_read().map_err(io::Error::other)?;
    let table = match txn.open_table(RECORDS) {
        Ok(table) => table,
        Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(io::Error::other(e)),
    };
    table
        .iter()
        .map_err(io::Error::other)?
        .map(|entry| {
            let (key, value) = entry.map_err(io::Error::other)?;
            let value = value.value();
            let size = blobs::parse_pointer(value).map_or(value.len() as u64, |(len, _)| len);
            Ok(Listed {
                key: key.value().to_owned(),
                size,
            })
        })
        .collect()
}

/// Opens the existing store file at `path` with `open`, creating nothing: a path that is
/// no file, no redb database or one without duraflow's records is [`DuraflowError::NotAStore`].
pub(super) fn open_existing<D: ReadableDatabase>(
    path: &Path,
    open: impl FnOnce(&Path) -> Result<D, DatabaseError>,
) -> Result<D, DuraflowError> {
    let not_a_store = |reason: String| DuraflowError::NotAStore {
        path: path.to_path_buf(),
        reason,
    };
    if !path.is_file() {
        return Err(not_a_store("no such file".into()));
    }
    let db = match open(path) {
        Ok(db) => db,
        Err(DatabaseError::Storage(e)) => {
            return Err(not_a_store(format!("not a redb database ({e})")))
        }
        Err(e) => return Err(open_failed(path, e)),
    };
    let txn = db.begin_read().map_err(|e| not_a_store(e.to_string()))?;
    if txn.open_table(RECORDS).is_err() {
        return Err(not_a_store(
            "a redb database without duraflow records".into(),
        ));
    }
    drop(txn);
    Ok(db)
}

/// The error of an open of the store at `path` that redb refused.
pub(super) fn open_failed(path: &Path, error: DatabaseError) -> DuraflowError {
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

/// A `RedbStore`'s file opened read-only: reads follow the commits of the process that
/// holds the store (each read sees its latest durable commit), writes are refused. What
/// `duraflow ls`, `show`, `du` and `verify` open, so that they work while a run holds the
/// store.
///
/// ```
/// # fn main() -> Result<(), duraflow::DuraflowError> {
/// use duraflow::{Context, RedbReader, RedbStore};
/// let path = std::env::temp_dir().join(format!("duraflow-reader-{}.redb", std::process::id()));
/// let ctx = Context::new(RedbStore::open(&path)?);
/// ctx.save("answer", &42u64)?;
/// // While `ctx` holds the store, another process (or handle) reads it:
/// let reader = Context::new(RedbReader::open(&path)?);
/// assert_eq!(reader.get::<u64>("answer"), Some(42));
/// assert!(reader.save("answer", &1u64).is_err());
/// # drop((ctx, reader)); std::fs::remove_file(path).unwrap();
/// # Ok(()) }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "redb")))]
pub struct RedbReader {
    path: PathBuf,
    db: ReadOnlyDatabase,
    blobs: Blobs,
}

impl RedbReader {
    /// Opens the existing store file at `path` read-only, beside the process that may hold
    /// it. Fails with [`DuraflowError::NotAStore`] when `path` is no store, and with
    /// [`DuraflowError::StoreInUse`] when a process of an older duraflow (which locks the
    /// whole file) holds it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, DuraflowError> {
        let path = path.as_ref().to_path_buf();
        let db = open_existing(&path, |path| {
            Database::builder()
                .set_concurrency_mode(SHARING)
                .open_read_only(path)
        })?;
        Ok(Self {
            blobs: Blobs::beside(&path, Arc::new(StdFs)),
            path,
            db,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn refused(&self, key: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is opened read-only: the record of {key:?} cannot be changed; open it \
                 with RedbStore::open (once no other process holds it) to write",
                self.path.display()
            ),
        )
    }
}

impl std::fmt::Debug for RedbReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RedbReader({})", self.path.display())
    }
}

/// Reads see the writer's durable commits; `put` and `remove` fail, `flush` has nothing to
/// do.
#[cfg_attr(docsrs, doc(cfg(feature = "redb")))]
impl Storage for RedbReader {
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        read(&self.db, &self.blobs, key)
    }

    fn get_many(&self, keys: &[&str], limit: u64) -> io::Result<Vec<Found>> {
        read_many(&self.db, &self.blobs, keys, limit)
    }

    fn put(&self, key: &str, _record: Vec<u8>) -> io::Result<()> {
        Err(self.refused(key))
    }

    fn remove(&self, key: &str) -> io::Result<()> {
        Err(self.refused(key))
    }

    fn flush(&self) -> Result<(), FailedWrite> {
        Ok(())
    }

    fn list(&self) -> io::Result<Vec<Listed>> {
        list(&self.db)
    }
}
