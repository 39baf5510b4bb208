//! Storage backends: one small object-safe trait over bytes, one file per backend.
//!
//! A store keeps opaque record bytes (see [`crate::codec`]) under string keys. Stores that
//! batch writes (group commit) make their reads see their own pending writes and make
//! everything durable on [`Storage::flush`].

#[cfg(feature = "redb")]
mod blobs;
mod cached;
mod file;
pub mod file_name;
pub(crate) mod fs;
mod memory;
#[cfg(feature = "object-store")]
mod object;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redb")]
mod redb;
#[cfg(feature = "redb")]
mod redb_read;
mod write_behind;

#[cfg(feature = "object-store")]
#[cfg_attr(docsrs, doc(cfg(feature = "object-store")))]
pub use self::object::ObjectStore;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use self::postgres::PostgresStore;
#[cfg(feature = "redb")]
#[cfg_attr(docsrs, doc(cfg(feature = "redb")))]
pub use self::redb::{RedbBuilder, RedbStore, DEFAULT_SYNC_WINDOW};
#[cfg(feature = "redb")]
#[cfg_attr(docsrs, doc(cfg(feature = "redb")))]
pub use self::redb_read::RedbReader;
pub use cached::CachedStore;
pub use file::FileStore;
pub use memory::MemoryStore;
#[cfg(test)]
pub(crate) use memory::OnRead;

use std::io;
use std::sync::Arc;

/// Records at least this long are *large*: a run reads them when their task restores, not
/// in its prefetch, and `RedbStore` keeps them in files of their own.
pub(crate) const LARGE_RECORD: u64 = 64 * 1024;

/// A write that did not become durable: which key, and the store's error.
#[derive(Debug)]
pub struct FailedWrite {
    /// The key whose record was not written.
    pub key: String,
    /// Why.
    pub source: io::Error,
}

/// What [`Storage::get_many`] found under one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The record.
    Record(Vec<u8>),
    /// No record is stored under the key.
    Absent,
    /// A record longer than the caller's limit, left unread so that a batch of large
    /// records never sits in memory at once: read it with [`Storage::get`] when needed.
    Unread,
}

impl Found {
    /// `Found::Record` for `Some`, `Found::Absent` for `None`.
    pub fn from_record(record: Option<Vec<u8>>) -> Self {
        record.map_or(Found::Absent, Found::Record)
    }
}

/// One record as [`Storage::list`] lists it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Listed {
    /// Its key.
    pub key: String,
    /// Its length in bytes, as [`Storage::get`] would return it.
    pub size: u64,
}

/// What a coordinating store answers to [`Storage::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This worker holds the key's lease: run the task. The lease ends when its record is
    /// stored (`put`) or the claim is given up (`release`).
    Run,
    /// Another worker finished the task while this one waited: its record.
    Restore(Vec<u8>),
}

/// Object-safe storage of record bytes under keys.
///
/// Keys passed in have been checked by [`crate::validate_key`]. Implementations must make
/// [`Storage::get`] see every earlier [`Storage::put`] and [`Storage::remove`] of the same
/// handle, even before [`Storage::flush`].
pub trait Storage: Send + Sync {
    /// The record stored under `key`, if any.
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>>;

    /// The records of several keys at once, in the order of `keys` (one transaction where
    /// the backend has them). A record longer than `limit` bytes may be answered
    /// [`Found::Unread`] instead, when the store can tell its length without reading it.
    /// Default: [`Storage::get`] for each key.
    fn get_many(&self, keys: &[&str], limit: u64) -> io::Result<Vec<Found>> {
        let _ = limit;
        keys.iter()
            .map(|key| self.get(key).map(Found::from_record))
            .collect()
    }

    /// Stores `record` under `key`. Called where the task ran, on the async runtime's
    /// thread: a store that writes to disk or network must not do that I/O here but queue
    /// the record (the crate's durable stores use one write-behind queue for it) and make it
    /// durable in [`Storage::flush`]. It may wait while its queue is full, so that records
    /// produced faster than the disk takes them do not pile up in memory. A failure that
    /// happens later is returned by the next `flush`.
    fn put(&self, key: &str, record: Vec<u8>) -> io::Result<()>;

    /// Removes the record under `key` (no error if there is none).
    fn remove(&self, key: &str) -> io::Result<()>;

    /// Makes every earlier `put` and `remove` durable, or reports the first that failed.
    fn flush(&self) -> Result<(), FailedWrite>;

    /// Every record's key and length, in no particular order.
    fn list(&self) -> io::Result<Vec<Listed>>;

