//! `CachedStore`: a local store in front of a shared one, read through and written through.

use super::{FailedWrite, Storage};
use std::collections::BTreeSet;
use std::io;

/// A local store (say a [`RedbStore`](crate::RedbStore) or [`FileStore`](crate::FileStore))
/// in front of a shared one (an [`ObjectStore`](crate::ObjectStore)): reads look in the local
/// store first and copy what they find only in the shared one into it; writes and removals
/// go to both. A run whose records are all local reads nothing from the shared store, and a
/// record another machine stored is fetched once. Made by
/// [`ObjectStore::cached`](crate::ObjectStore::cached).
pub struct CachedStore<L, S> {
    local: L,
    shared: S,
}

impl<L: Storage, S: Storage> CachedStore<L, S> {
    /// `local` in front of `shared`.
    pub fn new(local: L, shared: S) -> Self {
        Self { local, shared }
    }

    /// The local store.
    pub fn local(&self) -> &L {
        &self.local
    }

    /// The shared store.
    pub fn shared(&self) -> &S {
        &self.shared
    }
}

impl<L: Storage, S: Storage> Storage for CachedStore<L, S> {
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        if let Some(record) = self.local.get(key)? {
            return Ok(Some(record));
        }
        let record = self.shared.get(key)?;
        if let Some(record) = &record {
            self.local.put(key, record.clone())?;
        }
        Ok(record)
    }

    fn get_many(&self, keys: &[&str]) -> io::Result<Vec<Option<Vec<u8>>>> {
        let mut records = self.local.get_many(keys)?;
        let missing: Vec<usize> = (0..keys.len()).filter(|&i| records[i].is_none()).collect();
        if missing.is_empty() {
            return Ok(records);
        }
        let wanted: Vec<&str> = missing.iter().map(|&i| keys[i]).collect();
        for (i, record) in missing.into_iter().zip(self.shared.get_many(&wanted)?) {
            if let Some(record) = &record {
                self.local.put(keys[i], record.clone())?;
            }
            records[i] = record;
        }
        Ok(records)
    }

    fn put(&self, key: &str, record: Vec<u8>) -> io::Result<()> {
        self.local.put(key, record.clone())?;
        self.shared.put(key, record)
    }

    fn remove(&self, key: &str) -> io::Result<()> {
        self.local.remove(key)?;
        self.shared.remove(key)
    }

    /// Flushes the local store, then the shared one; the first failure is returned.
    fn flush(&self) -> Result<(), FailedWrite> {
        let local = self.local.flush();
        let shared = self.shared.flush();
        local.and(shared)
    }

    /// The keys of either store.
    fn keys(&self) -> io::Result<Vec<String>> {
        let mut keys: BTreeSet<String> = self.local.keys()?.into_iter().collect();
        keys.extend(self.shared.keys()?);
        Ok(keys.into_iter().collect())
    }

    fn is_blocking(&self) -> bool {
        self.local.is_blocking() || self.shared.is_blocking()
    }
}

impl<L, S: std::fmt::Debug> std::fmt::Debug for CachedStore<L, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedStore")
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}
