//! Property tests of batched reads (`Storage::get_many`), which the prefetch of every
//! `DurableDag` run uses: whatever was put, removed, queued or flushed, the answer has one
//! entry per key asked for, in order, and each is what `get` returns for that key (or
//! `Unread` for a record over the limit asked for); keys may repeat.

use duraflow::{FileStore, Found, MemoryStore, RedbStore, Storage};
use proptest::collection::vec;
use proptest::prelude::*;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
enum Op {
    Put(u16, Vec<u8>),
    Remove(u16),
    Flush,
}

fn key(n: u16) -> String {
    format!("k{n}")
}

fn op(keys: u16) -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..keys, vec(any::<u8>(), 0..40)).prop_map(|(k, v)| Op::Put(k, v)),
        1 => (0..keys).prop_map(Op::Remove),
        1 => Just(Op::Flush),
    ]
}

/// What the store should hold.
type Model = BTreeMap<String, Vec<u8>>;

/// Applies `ops` to `store` and to `model`; asks for `wanted` (key numbers, some never
/// written); checks every answer against the model and against `get`.
fn check(
    store: &dyn Storage,
    model: &mut Model,
    ops: &[Op],
    wanted: &[u16],
) -> Result<(), TestCaseError> {
    for op in ops {
        match op {
            Op::Put(k, v) => {
                store.put(&key(*k), v.clone()).unwrap();
                model.insert(key(*k), v.clone());
            }
            Op::Remove(k) => {
                store.remove(&key(*k)).unwrap();
                model.remove(&key(*k));
            }
            Op::Flush => store.flush().unwrap(),
        }
    }
    let keys: Vec<String> = wanted.iter().map(|k| key(*k)).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    // Records are up to 39 bytes: a limit of 20 leaves some unread.
    for limit in [u64::MAX, 20] {
        let many = store.get_many(&refs, limit).unwrap();
        prop_assert_eq!(many.len(), refs.len());
        for (i, k) in refs.iter().enumerate() {
            let expected = model.get(*k).cloned();
            let found = match &expected {
                Some(record) if record.len() as u64 > limit => Found::Unread,
                record => Found::from_record(record.clone()),
            };
            prop_assert_eq!(many[i].clone(), found, "get_many of {}", k);
            prop_assert_eq!(store.get(k).unwrap(), expected, "get of {}", k);
        }
    }
    Ok(())
}

/// Key numbers to ask for: unique, or with repeats.
fn wanted(keys: u16, max: usize) -> impl Strategy<Value = Vec<u16>> {
    prop_oneof![
        proptest::sample::subsequence((0..keys + 40).collect::<Vec<u16>>(), 0..max),
        vec(0..keys + 40, 0..max),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn memory_store_answers_each_key_as_get_does(
        ops in vec(op(160), 0..300),
        wanted in wanted(160, 200),
    ) {
        check(&MemoryStore::new(), &mut Model::new(), &ops, &wanted)?;
    }

    #[test]
    fn redb_store_answers_each_key_as_get_does(
        ops in vec(op(160), 0..300),
        wanted in wanted(160, 200),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(dir.path().join("records.redb")).unwrap();
        let mut model = Model::new();
        check(&store, &mut model, &ops, &wanted)?;
        // Everything flushed: the answers now come from the table alone.
        check(&store, &mut model, &[Op::Flush], &wanted)?;
    }
}

proptest! {
    // Each record is a file: fewer cases.
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn file_store_answers_each_key_as_get_does(
        ops in vec(op(40), 0..60),
        wanted in wanted(40, 60),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("records")).unwrap();
        let mut model = Model::new();
        check(&store, &mut model, &ops, &wanted)?;
        // Everything flushed: the answers now come from the files alone.
        check(&store, &mut model, &[Op::Flush], &wanted)?;
    }
}
