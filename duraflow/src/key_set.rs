//! `KeySet`: the keys of a `DurableDag`'s tasks, each once, in the order the tasks were added.
//!
//! A task's place in it is its prefetched record's slot and what its run report entries point
//! to. The keys are kept one after another in one buffer, with a table of their places for
//! the duplicate check: a task costs its key's bytes and about 24 more (its end, its place in
//! a table grown by doubling), where a set of owned keys cost 48 and up to 70 while growing.

use crate::codec::fnv1a64;
use hashbrown::hash_table::{Entry, HashTable};

/// Keys in order, in one buffer.
#[derive(Clone, Debug, Default)]
pub(crate) struct KeyList {
    bytes: String,
    /// Where each key ends in `bytes`.
    ends: Vec<usize>,
}

impl KeyList {
    /// The key at `index`.
    pub(crate) fn get(&self, index: u32) -> Option<&str> {
        let index = index as usize;
        (index < self.len()).then(|| self.key(index))
    }

    /// The key at `index`, which must be less than `len()`.
    fn key(&self, index: usize) -> &str {
        let start = index.checked_sub(1).map_or(0, |before| self.ends[before]);
        &self.bytes[start..self.ends[index]]
    }

    /// Number of keys.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// The keys in order.
    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.len()).map(|index| self.key(index))
    }
}

/// A [`KeyList`] that takes each key once.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    list: KeyList,
    /// Each key's index, by its hash.
    places: HashTable<Place>,
}

/// A key's index, and 32 bits of its hash: the table grows without reading any key again.
#[derive(Debug, Clone, Copy)]
struct Place {
    index: u32,
    hash: u32,
}

impl Place {
    /// 32 bits of `key`'s FNV-1a hash.
    fn hash_of(key: &str) -> u32 {
        let hash = fnv1a64(key.as_bytes());
        (hash ^ (hash >> 32)) as u32
    }

    /// The hash the table is given for a place's 32 bits: spread over all 64 (by 2⁶⁴/φ), for
    /// the table takes its buckets from the low bits and its tags from the top seven.
    fn spread(hash: u32) -> u64 {
        u64::from(hash).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

impl KeySet {
    /// Adds `key` at the end and returns its index, or returns `None` if it is already in.
    ///
    /// # Panics
    /// When the set already holds 2³² keys.
    pub(crate) fn insert(&mut self, key: &str) -> Option<u32> {
        let hash = Place::hash_of(key);
        let list = &self.list;
        let found = self.places.entry(
            Place::spread(hash),
            |place| place.hash == hash && list.get(place.index) == Some(key),
            |place| Place::spread(place.hash),
        );
        let Entry::Vacant(vacant) = found else {
            return None;
        };
        let index =
            u32::try_from(self.list.len()).expect("a DurableDag holds fewer than 2^32 tasks");
        vacant.insert(Place { index, hash });
        self.list.bytes.push_str(key);
        self.list.ends.push(self.list.bytes.len());
        Some(index)
    }

    /// The keys, in the order they were added.
    pub(crate) fn list(&self) -> &KeyList {
        &self.list
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Keys added with repeats (short, long, empty, non-ASCII): each new key gets the next
        /// index and reads back by it, in order; a repeat is refused and changes nothing.
        #[test]
        fn the_set_answers_as_an_ordered_set_does(
            keys in proptest::collection::vec(
                prop_oneof![
                    "[a-c]{0,3}",
                    "[a-zé/-]{20,80}",
                ],
                0..300,
            )
        ) {
            let mut set = KeySet::default();
            let mut model: Vec<String> = Vec::new();
            for key in &keys {
                let added = set.insert(key);
                if model.contains(key) {
                    prop_assert_eq!(added, None);
                } else {
                    prop_assert_eq!(added, Some(model.len() as u32));
                    model.push(key.clone());
                }
            }
            let list = set.list();
            prop_assert_eq!(list.len(), model.len());
            prop_assert_eq!(list.iter().len(), model.len());
            prop_assert!(list.iter().eq(model.iter().map(String::as_str)));
            for (index, key) in model.iter().enumerate() {
                prop_assert_eq!(list.get(index as u32), Some(key.as_str()));
            }
            prop_assert_eq!(list.get(model.len() as u32), None);
            prop_assert!(list.clone().iter().eq(list.iter()));
        }
    }
}
