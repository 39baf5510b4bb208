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

/// Bytes of replaced or removed records a shard keeps before it compacts (and at least as
/// many as it holds live).
const WASTE_MIN: usize = 64 * 1024;

/// The bytes assumed for a record and its key when an empty shard makes room for a run's
/// records: a small output, its type's name and its key (twice: in the record too).
const RECORD_GUESS: usize = 96;

/// One shard: each record's key and bytes one after another in `arena`, and a hash table of
/// where they are.
///
/// Records are copied in, so the caller's buffer is freed at once (and the next record
/// reuses it from the allocator's cache) and a DAG's records, stored and read back in about
/// the order of its tasks, sit next to each other. The table holds 16-byte [`Slot`]s and
/// nothing else: keys live in the arena, next to their records, so a record costs its bytes,
/// its key's and one slot (with an ordered map of owned keys it cost 72 bytes more).
///
/// A key is hashed once, by [`Hashed::of`], for both its shard and its slot; keys are hashed
/// again from the arena only when the table grows.
#[derive(Debug, Default)]
struct Shard {
    slots: HashTable<Slot>,
    arena: Vec<u8>,
    /// Bytes in `arena` no record uses any more.
    waste: usize,
}

/// Where a key and its record are in a shard's arena: from `start`, the key's length (LEB128),
/// the key, then the record, `size` bytes in all.
#[derive(Debug, Clone, Copy)]
struct Slot {
    start: usize,
    size: usize,
}

impl Slot {
    /// Appends `key` and `record` to `arena`.
    fn append(arena: &mut Vec<u8>, key: &str, record: &[u8]) -> Slot {
        let start = arena.len();
        let mut len = key.len();
        while len >= 0x80 {
            arena.push(len as u8 | 0x80);
            len >>= 7;
        }
        arena.push(len as u8);
        arena.extend_from_slice(key.as_bytes());
        arena.extend_from_slice(record);
        Slot {
            start,
            size: arena.len() - start,
        }
    }

