//! Property tests of `FileStore`'s key ↔ file name mapping, through its public surface:
//! `FileStore::path_of` gives the name of a key, `Storage::keys` reverses names found on
//! disk. (The mapping module itself, `store::file_name`, is crate-private.)
//!
//! Names must be injective (keys differing only in case included), reversible, made of
//! `[a-z0-9_~-]` only, never hidden (no leading `.`), and at most 255 bytes, for any UTF-8
//! key up to 6,000 bytes.

use duraflow::{Context, FileStore};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::collections::BTreeSet;

/// Keys of every shape: printable, arbitrary (control characters, NUL), long and ASCII,
/// long and multi-byte: all up to 6,000 bytes.
fn any_key() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC*",
        any::<String>(),
        "[a-z0-9-]{1,260}",
        long("[a-zA-Z0-9./_~ -]{1,10}"),
        long("\\PC{1,10}"),
    ]
}

/// Keys of up to 6,000 bytes: a random piece repeated (cheaper than a long regex).
fn long(piece: &'static str) -> impl Strategy<Value = String> {
    (piece, 1usize..1_200).prop_map(|(piece, times)| truncate(piece.repeat(times), 6_000))
}

/// `key` cut to at most `max` bytes, on a character boundary.
fn truncate(mut key: String, max: usize) -> String {
    while key.len() > max {
        key.pop();
    }
    key
}

struct Store {
    _tmp: tempfile::TempDir,
    store: FileStore,
}

impl Store {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileStore::new(tmp.path()).unwrap();
        Self { _tmp: tmp, store }
    }

    fn name(&self, key: &str) -> String {
        let path = self.store.path_of(key);
        assert_eq!(
            path.parent(),
            Some(self.store.dir()),
            "{key:?} leaves the directory"
        );
        path.file_name().unwrap().to_str().unwrap().to_owned()
    }
}

fn check<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(Config::with_cases(cases));
    if let Err(failure) = runner.run(&strategy, test) {
        panic!("{failure}");
    }
}

#[test]
fn names_use_only_safe_characters_and_fit_any_file_system() {
    let store = Store::new();
    check(512, any_key(), |key| {
        prop_assume!(!key.is_empty());
        let name = store.name(&key);
        prop_assert!(!name.is_empty());
        prop_assert!(
            name.len() <= 255,
            "{} bytes for a key of {}",
            name.len(),
            key.len()
        );
        prop_assert!(!name.starts_with('.'), "{name}");
        prop_assert!(
            name.bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'~' | b'-')),
            "{name}"
        );
        Ok(())
    });
}

#[test]
fn plain_keys_are_their_own_name_and_long_ones_are_hashed() {
    let store = Store::new();
    check(256, "[a-z0-9-]{1,200}", |key| {
        prop_assert_eq!(store.name(&key), key);
        Ok(())
    });
    let long_plain = long("[a-z0-9-]{1,10}").prop_filter("longer than 200", |k| k.len() > 200);
    check(256, long_plain, |key| {
        let name = store.name(&key);
        prop_assert!(name.contains('~'), "{name}");
        prop_assert!(name.starts_with(&key[..100]), "a readable prefix: {name}");
        Ok(())
    });
}

#[test]
fn distinct_keys_have_distinct_names() {
    let store = Store::new();
    check(512, (any_key(), any_key()), |(a, b)| {
        prop_assume!(!a.is_empty() && !b.is_empty() && a != b);
        prop_assert_ne!(store.name(&a), store.name(&b));
        Ok(())
    });
}

#[test]
fn keys_differing_only_in_case_have_distinct_names() {
    let store = Store::new();
    check(512, any_key(), |key| {
        let mut variants: BTreeSet<String> = [
            key.to_lowercase(),
            key.to_uppercase(),
            key.chars()
                .enumerate()
                .map(|(i, c)| {
                    if i % 2 == 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect(),
            key.clone(),
        ]
        .into_iter()
        .map(|k| truncate(k, 6_000))
        .filter(|k| !k.is_empty())
        .collect();
        let names: BTreeSet<String> = variants.iter().map(|k| store.name(k)).collect();
        prop_assert_eq!(
            names.len(),
            variants.len(),
            "{:?}",
            std::mem::take(&mut variants)
        );
        Ok(())
    });
}

#[test]
fn keys_sharing_a_long_prefix_have_distinct_names() {
    let store = Store::new();
    let strategy = (long("\\PC{1,10}"), "\\PC{0,8}", "\\PC{0,8}");
    check(256, strategy, |(prefix, x, y)| {
        prop_assume!(x != y);
        let (a, b) = (format!("{prefix}{x}"), format!("{prefix}{y}"));
        prop_assert_ne!(store.name(&a), store.name(&b));
        Ok(())
    });
}

/// `Storage::keys` reverses the name of every stored key: direct names by decoding them,
/// hashed names (`~`) from the key inside the record.
#[test]
fn stored_keys_are_listed_back_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = Context::new(FileStore::new(tmp.path()).unwrap());
    let valid_key = any_key().prop_filter("a valid key", |k| duraflow::validate_key(k).is_ok());
    check(96, valid_key, |key| {
        ctx.save(&key, &1u8).unwrap();
        let listed = duraflow_tests::stored_keys(&*ctx.db);
        ctx.remove(&key).unwrap();
        prop_assert_eq!(listed, vec![key]);
        Ok(())
    });
}

/// A file whose name is not exactly the name of some key (a non-canonical escape such as
/// `_61` for `a`, upper-case hex, a stray `_`) is not taken for a record.
#[test]
fn names_that_no_key_maps_to_are_not_listed() {
    let store = Store::new();
    let dir = store.store.dir().to_path_buf();
    check(256, "[a-zA-Z0-9_-]{1,40}", |name| {
        let path = dir.join(&name);
        std::fs::write(&path, b"").unwrap();
        let listed = duraflow_tests::stored_keys(&store.store);
        std::fs::remove_file(&path).unwrap();
        for key in &listed {
            prop_assert_eq!(store.name(key), name.clone(), "listed {:?}", key);
        }
        prop_assert!(listed.len() <= 1);
        Ok(())
    });
}
