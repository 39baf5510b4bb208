//! `MemoryStore`: records in memory, for tests and for runs that need no durability.

use super::{FailedWrite, RecordVisitor, Storage};
use crate::codec::{fnv1a64, FnvBuild};
use crate::padded::Padded;
use crate::TaskKey;
use indexmap::IndexMap;
use parking_lot::RwLock;
use std::io;
use std::ops::Range;

/// Shards of the store: tasks finishing at once on different threads rarely wait for each
/// other's writes.
const SHARDS: usize = 16;

/// Bytes of replaced or removed records a shard keeps before it compacts (and at least as
/// many as it holds live).
const WASTE_MIN: usize = 64 * 1024;

/// One shard: its records' bytes one after another in `arena`, and where each key's record
/// is, in the order keys were first stored.
///
/// Records are copied in, so the caller's buffer is freed at once (and the next record
/// reuses it from the allocator's cache) and a DAG's records, stored and read back in about
/// the order of its tasks, sit next to each other. The hash table holds only indices and
/// keys of up to 30 bytes inline: it stays small and needs no pointer followed to compare.
#[derive(Debug, Default)]
struct Shard {
    places: IndexMap<TaskKey, Range<usize>, FnvBuild>,
    arena: Vec<u8>,
    /// Bytes in `arena` no record uses any more.
    waste: usize,
}

impl Shard {
    fn record(&self, key: &str) -> Option<&[u8]> {
        self.places.get(key).map(|place| &self.arena[place.clone()])
    }

    fn put(&mut self, key: &TaskKey, record: &[u8]) {
        let start = self.arena.len();
        self.arena.extend_from_slice(record);
        let place = start..self.arena.len();
        match self.places.entry(key.clone()) {
            indexmap::map::Entry::Vacant(entry) => {
                entry.insert(place);
            }
            indexmap::map::Entry::Occupied(mut entry) => {
                self.waste += entry.insert(place).len();
                self.compact_if_wasteful();
            }
        }
    }

    fn remove(&mut self, key: &str) {
        if let Some(old) = self.places.swap_remove(key) {
            self.waste += old.len();
            self.compact_if_wasteful();
        }
    }

    /// Copies the live records into a new arena once replaced ones outweigh them.
    fn compact_if_wasteful(&mut self) {
        let live = self.arena.len() - self.waste;
        if self.waste < WASTE_MIN || self.waste < live {
            return;
        }
        let mut arena = Vec::with_capacity(live);
        for place in self.places.values_mut() {
            let start = arena.len();
            arena.extend_from_slice(&self.arena[place.clone()]);
            *place = start..arena.len();
        }
        self.arena = arena;
        self.waste = 0;
    }
}

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
    shards: [Padded<RwLock<Shard>>; SHARDS],
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.read().places.len())
            .sum()
    }

    /// True when no record is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, key: &str) -> &RwLock<Shard> {
        &self.shards[fnv1a64(key.as_bytes()) as usize % SHARDS]
    }
}

impl Storage for MemoryStore {
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        Ok(self.shard(key).read().record(key).map(<[u8]>::to_vec))
    }

    fn read_with(&self, key: &str, read: &mut dyn FnMut(Option<&[u8]>)) -> io::Result<()> {
        read(self.shard(key).read().record(key));
        Ok(())
    }

    fn read_many_with(&self, keys: &[&str], read: &mut RecordVisitor<'_>) -> io::Result<()> {
        for (i, key) in keys.iter().enumerate() {
            read(i, self.shard(key).read().record(key));
        }
        Ok(())
    }

    fn put(&self, key: &str, record: Vec<u8>) -> io::Result<()> {
        self.put_shared(&TaskKey::from(key), record)
    }

    fn put_shared(&self, key: &TaskKey, record: Vec<u8>) -> io::Result<()> {
        self.shard(key).write().put(key, &record);
        Ok(())
    }

    /// Makes room in every shard for its share of `additional` records, and some slack.
    fn reserve(&self, additional: usize) {
        let share = additional / SHARDS + additional / (4 * SHARDS) + 8;
        for shard in &self.shards {
            shard.write().places.reserve(share);
        }
    }

    fn remove(&self, key: &str) -> io::Result<()> {
        self.shard(key).write().remove(key);
        Ok(())
    }

    fn flush(&self) -> Result<(), FailedWrite> {
        Ok(())
    }

    fn keys(&self) -> io::Result<Vec<String>> {
        Ok(self
            .shards
            .iter()
            .flat_map(|shard| {
                shard
                    .read()
                    .places
                    .keys()
                    .map(|k| k.to_string())
                    .collect::<Vec<_>>()
            })
            .collect())
    }

    fn is_blocking(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[derive(Debug, Clone)]
    enum Op {
        Put(u8, Vec<u8>),
        Remove(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u8..24, proptest::collection::vec(any::<u8>(), 0..40_000))
                .prop_map(|(k, v)| Op::Put(k, v)),
            1 => (0u8..24).prop_map(Op::Remove),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Puts (large enough to make shards compact), overwrites and removals: the store
        /// answers every key as a map would, by `get`, `read_with` and `keys`.
        #[test]
        fn the_store_answers_as_a_map_does(ops in proptest::collection::vec(op(), 1..60)) {
            let store = MemoryStore::new();
            let mut model: HashMap<String, Vec<u8>> = HashMap::new();
            for op in ops {
                match op {
                    Op::Put(k, v) => {
                        store.put(&format!("key-{k}"), v.clone()).unwrap();
                        model.insert(format!("key-{k}"), v);
                    }
                    Op::Remove(k) => {
                        store.remove(&format!("key-{k}")).unwrap();
                        model.remove(&format!("key-{k}"));
                    }
                }
            }
            for k in 0u8..24 {
                let key = format!("key-{k}");
                prop_assert_eq!(store.get(&key).unwrap(), model.get(&key).cloned());
                let mut lent = None;
                store.read_with(&key, &mut |bytes| lent = bytes.map(<[u8]>::to_vec)).unwrap();
                prop_assert_eq!(lent, model.get(&key).cloned());
            }
            let mut keys = store.keys().unwrap();
            keys.sort();
            let mut expected: Vec<String> = model.keys().cloned().collect();
            expected.sort();
            prop_assert_eq!(keys, expected);
            prop_assert_eq!(store.len(), model.len());
        }
    }

    #[test]
    fn replaced_records_are_compacted_away() {
        let store = MemoryStore::new();
        for round in 0..64u8 {
            store.put("one", vec![round; 10_000]).unwrap();
        }
        let shard = store.shard("one").read();
        assert!(shard.arena.len() < 2 * WASTE_MIN, "{}", shard.arena.len());
        assert_eq!(shard.record("one"), Some(&[63u8; 10_000][..]));
    }
}
