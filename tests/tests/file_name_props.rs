//! Property tests of the key ↔ name mappings of `FileStore` (file names) and `ObjectStore`
//! (object names), through their public surface: `FileStore::path_of` and
//! `ObjectStore::object_name` give the name of a key, `Storage::list` reverses names found
//! in the directory or bucket. (The mapping module itself, `store::file_name`, is
//! crate-private.) The object store here is `object_store`'s in-memory one: the names, not
//! the server, are under test (`object_store.rs` runs hostile keys against a real server).
//!
//! Names must be injective (keys differing only in case included), reversible, made of
//! `[a-z0-9_-]` and the store's hash mark only (`~` for files, `.` for objects, which S3
//! advises against `~`), never hidden (no leading `.`), and at most 255 bytes (files) or
//! 100 bytes (objects: S3-compatible servers that keep objects as files add to the name),
//! for any UTF-8 key up to 6,000 bytes.

use duraflow::object_store::{memory::InMemory, path::Path, ObjectStoreExt};
use duraflow::{Context, FileStore, ObjectStore, Storage};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::collections::BTreeSet;
use std::sync::Arc;

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

/// A store under test with its naming rules.
trait Named: Sync {
    /// The name of `key` inside the store's directory or prefix.
    fn name(&self, key: &str) -> String;
    /// The store, to list names back as keys.
    fn store(&self) -> &dyn Storage;
    /// A context over the store.
    fn context(&self) -> Context;
    /// Puts an empty file or object named `name` beside the records, behind the store.
    fn add_raw(&self, name: &str);
    fn remove_raw(&self, name: &str);
    /// The mark of hashed names.
    fn mark(&self) -> char;
    /// The longest name.
    fn max_len(&self) -> usize;
    /// The longest key (plain bytes only) that is its own name.
    fn max_direct(&self) -> usize;
}

struct Files {
    _tmp: tempfile::TempDir,
    store: Arc<FileStore>,
}

impl Named for Files {
    fn name(&self, key: &str) -> String {
        let path = self.store.path_of(key);
        assert_eq!(path.parent(), Some(self.store.dir()), "{key:?} leaves");
        path.file_name().unwrap().to_str().unwrap().to_owned()
    }
    fn store(&self) -> &dyn Storage {
        &*self.store
    }
    fn context(&self) -> Context {
        Context::new(Arc::clone(&self.store))
    }
    fn add_raw(&self, name: &str) {
        std::fs::write(self.store.dir().join(name), b"").unwrap();
    }
    fn remove_raw(&self, name: &str) {
        std::fs::remove_file(self.store.dir().join(name)).unwrap();
    }
    fn mark(&self) -> char {
        '~'
    }
    fn max_len(&self) -> usize {
        255
    }
    fn max_direct(&self) -> usize {
        200
    }
}

struct Objects {
    memory: Arc<InMemory>,
    store: Arc<ObjectStore>,
}

const PREFIX: &str = "cache";

impl Named for Objects {
    fn name(&self, key: &str) -> String {
        let name = self.store.object_name(key);
        let inside = name.strip_prefix(&format!("{PREFIX}/"));
        inside
            .unwrap_or_else(|| panic!("{key:?} leaves the prefix: {name}"))
            .to_owned()
    }
    fn store(&self) -> &dyn Storage {
        &*self.store
    }
    fn context(&self) -> Context {
        Context::new(Arc::clone(&self.store))
    }
    fn add_raw(&self, name: &str) {
        let path = path(name);
        futures::executor::block_on(self.memory.put(&path, Vec::new().into())).unwrap();
    }
    fn remove_raw(&self, name: &str) {
        futures::executor::block_on(self.memory.delete(&path(name))).unwrap();
    }
    fn mark(&self) -> char {
        '.'
    }
    fn max_len(&self) -> usize {
        100
    }
    fn max_direct(&self) -> usize {
        100
    }
}

fn path(name: &str) -> Path {
    Path::from(PREFIX).join(name)
}

