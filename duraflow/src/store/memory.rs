//! `MemoryStore`: records in hash maps, for tests and for runs that need no durability.

use super::{FailedWrite, Storage};
use crate::codec::{fnv1a64, FnvBuild};
use crate::padded::Padded;
use crate::TaskKey;
use indexmap::IndexMap;
use parking_lot::RwLock;
use std::io;

/// One shard: records under their keys (short ones inline, beside the record's pointer), in
/// the order they were first stored. The hash table holds only indices, so it stays small and
/// in cache, and a DAG's records, stored and read back in about the order of its tasks, are
/// walked nearly in sequence.
type Shard = RwLock<IndexMap<TaskKey, Vec<u8>, FnvBuild>>;

/// Shards of the store: tasks finishing at once on different threads rarely wait for each
/// other's writes.
const SHARDS: usize = 16;

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
    shards: [Padded<Shard>; SHARDS],
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|shard| shard.read().len()).sum()
    }

    /// True when no record is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, key: &str) -> &Shard {
        &self.shards[fnv1a64(key.as_bytes()) as usize % SHARDS]
    }
}

impl Storage for MemoryStore {
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        Ok(self.shard(key).read().get(key).cloned())
    }

    fn read_with(&self, key: &str, read: &mut dyn FnMut(Option<&[u8]>)) -> io::Result<()> {
        read(self.shard(key).read().get(key).map(Vec::as_slice));
        Ok(())
    }

    fn put(&self, key: &str, record: Vec<u8>) -> io::Result<()> {
        self.put_shared(&TaskKey::from(key), record)
    }

    fn put_shared(&self, key: &TaskKey, record: Vec<u8>) -> io::Result<()> {
        self.shard(key).write().insert(key.clone(), record);
        Ok(())
    }

    /// Makes room in every shard for its share of `additional` records, and some slack.
    fn reserve(&self, additional: usize) {
        let share = additional / SHARDS + additional / (4 * SHARDS) + 8;
        for shard in &self.shards {
            shard.write().reserve(share);
        }
    }

    fn remove(&self, key: &str) -> io::Result<()> {
        self.shard(key).write().swap_remove(key);
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
