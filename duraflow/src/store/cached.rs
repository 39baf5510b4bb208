//! `CachedStore`: a local store in front of a shared one, read through and written through.

use super::{Claim, FailedWrite, Found, Listed, Storage};
use std::collections::BTreeMap;
use std::io;

/// A local store (say a [`RedbStore`](crate::RedbStore) or [`FileStore`](crate::FileStore))
/// in front of a shared one (an [`ObjectStore`](crate::ObjectStore)): reads look in the local
/// store first and copy what they find only in the shared one into it; writes and removals
/// go to both. A run whose records are all local reads nothing from the shared store, and a
/// record another machine stored is fetched once. In front of a store that coordinates
/// workers (a `PostgresStore`), keys are claimed in the shared store. Made by
/// [`ObjectStore::cached`](crate::ObjectStore::cached), or [`CachedStore::new`].
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

    /// The local store's records, and the shared store's for the keys it lacks (copied into
    /// the local store). A record over `limit` is left unread in either.
    fn get_many(&self, keys: &[&str], limit: u64) -> io::Result<Vec<Found>> {
        let mut found = self.local.get_many(keys, limit)?;
        let missing: Vec<usize> = (0..keys.len())
            .filter(|&i| found[i] == Found::Absent)
            .collect();
        if missing.is_empty() {
            return Ok(found);
        }
        let wanted: Vec<&str> = missing.iter().map(|&i| keys[i]).collect();
        for (i, shared) in missing
            .into_iter()
            .zip(self.shared.get_many(&wanted, limit)?)
        {
            if let Found::Record(record) = &shared {
                self.local.put(keys[i], record.clone())?;
            }
            found[i] = shared;
        }
        Ok(found)
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

    /// The records of either store.
    fn list(&self) -> io::Result<Vec<Listed>> {
        let pairs = |listed: Vec<Listed>| listed.into_iter().map(|l| (l.key, l.size));
        let mut listed: BTreeMap<String, u64> = pairs(self.shared.list()?).collect();
        listed.extend(pairs(self.local.list()?));
        Ok(listed
            .into_iter()
            .map(|(key, size)| Listed { key, size })
            .collect())
    }

    fn is_blocking(&self) -> bool {
        self.local.is_blocking() || self.shared.is_blocking()
    }

    /// As the shared store: workers sharing it claim keys there.
    fn coordinates(&self) -> bool {
        self.shared.coordinates()
    }

    /// Claims in the shared store; a record another worker stored meanwhile is copied into
    /// the local store.
    fn claim(&self, key: &str, stale: Option<&[u8]>) -> io::Result<Claim> {
        let claim = self.shared.claim(key, stale)?;
        if let Claim::Restore(record) = &claim {
            self.local.put(key, record.clone())?;
        }
        Ok(claim)
    }

    fn release(&self, key: &str) -> io::Result<()> {
        self.shared.release(key)
    }
}

impl<L, S: std::fmt::Debug> std::fmt::Debug for CachedStore<L, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedStore")
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}
