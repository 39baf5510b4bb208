//! `MemoryStore`: records in memory, for tests and for runs that need no durability.

use super::{FailedWrite, RecordVisitor, Storage};
use crate::codec::fnv1a64;
use crate::padded::Padded;
use crate::TaskKey;
use hashbrown::hash_table::{Entry, HashTable};
use parking_lot::RwLock;
use std::io;

/// Shards of the store: tasks finishing at once on different threads rarely wait for each
/// other's writes.
const SHARDS: usize = 16;

/// One shard: a hash table of [`Slot`]s, each a key and its record in one allocation.
///
/// Records are copied in, so the caller's buffer is freed at once and reused for the next
/// record. Each record gets its own block from the allocator, which hands out memory a run
/// has just freed (still in the cache), where one growing buffer for all records (the
/// seventh session's layout) wrote every record to memory no one had touched yet: chains of
/// 10,000 tasks ran 5–8 % slower with it. A replaced or removed record is freed at once.
///
/// A key is hashed once, by [`Hashed::of`], for both its shard and its slot; keys are hashed
/// again, from their slots, only when the table grows.
#[derive(Debug, Default)]
struct Shard {
    slots: HashTable<Slot>,
}

/// A key and its record in one block: the key's length (LEB128), the key, then the record.
/// No limit on either: the length takes as many bytes as it needs.
#[derive(Debug)]
struct Slot(Box<[u8]>);

impl Slot {
    /// `key` and a copy of `record`.
    fn new(key: &str, record: &[u8]) -> Slot {
        let mut len = key.len();
        let mut head = [0u8; 10];
        let mut n = 0;
        while len >= 0x80 {
            head[n] = len as u8 | 0x80;
            n += 1;
            len >>= 7;
        }
        head[n] = len as u8;
        n += 1;
        let mut bytes = Vec::with_capacity(n + key.len() + record.len());
        bytes.extend_from_slice(&head[..n]);
        bytes.extend_from_slice(key.as_bytes());
        bytes.extend_from_slice(record);
        Slot(bytes.into_boxed_slice())
    }

    /// The key and the record.
    fn read(&self) -> (&[u8], &[u8]) {
        let bytes = &self.0[..];
        let (mut len, mut shift, mut at) = (0usize, 0, 0);
        loop {
            let byte = bytes[at];
            len |= usize::from(byte & 0x7f) << shift;
            at += 1;
            if byte < 0x80 {
                break;
            }
            shift += 7;
        }
        bytes[at..].split_at(len)
    }

    /// The key.
    fn key(&self) -> &[u8] {
        self.read().0
    }

    /// Whether it is `key`'s entry.
    fn holds(&self, key: &str) -> bool {
        self.key() == key.as_bytes()
    }

    /// Its key's hash, for the table to grow.
    fn hash(&self) -> u64 {
        fnv1a64(self.key())
    }
}

/// A key with its hash.
#[derive(Clone, Copy)]
struct Hashed<'k> {
    key: &'k str,
    hash: u64,
}

impl<'k> Hashed<'k> {
    fn of(key: &'k str) -> Self {
        Hashed {
            key,
            hash: fnv1a64(key.as_bytes()),
        }
    }

    /// The shard: the top bits of the hash multiplied by 2⁶⁴/φ, which depend on all of its
    /// bits. The table takes the hash's own low bits for a slot and its top seven for a tag,
    /// so the keys of one shard still spread over it.
    fn shard(self) -> usize {
        const BITS: u32 = SHARDS.trailing_zeros();
        const _: () = assert!(SHARDS.is_power_of_two());
        (self.hash.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - BITS)) as usize
    }
}

impl Shard {
    fn record(&self, key: Hashed<'_>) -> Option<&[u8]> {
        self.slots
            .find(key.hash, |slot| slot.holds(key.key))
            .map(|slot| slot.read().1)
    }