fn stores() -> Vec<Box<dyn Named>> {
    let tmp = tempfile::tempdir().unwrap();
    let files = FileStore::new(tmp.path()).unwrap();
    let memory = Arc::new(InMemory::new());
    let objects = ObjectStore::new(memory.clone(), PREFIX, "memory").unwrap();
    vec![
        Box::new(Files {
            _tmp: tmp,
            store: Arc::new(files),
        }),
        Box::new(Objects {
            memory,
            store: Arc::new(objects),
        }),
    ]
}

/// Checks `test` on `cases` values of `strategy` for every store.
fn check<S: Strategy>(
    cases: u32,
    strategy: S,
    test: impl Fn(&dyn Named, S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    for named in stores() {
        let mut runner = TestRunner::new(Config::with_cases(cases));
        if let Err(failure) = runner.run(&strategy, |value| test(&*named, value)) {
            panic!("{failure} (mark {})", named.mark());
        }
    }
}

#[test]
fn names_use_only_safe_characters_and_fit_any_file_system() {
    check(512, any_key(), |named, key| {
        prop_assume!(!key.is_empty());
        let name = named.name(&key);
        prop_assert!(!name.is_empty());
        prop_assert!(
            name.len() <= named.max_len(),
            "{} bytes for a key of {}",
            name.len(),
            key.len()
        );
        prop_assert!(!name.starts_with('.'), "{name}");
        prop_assert!(
            name.chars()
                .all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_' | '-') || c == named.mark()),
            "{name}"
        );
        Ok(())
    });
}

#[test]
fn plain_keys_are_their_own_name_and_long_ones_are_hashed() {
    check(256, "[a-z0-9-]{1,200}", |named, key| {
        if key.len() <= named.max_direct() {
            prop_assert_eq!(named.name(&key), key);
        }
        Ok(())
    });
    let long_plain = long("[a-z0-9-]{1,10}").prop_filter("longer than 200", |k| k.len() > 200);
    check(256, long_plain, |named, key| {
        let name = named.name(&key);
        prop_assert!(name.contains(named.mark()), "{name}");
        prop_assert!(name.starts_with(&key[..20]), "a readable prefix: {name}");
        Ok(())
    });
}

#[test]
fn distinct_keys_have_distinct_names() {
    check(512, (any_key(), any_key()), |named, (a, b)| {
        prop_assume!(!a.is_empty() && !b.is_empty() && a != b);
        prop_assert_ne!(named.name(&a), named.name(&b));
        Ok(())
    });
}

#[test]
fn keys_differing_only_in_case_have_distinct_names() {
    check(512, any_key(), |named, key| {
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
        let names: BTreeSet<String> = variants.iter().map(|k| named.name(k)).collect();
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
    let strategy = (long("\\PC{1,10}"), "\\PC{0,8}", "\\PC{0,8}");
    check(256, strategy, |named, (prefix, x, y)| {
        prop_assume!(x != y);
        let (a, b) = (format!("{prefix}{x}"), format!("{prefix}{y}"));
        prop_assert_ne!(named.name(&a), named.name(&b));
        Ok(())
    });
}

/// `Storage::list` reverses the name of every stored key: direct names by decoding them,
/// hashed names from the key inside the record.
#[test]
fn stored_keys_are_listed_back_exactly() {
    let valid_key = any_key().prop_filter("a valid key", |k| duraflow::validate_key(k).is_ok());
    check(96, valid_key, |named, key| {
        let ctx = named.context();
        ctx.save(&key, &1u8).unwrap();
        let listed = duraflow_tests::stored_keys(named.store());
        ctx.remove(&key).unwrap();
        ctx.db.flush().unwrap();
        prop_assert_eq!(listed, vec![key]);
        Ok(())
    });
}

/// A file or object whose name is not exactly the name of some key (a non-canonical escape
/// such as `_61` for `a`, upper-case hex, a stray `_`, a mark without a record) is not taken
/// for a record.
#[test]
fn names_that_no_key_maps_to_are_not_listed() {
    check(256, "[a-zA-Z0-9_.~-]{1,40}", |named, name| {
        prop_assume!(!name.starts_with('.'));
        named.add_raw(&name);
        let listed = duraflow_tests::stored_keys(named.store());
        named.remove_raw(&name);
        for key in &listed {
            prop_assert_eq!(named.name(key), name.clone(), "listed {:?}", key);
        }
        prop_assert!(listed.len() <= 1);
        Ok(())
    });
}
