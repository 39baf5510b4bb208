//! The store the sweep crash test fills, kills a sweeping child over, and checks: records to
//! keep and records to sweep (written 40 days ago, some large), each holding bytes derived
//! from its key.

use duraflow::codec::{self, Stamp};
use duraflow::{Context, DuraflowError, FileStore, RedbStore, Storage};
use std::path::Path;
use std::time::Duration;

/// Records no sweep of the test may remove.
pub const KEPT: usize = 200;
/// Records the test's sweep removes (unused for 40 days).
pub const SWEPT: usize = 600;
/// Every this many swept records is large (a file of its own in a `RedbStore`).
pub const LARGE_EVERY: usize = 50;
/// What the test's sweep removes: records not used for this long.
pub const UNUSED_FOR: Duration = Duration::from_secs(30 * 86_400);

/// Opens the store of `kind` (`file` or `redb`) at `path`, creating it if needed.
pub fn open(kind: &str, path: &Path) -> Result<Context, DuraflowError> {
    match kind {
        "file" => FileStore::new(path).map(Context::new),
        "redb" => RedbStore::open(path).map(Context::new),
        other => panic!("unknown store kind {other}"),
    }
}

/// The key of kept record `i`.
pub fn kept_key(i: usize) -> String {
    format!("keep-{i}")
}

/// The key of swept record `i`.
pub fn swept_key(i: usize) -> String {
    format!("sweep-{i}")
}

/// The value stored under `key`.
pub fn value_of(key: &str) -> Vec<u8> {
    let i: usize = key
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let len = if key.starts_with("sweep-") && i.is_multiple_of(LARGE_EVERY) {
        100 * 1024
    } else {
        100
    };
    let seed = crate::mix(key.bytes().fold(0, |h, b| h * 31 + u64::from(b)));
    (0..len)
        .map(|n| (crate::mix(seed + n as u64) & 0xff) as u8)
        .collect()
}

/// Fills `store`: the kept records written now, the swept ones 40 days ago.
pub fn fill(store: &dyn Storage) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64;
    let old = now - 40 * 86_400_000;
    for key in (0..KEPT).map(kept_key) {
        let record = codec::encode(&key, &value_of(&key), Stamp::default()).expect("encode");
        store.put(&key, record).expect("queued");
    }
    for key in (0..SWEPT).map(swept_key) {
        let record = codec::encode(&key, &value_of(&key), Stamp::default()).expect("encode");
        store.put(&key, written_at(record, old)).expect("queued");
    }
    store.flush().expect("filled");
}

/// `record` with its write time set to `ms` and its checksum recomputed.
pub fn written_at(mut record: Vec<u8>, ms: u64) -> Vec<u8> {
    record[46..54].copy_from_slice(&ms.to_le_bytes());
    let end = record.len() - 4;
    let crc = crc32fast::hash(&record[..end]);
    record[end..].copy_from_slice(&crc.to_le_bytes());
    record
}