    /// Stores a copy of `record` under `key`.
    fn put(&mut self, key: Hashed<'_>, record: &[u8]) {
        let slot = Slot::new(key.key, record);
        let entry = self
            .slots
            .entry(key.hash, |old| old.holds(key.key), Slot::hash);
        match entry {
            Entry::Vacant(entry) => {
                entry.insert(slot);
            }
            Entry::Occupied(mut entry) => {
                *entry.get_mut() = slot;
            }
        }
    }

    fn remove(&mut self, key: Hashed<'_>) {
        if let Ok(entry) = self.slots.find_entry(key.hash, |slot| slot.holds(key.key)) {
            entry.remove();
        }
    }

    fn keys(&self) -> impl Iterator<Item = String> + '_ {
        self.slots
            .iter()
            .map(|slot| String::from_utf8_lossy(slot.key()).into_owned())
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
            .map(|shard| shard.read().slots.len())
            .sum()
    }

    /// True when no record is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, key: Hashed<'_>) -> &RwLock<Shard> {
        &self.shards[key.shard()]
    }

    /// Reads `key`'s record, if any, with `read`.
    fn read<R>(&self, key: &str, read: impl FnOnce(Option<&[u8]>) -> R) -> R {
        let key = Hashed::of(key);
        read(self.shard(key).read().record(key))
    }

    /// Stores a copy of `record` under `key`.
    fn store(&self, key: &str, record: &[u8]) {
        let hashed = Hashed::of(key);
        self.shard(hashed).write().put(hashed, record);
    }
}

