//! `MemoryStore`: records in a hash map, for tests and for runs that need no durability.

use super::{FailedWrite, Storage};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::io;

/// Records in memory; gone when the process ends.
///
/// ```
/// use duraflow::{Context, MemoryStore};
/// let ctx = Context::new(MemoryStore::new());
/// ctx.save("answer", &42u32).unwrap();
/// assert_eq!(ctx.get::<u32>("answer"), Some(42));
/// ```
#[derive(Debug, Default)]
pub struct MemoryStore {
    records: RwLock<HashMap<String, Vec<u8>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.read().len()
    }

    /// True when no record is stored.
    pub fn is_empty(&self) -> bool {
        self.records.read().is_empty()
    }
}

impl Storage for MemoryStore {
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        Ok(self.records.read().get(key).cloned())
    }

    fn read_with(&self, key: &str, read: &mut dyn FnMut(Option<&[u8]>)) -> io::Result<()> {
        read(self.records.read().get(key).map(Vec::as_slice));
        Ok(())
    }

    fn put(&self, key: &str, record: Vec<u8>) -> io::Result<()> {
        self.records.write().insert(key.to_owned(), record);
        Ok(())
    }

    fn remove(&self, key: &str) -> io::Result<()> {
        self.records.write().remove(key);
        Ok(())
    }

    fn flush(&self) -> Result<(), FailedWrite> {
        Ok(())
    }

    fn keys(&self) -> io::Result<Vec<String>> {
        Ok(self.records.read().keys().cloned().collect())
    }

    fn is_blocking(&self) -> bool {
        false
    }
}