    /// The key and the record.
    fn read(self, arena: &[u8]) -> (&[u8], &[u8]) {
        let bytes = &arena[self.start..self.start + self.size];
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

    fn key(self, arena: &[u8]) -> &[u8] {
        self.read(arena).0
    }

    /// Whether it is `key`'s entry.
    fn holds(self, arena: &[u8], key: &str) -> bool {
        self.key(arena) == key.as_bytes()
    }

    /// Its key's hash, for the table to grow.
    fn hash(self, arena: &[u8]) -> u64 {
        fnv1a64(self.key(arena))
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
            .find(key.hash, |&slot| slot.holds(&self.arena, key.key))
            .map(|&slot| slot.read(&self.arena).1)
    }

    /// Stores a copy of `record` under `key`.
    fn put(&mut self, key: Hashed<'_>, record: &[u8]) {
        let slot = Slot::append(&mut self.arena, key.key, record);
        let Shard { slots, arena, .. } = self;
        let entry = slots.entry(
            key.hash,
            |&old| old.holds(arena, key.key),
            |&old| old.hash(arena),
        );
        match entry {
            Entry::Vacant(entry) => {
                entry.insert(slot);
            }
            Entry::Occupied(mut entry) => {
                self.waste += std::mem::replace(entry.get_mut(), slot).size;
                self.compact_if_wasteful();
            }
        }
    }

    fn remove(&mut self, key: Hashed<'_>) {
        let Shard { slots, arena, .. } = self;
        let found = slots.find_entry(key.hash, |&slot| slot.holds(arena, key.key));
        if let Ok(entry) = found {
            self.waste += entry.remove().0.size;
            self.compact_if_wasteful();
        }
    }

    /// Copies the live keys and records into a new arena, in their order in the old one,
    /// once replaced ones outweigh them.
    fn compact_if_wasteful(&mut self) {
        let live = self.arena.len() - self.waste;
        if self.waste < WASTE_MIN || self.waste < live {
            return;
        }
        let mut arena = Vec::with_capacity(live);
        let mut slots: Vec<&mut Slot> = self.slots.iter_mut().collect();
        slots.sort_unstable_by_key(|slot| slot.start);
        for slot in slots {
            let start = arena.len();
            arena.extend_from_slice(&self.arena[slot.start..slot.start + slot.size]);
            slot.start = start;
        }
        self.arena = arena;
        self.waste = 0;
    }

    fn keys(&self) -> impl Iterator<Item = String> + '_ {
        self.slots
            .iter()
            .map(|&slot| String::from_utf8_lossy(slot.key(&self.arena)).into_owned())
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

    fn read_many_with(&self, keys: &[&str], read: &mut RecordVisitor<'_>) -> io::Result<()> {
        for (i, key) in keys.iter().enumerate() {
            self.read(key, |record| read(i, record));
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

    /// Makes room in every shard for its share of `additional` records, and some slack. An
    /// empty shard also makes room for their bytes, which would otherwise grow from a few
    /// bytes by doubling (a dozen copies for a thousand small records).
    fn reserve(&self, additional: usize) {
        let share = additional / SHARDS + additional / (4 * SHARDS) + 8;
        for shard in &self.shards {
            let Shard { slots, arena, .. } = &mut *shard.write();
            slots.reserve(share, |&slot| slot.hash(arena));
            if arena.is_empty() {
                arena.reserve(share * RECORD_GUESS);
            }
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

    /// Key `k`: short, or long enough that its length takes two or three bytes in the arena.
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

        /// Puts (large enough to make shards compact), overwrites and removals: the store
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
    fn an_empty_store_makes_room_for_a_run_and_a_full_one_does_not_grow() {
        let store = MemoryStore::new();
        store.reserve(16_000);
        for shard in &store.shards {
            let shard = shard.read();
            assert!(
                shard.slots.capacity() >= 1_000,
                "{}",
                shard.slots.capacity()
            );
            assert!(shard.arena.capacity() >= 1_000 * RECORD_GUESS);
        }
        for i in 0..16_000 {
            store.put(&format!("t{i}"), vec![7; 300]).unwrap();
        }
        let before: Vec<usize> = store
            .shards
            .iter()
            .map(|s| s.read().arena.capacity())
            .collect();
        // A resumed run of the same DAG: its records are there; their bytes are not reserved
        // again (the index still makes room: it cannot know which keys will be new).
        store.reserve(16_000);
        let after: Vec<usize> = store
            .shards
            .iter()
            .map(|s| s.read().arena.capacity())
            .collect();
        assert_eq!(before, after);
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

    #[test]
    fn replaced_records_are_compacted_away() {
        let store = MemoryStore::new();
        for round in 0..64u8 {
            store.put("one", vec![round; 10_000]).unwrap();
        }
        let one = Hashed::of("one");
        let shard = store.shard(one).read();
        assert!(shard.arena.len() < 2 * WASTE_MIN, "{}", shard.arena.len());
        assert_eq!(shard.record(one), Some(&[63u8; 10_000][..]));
    }

    #[test]
    fn compaction_keeps_records_in_the_order_they_were_stored() {
        let mut shard = Shard::default();
        let keys: Vec<String> = (0..100).map(|i| format!("k{i}")).collect();
        for key in &keys {
            shard.put(Hashed::of(key), b"small");
        }
        for round in 0..20u8 {
            shard.put(Hashed::of("big"), &[round; 10_000]);
        }
        assert!(shard.waste < WASTE_MIN, "compacted: {}", shard.waste);
        let mut slots: Vec<Slot> = shard.slots.iter().copied().collect();
        slots.sort_unstable_by_key(|slot| slot.start);
        let in_arena: Vec<&[u8]> = slots.iter().map(|slot| slot.key(&shard.arena)).collect();
        let mut expected: Vec<&[u8]> = keys.iter().map(String::as_bytes).collect();
        expected.push(b"big");
        assert_eq!(in_arena, expected);
        assert_eq!(shard.record(Hashed::of("k42")), Some(&b"small"[..]));
    }
}
