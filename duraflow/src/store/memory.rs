//! `MemoryStore`: records in memory, for tests and for runs that need no durability.

use super::{FailedWrite, Found, Listed, Storage};
use hashbrown::HashMap;
use parking_lot::RwLock;
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
        self.len() == 0
    }
}

impl Storage for MemoryStore {
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        Ok(self.records.read().get(key).cloned())
    }

    /// Under one read lock: the records all come from the same moment of the store.
    fn get_many(&self, keys: &[&str], limit: u64) -> io::Result<Vec<Found>> {
        let records = self.records.read();
        let found = keys.iter().map(|key| match records.get(*key) {
            None => Found::Absent,
            Some(record) if record.len() as u64 > limit => Found::Unread,
            Some(record) => Found::Record(record.clone()),
        });
        Ok(found.collect())
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

    fn list(&self) -> io::Result<Vec<Listed>> {
        let records = self.records.read();
        let listed = records.iter().map(|(key, record)| Listed {
            key: key.clone(),
            size: record.len() as u64,
        });
        Ok(listed.collect())
    }

    fn is_blocking(&self) -> bool {
        false
    }
}

/// A `MemoryStore` whose reads go through `read`, so a test can let another worker act in
/// the middle of one (before or after the read itself).
#[cfg(test)]
pub(crate) struct OnRead<F> {
    pub(crate) store: MemoryStore,
    pub(crate) read: F,
}

#[cfg(test)]
impl<F> Storage for OnRead<F>
where
    F: Fn(&MemoryStore, &str) -> io::Result<Option<Vec<u8>>> + Send + Sync,
{
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        (self.read)(&self.store, key)
    }
    fn put(&self, key: &str, record: Vec<u8>) -> io::Result<()> {
        self.store.put(key, record)
    }
    fn remove(&self, key: &str) -> io::Result<()> {
        self.store.remove(key)
    }
    fn flush(&self) -> Result<(), FailedWrite> {
        self.store.flush()
    }
    fn list(&self) -> io::Result<Vec<Listed>> {
        self.store.list()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::Arc;

    #[derive(Debug, Clone)]
    enum Op {
        Put(u8, Vec<u8>),
        Remove(u8),
    }

    fn key(k: u8) -> String {
        format!("key-{k}")
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u8..24, proptest::collection::vec(any::<u8>(), 0..2_000))
                .prop_map(|(k, v)| Op::Put(k, v)),
            1 => (0u8..24).prop_map(Op::Remove),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Puts, overwrites and removals: the store answers every key as a map would, by
        /// `get`, `get_many`, `list` and `len`.
        #[test]
        fn the_store_answers_as_a_map_does(ops in proptest::collection::vec(op(), 1..60)) {
            let store = MemoryStore::new();
            let mut model: HashMap<String, Vec<u8>> = HashMap::new();
            for op in ops {
                match op {
                    Op::Put(k, v) => {
                        store.put(&key(k), v.clone()).unwrap();
                        model.insert(key(k), v);
                    }
                    Op::Remove(k) => {
                        store.remove(&key(k)).unwrap();
                        model.remove(&key(k));
                    }
                }
            }
            let keys: Vec<String> = (0u8..24).map(key).collect();
            let wanted: Vec<&str> = keys.iter().map(String::as_str).collect();
            let many = store.get_many(&wanted, 1_000).unwrap();
            for (key, batched) in keys.iter().zip(many) {
                let expected = model.get(key).cloned();
                prop_assert_eq!(store.get(key).unwrap(), expected.clone());
                let expected = match expected {
                    Some(record) if record.len() > 1_000 => Found::Unread,
                    record => Found::from_record(record),
                };
                prop_assert_eq!(batched, expected);
            }
            let mut listed = store.list().unwrap();
            listed.sort();
            let mut expected: Vec<Listed> = model
                .iter()
                .map(|(key, record)| Listed { key: key.clone(), size: record.len() as u64 })
                .collect();
            expected.sort();
            prop_assert_eq!(listed, expected);
            prop_assert_eq!(store.len(), model.len());
        }
    }

    /// Threads replacing every record while another reads them all in batches: each read
    /// finds every record whole (written by one put), and the last writes are what remains.
    #[test]
    fn batched_reads_beside_writers_see_whole_records() {
        let store = Arc::new(MemoryStore::new());
        let keys: Vec<String> = (0..256).map(|i| format!("k{i}")).collect();
        let writers: Vec<_> = (0..3u8)
            .map(|w| {
                let (store, keys) = (Arc::clone(&store), keys.clone());
                std::thread::spawn(move || {
                    for round in 0..200u8 {
                        for key in &keys {
                            store.put(key, vec![w ^ round; 64]).unwrap();
                        }
                    }
                })
            })
            .collect();
        let wanted: Vec<&str> = keys.iter().map(String::as_str).collect();
        for _ in 0..200 {
            let records = store.get_many(&wanted, u64::MAX).unwrap();
            assert_eq!(records.len(), wanted.len());
            let records = records.into_iter().filter_map(|found| match found {
                Found::Record(record) => Some(record),
                _ => None,
            });
            for (key, record) in wanted.iter().zip(records) {
                assert_eq!(record.len(), 64, "{key}");
                assert!(record.iter().all(|&b| b == record[0]), "{key}");
            }
        }
        for writer in writers {
            writer.join().unwrap();
        }
        // Each key holds the last round of one of the writers.
        let last_rounds: Vec<Vec<u8>> = (0..3u8).map(|w| vec![w ^ 199; 64]).collect();
        for key in &wanted {
            let record = store.get(key).unwrap();
            let record = record.unwrap_or_else(|| panic!("{key} has no record"));
            assert!(last_rounds.contains(&record), "{key}: {record:?}");
        }
        assert_eq!(store.len(), wanted.len());
    }
}