    /// Whether reads, `flush`, `claim` and `release` may block on I/O: duraflow then calls
    /// them off the async runtime's worker threads. Default `true`.
    fn is_blocking(&self) -> bool {
        true
    }

    /// Whether this store coordinates several workers with [`Storage::claim`]. When false
    /// (the default) duraflow never calls `claim` or `release`.
    fn coordinates(&self) -> bool {
        false
    }

    /// Called after a miss, before the task runs: claims `key` for this worker, or waits
    /// while another worker holds it and returns its record once stored. A claim whose
    /// holder died must be taken over once its lease expires. `stale` is the record this
    /// worker found under the key and cannot use (written by another task version, or from
    /// other inputs): it counts as no record, so the task is claimed and run once.
    fn claim(&self, key: &str, stale: Option<&[u8]>) -> io::Result<Claim> {
        let _ = (key, stale);
        Ok(Claim::Run)
    }

    /// Gives up the claim on `key` without a record (the task failed, or its output is a
    /// `Result::Err` that is not stored), so another worker may run it.
    fn release(&self, key: &str) -> io::Result<()> {
        let _ = key;
        Ok(())
    }
}

impl<S: Storage + ?Sized> Storage for Arc<S> {
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        (**self).get(key)
    }
    fn get_many(&self, keys: &[&str], limit: u64) -> io::Result<Vec<Found>> {
        (**self).get_many(keys, limit)
    }
    fn put(&self, key: &str, record: Vec<u8>) -> io::Result<()> {
        (**self).put(key, record)
    }
    fn remove(&self, key: &str) -> io::Result<()> {
        (**self).remove(key)
    }
    fn flush(&self) -> Result<(), FailedWrite> {
        (**self).flush()
    }
    fn list(&self) -> io::Result<Vec<Listed>> {
        (**self).list()
    }
    fn is_blocking(&self) -> bool {
        (**self).is_blocking()
    }
    fn coordinates(&self) -> bool {
        (**self).coordinates()
    }
    fn claim(&self, key: &str, stale: Option<&[u8]>) -> io::Result<Claim> {
        (**self).claim(key, stale)
    }
    fn release(&self, key: &str) -> io::Result<()> {
        (**self).release(key)
    }
}

/// Every record of `store` as it lists them, or an error saying the listing failed.
pub(crate) fn listing(store: &dyn Storage) -> Result<Vec<Listed>, crate::DuraflowError> {
    store.list().map_err(|source| crate::DuraflowError::Load {
        key: "(the store's key listing)".to_owned(),
        source,
    })
}

/// Runs a store call without stalling the async runtime: on a blocking store inside a tokio
/// runtime it goes to tokio's blocking pool, otherwise it runs in place.
pub(crate) async fn off_runtime<R, F>(store: &Arc<dyn Storage + Send + Sync>, call: F) -> R
where
    F: FnOnce(&(dyn Storage + Send + Sync)) -> R + Send + 'static,
    R: Send + 'static,
{
    if store.is_blocking() {
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let store = Arc::clone(store);
            match handle.spawn_blocking(move || call(&*store)).await {
                Ok(result) => return result,
                Err(join) => std::panic::resume_unwind(join.into_panic()),
            }
        }
    }
    call(&**store)
}

/// Removes files in `dir` named `{prefix}{pid}...` whose process is gone (and, with
/// `include_live`, those of running processes too). Files of live processes are otherwise
/// theirs to finish. Returns how many were removed and how many kept.
pub(crate) fn remove_temp_files(
    dir: &dyn fs::Dir,
    prefix: &str,
    include_live: bool,
) -> io::Result<(usize, usize)> {
    let (mut removed, mut kept) = (0, 0);
    for name in dir.names()? {
        let Some(rest) = name.strip_prefix(prefix) else {
            continue;
        };
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let dead = digits
            .parse::<u32>()
            .map_or(true, |pid| !process_alive(pid));
        if !(dead || include_live) {
            kept += 1;
            continue;
        }
        match dir.remove(&name) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {} // renamed by its writer
            Err(e) => return Err(e),
        }
    }
    Ok((removed, kept))
}

/// Whether a process with this id is running (on Unix; elsewhere assumed so).
#[cfg(unix)]
pub(crate) fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 performs only the existence and permission check.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Whether a process with this id is running (on Unix; elsewhere assumed so).
#[cfg(not(unix))]
pub(crate) fn process_alive(_pid: u32) -> bool {
    true
}