impl Storage for MemoryStore {
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        Ok(self.read(key, |record| record.map(<[u8]>::to_vec)))
    }

    fn read_with(&self, key: &str, read: &mut dyn FnMut(Option<&[u8]>)) -> io::Result<()> {
        self.read(key, read);
        Ok(())
    }

    /// Read-locks every shard once, not once a key: with no atomic instruction between two
    /// lookups, the processor overlaps their cache misses (the records of a resumed run were
    /// written long before, and are rarely still cached). `read` must not write to the store.
    fn read_many_with(&self, keys: &[&str], read: &mut RecordVisitor<'_>) -> io::Result<()> {
        let shards: [_; SHARDS] = std::array::from_fn(|i| self.shards[i].read());
        for (i, key) in keys.iter().enumerate() {
            let key = Hashed::of(key);
            read(i, shards[key.shard()].record(key));
        }
        Ok(())
    }

    fn put(&self, key: &str, record: Vec<u8>) -> io::Result<()> {
        self.store(key, &record);
        Ok(())
    }

    /// Copies the record, leaving the caller its buffer.
    fn put_shared(&self, key: &TaskKey, record: &mut Vec<u8>) -> io::Result<()> {
        self.store(key, record);
        Ok(())
    }

    /// Makes room in every shard's table for its share of `additional` records, and some
    /// slack: the table does not grow (and hash every key again) during the run.
    fn reserve(&self, additional: usize) {
        let share = additional / SHARDS + additional / (4 * SHARDS) + 8;
        for shard in &self.shards {
            shard.write().slots.reserve(share, Slot::hash);
        }
    }

    fn holds_nothing(&self) -> bool {
        self.shards
            .iter()
            .all(|shard| shard.read().slots.is_empty())
    }

    fn remove(&self, key: &str) -> io::Result<()> {
        let key = Hashed::of(key);
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
            .flat_map(|shard| shard.read().keys().collect::<Vec<_>>())
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

    /// Key `k`: short, or long enough that its length takes two or three bytes in its slot.
    fn key(k: u8) -> String {
        let tail = usize::from(k % 4) * 300 * usize::from(k);
        format!("key-{k}-{}", "x".repeat(tail))
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

        /// Puts (large and small), overwrites and removals: the store
        /// answers every key as a map would, by `get`, `read_with` and `keys`.
        #[test]
        fn the_store_answers_as_a_map_does(ops in proptest::collection::vec(op(), 1..60)) {
            let store = MemoryStore::new();
            let mut model: HashMap<String, Vec<u8>> = HashMap::new();
            for op in ops {
                match op {
                    Op::Put(k, v) => {
                        let key = key(k);
                        // Both ways in: an owned record, and one lent with the task's key.
                        if k % 2 == 0 {
                            store.put(&key, v.clone()).unwrap();
                        } else {
                            store.put_shared(&TaskKey::from(key.as_str()), &mut v.clone()).unwrap();
                        }
                        model.insert(key, v);
                    }
                    Op::Remove(k) => {
                        store.remove(&key(k)).unwrap();
                        model.remove(&key(k));
                    }
                }
            }
            for k in 0u8..24 {
                let key = key(k);
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
            prop_assert_eq!(store.holds_nothing(), model.is_empty());
        }
    }

    #[test]
    fn keys_spread_over_the_shards() {
        for prefix in ["t", "task-", "fetch/2026-11-26/customer-"] {
            let mut counts = [0usize; SHARDS];
            for i in 0..16_000 {
                counts[Hashed::of(&format!("{prefix}{i}")).shard()] += 1;
            }
            for count in counts {
                assert!((500..=1_500).contains(&count), "{prefix}: {counts:?}");
            }
        }
    }

    #[test]
    fn an_empty_store_makes_room_for_a_run() {
        let store = MemoryStore::new();
        store.reserve(16_000);
        let capacities: Vec<usize> = store
            .shards
            .iter()
            .map(|shard| shard.read().slots.capacity())
            .collect();
        assert!(capacities.iter().all(|&c| c >= 1_000), "{capacities:?}");
        for i in 0..16_000 {
            store.put(&format!("t{i}"), vec![7; 30]).unwrap();
        }
        let after: Vec<usize> = store
            .shards
            .iter()
            .map(|shard| shard.read().slots.capacity())
            .collect();
        assert_eq!(capacities, after, "no table grew during the run");
    }

    #[test]
    fn holds_nothing_until_a_record_is_stored_and_again_once_removed() {
        let store = MemoryStore::new();
        assert!(store.holds_nothing());
        store.put("a", vec![1]).unwrap();
        assert!(!store.holds_nothing());
        store.remove("a").unwrap();
        assert!(store.holds_nothing());
    }

    /// A batched read holds every shard's read lock at once: beside threads that write to
    /// every shard, it still finishes, and finds each key's record whole (written by one put).
    #[test]
    fn a_batched_read_beside_writers_finishes_and_sees_whole_records() {
        let store = std::sync::Arc::new(MemoryStore::new());
        let keys: Vec<String> = (0..256).map(|i| format!("k{i}")).collect();
        let writers: Vec<_> = (0..3u8)
            .map(|w| {
                let (store, keys) = (std::sync::Arc::clone(&store), keys.clone());
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
            let mut seen = vec![false; wanted.len()];
            store
                .read_many_with(&wanted, &mut |i, record| {
                    seen[i] = true;
                    if let Some(record) = record {
                        assert_eq!(record.len(), 64, "{}", wanted[i]);
                        assert!(record.iter().all(|&b| b == record[0]), "{}", wanted[i]);
                    }
                })
                .unwrap();
            assert!(seen.iter().all(|&s| s));
        }
        for writer in writers {
            writer.join().unwrap();
        }
        let mut last = Vec::new();
        store
            .read_many_with(&wanted, &mut |_, record| last.push(record.map(<[u8]>::len)))
            .unwrap();
        assert_eq!(last, vec![Some(64); wanted.len()]);
    }

    #[test]
    fn a_replaced_record_takes_the_place_of_the_old_one() {
        let store = MemoryStore::new();
        for round in 0..64u8 {
            store.put("one", vec![round; 10_000]).unwrap();
        }
        let one = Hashed::of("one");
        let shard = store.shard(one).read();
        assert_eq!(shard.slots.len(), 1);
        assert_eq!(shard.record(one), Some(&[63u8; 10_000][..]));
    }
}
