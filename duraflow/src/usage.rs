//! When each key was last used: written once per run, beside the run's journal entry, and
//! never by touching the records themselves.
//!
//! A run that ends writes one entry of its own, `__duraflow/used/{run id}`, naming every key
//! it restored or executed and stored, with the time and the task's ttl. Entries are only
//! ever added, never rewritten, so workers of one store (several PostgreSQL workers, say)
//! that end runs at the same moment lose none of each other's updates. Reading merges the
//! entries: a key's last use is its latest.
//!
//! Entries are folded together now and then: at the end of a run when the store was last
//! folded more than [`FOLD_AFTER_MS`] ago (its time is kept under [`FOLDED_KEY`]; the first
//! run to find none starts the clock), at every [`COMPACT_EVERY`]th run of a process, and at
//! every sweep. A fold lists the whole store, so a short run in a new process against a large
//! store does not pay for one each time. The merge of every entry read is written as a new
//! entry, made durable, and only then are the entries it holds removed. Two workers folding
//! at once each write a merge of what they read; whatever one removes is in the merge it
//! wrote first, so nothing is lost, and a crash in between leaves entries that say the same
//! thing twice.

use crate::codec::{self, Expect, Stamp};
use crate::journal::JOURNAL_PREFIX;
use crate::key::TaskKey;
use crate::store::{listing, Listed, Storage};
use crate::DuraflowError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The keys of last-used entries start with this.
pub(crate) const USAGE_PREFIX: &str = "__duraflow/used/";

/// A process folds the entries at every this many runs' end.
const COMPACT_EVERY: u64 = 16;

/// When the store was last folded, in milliseconds since the Unix epoch.
const FOLDED_KEY: &str = "__duraflow/folded";

/// A run's end folds the entries when the last fold is older than this (an hour).
const FOLD_AFTER_MS: u64 = 3_600_000;

/// When a key was last used by a run, and the ttl its task had then.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastUse {
    /// When the run that used it ended, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The task's ttl (`#[durable(ttl = "7d")]`), if it had one.
    pub ttl: Option<Duration>,
}

/// One entry: keys and their last use.
type Entry = Vec<(String, LastUse)>;

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Queues the entry of the run `run_id`, which used `keys` (with their tasks' ttls) and ends
/// now; the caller's flush makes it durable. A run that used nothing writes nothing. Returns
/// whether the entries are due to be folded (see the module docs).
pub(crate) fn record(
    store: &dyn Storage,
    run_id: &str,
    keys: impl IntoIterator<Item = (TaskKey, Option<Duration>)>,
) -> Result<bool, DuraflowError> {
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let at_ms = now_ms();
    // Written as `TaskKey`s, read back as the `String`s of an `Entry`: the same record.
    let entry: Vec<(TaskKey, LastUse)> = keys
        .into_iter()
        .map(|(key, ttl)| (key, LastUse { at_ms, ttl }))
        .collect();
    if entry.is_empty() {
        return Ok(false);
    }
    put(store, &format!("{USAGE_PREFIX}{run_id}"), &entry)?;
    let runs = RUNS.fetch_add(1, Ordering::Relaxed) + 1;
    Ok(runs.is_multiple_of(COMPACT_EVERY) || fold_overdue(store)?)
}

/// Whether the last fold of `store` is over [`FOLD_AFTER_MS`] old (or unreadable). A store
/// without its time gets the present one, queued: its first fold is due an hour later.
fn fold_overdue(store: &dyn Storage) -> Result<bool, DuraflowError> {
    let Ok(found) = store.get(FOLDED_KEY) else {
        // Best effort: the next run asks again.
        return Ok(false);
    };
    match found {
        Some(bytes) => Ok(codec::decode::<u64>(FOLDED_KEY, &bytes, Expect::default())
            .map_or(true, |at_ms| now_ms().saturating_sub(at_ms) > FOLD_AFTER_MS)),
        None => put(store, FOLDED_KEY, &now_ms()).map(|()| false),
    }
}

fn put<T>(store: &dyn Storage, key: &str, entry: &T) -> Result<(), DuraflowError>
where
    T: Serialize + serde::de::DeserializeOwned + 'static,
{
    let record =
        codec::encode(key, entry, Stamp::default()).map_err(|e| DuraflowError::Serialize {
            key: key.to_owned(),
            reason: e.to_string(),
        })?;
    store
        .put(key, record)
        .map_err(|source| DuraflowError::Persist {
            key: key.to_owned(),
            source,
        })
}

/// An entry as read.
enum Read {
    Entry(Entry),
    /// Not a readable entry (a later fold removes it).
    Unreadable,
    /// Removed since it was listed: a fold, which wrote their merge first, took it.
    Gone,
}

fn read_entry(store: &dyn Storage, key: &str) -> Result<Read, DuraflowError> {
    let bytes = store.get(key).map_err(|source| DuraflowError::Load {
        key: key.to_owned(),
        source,
    })?;
    Ok(match bytes {
        None => Read::Gone,
        Some(bytes) => match codec::decode::<Entry>(key, &bytes, Expect::default()) {
            Ok(entry) => Read::Entry(entry),
            Err(_) => Read::Unreadable,
        },
    })
}

/// Times the entries are listed again when one was folded away while they were read.
const MERGE_TRIES: usize = 8;

/// The entries of a store, merged.
struct Merged {
    /// Each key's latest use.
    last: BTreeMap<String, LastUse>,
    /// The keys of the entries read.
    read: Vec<String>,
    /// Whether another worker folded entries while they were read.
    refolded: bool,
}

/// The entries among `listed`, merged. An entry removed meanwhile by another worker's fold
/// is in that fold's merge, so the store is listed again and the merge starts over: a key
/// is never left out.
fn merged(store: &dyn Storage, listed: &[Listed]) -> Result<Merged, DuraflowError> {
    let entry_keys = |listed: &[Listed]| -> Vec<String> {
        listed
            .iter()
            .filter(|l| l.key.starts_with(USAGE_PREFIX))
            .map(|l| l.key.clone())
            .collect()
    };
    let mut keys = entry_keys(listed);
    for tries in 0..MERGE_TRIES {
        if let Some(last) = merge_once(store, &keys)? {
            return Ok(Merged {
                last,
                read: keys,
                refolded: tries > 0,
            });
        }
        keys = entry_keys(&listing(store)?);
    }
    Err(DuraflowError::Load {
        key: USAGE_PREFIX.to_owned(),
        source: std::io::Error::other(format!(
            "the last-used entries were folded away {MERGE_TRIES} times while being read; \
             run again when fewer workers end runs at once"
        )),
    })
}

/// The entries under `keys`, merged, or `None` if one is gone.
fn merge_once(
    store: &dyn Storage,
    keys: &[String],
) -> Result<Option<BTreeMap<String, LastUse>>, DuraflowError> {
    let mut last = BTreeMap::new();
    for entry_key in keys {
        let entry = match read_entry(store, entry_key)? {
            Read::Gone => return Ok(None),
            Read::Unreadable => continue,
            Read::Entry(entry) => entry,
        };
        for (key, used) in entry {
            last.entry(key)
                .and_modify(|known: &mut LastUse| {
                    if used.at_ms >= known.at_ms {
                        *known = used;
                    }
                })
                .or_insert(used);
        }
    }
    Ok(Some(last))
}

/// Every key's last use, from the entries among `listed` (a listing of the store).
pub(crate) fn last_used(
    store: &dyn Storage,
    listed: &[Listed],
) -> Result<BTreeMap<String, LastUse>, DuraflowError> {
    merged(store, listed).map(|merged| merged.last)
}

/// Folds the entries among `listed` (a listing of the store) into one, keeping only the
/// keys that `listed` holds records of; returns every such key's last use. (An entry is
/// written after its run's records are durable, so a key of an entry that was listed has
/// its record listed too, unless it was removed.) When another worker folded meanwhile,
/// this fold is left undone: the merge is returned as read. The time of a fold of a store
/// that holds entries is kept under [`FOLDED_KEY`] for [`fold_overdue`].
pub(crate) fn compact(
    store: &dyn Storage,
    listed: &[Listed],
) -> Result<BTreeMap<String, LastUse>, DuraflowError> {
    let last = fold(store, listed)?;
    if listed.iter().any(|l| l.key.starts_with(USAGE_PREFIX)) {
        put(store, FOLDED_KEY, &now_ms())?;
        flush(store)?;
    }
    Ok(last)
}

fn fold(
    store: &dyn Storage,
    listed: &[Listed],
) -> Result<BTreeMap<String, LastUse>, DuraflowError> {
    let Merged {
        mut last,
        read,
        refolded,
    } = merged(store, listed)?;
    if refolded {
        return Ok(last);
    }
    let present: hashbrown::HashSet<&str> = listed.iter().map(|l| l.key.as_str()).collect();
    let before = last.len();
    last.retain(|key, _| present.contains(key.as_str()));
    if read.len() < 2 && last.len() == before {
        return Ok(last);
    }
    static FOLDS: AtomicU64 = AtomicU64::new(0);
    let fold = FOLDS.fetch_add(1, Ordering::Relaxed);
    let key = format!(
        "{USAGE_PREFIX}{:013}-{}-fold{fold}",
        now_ms(),
        std::process::id()
    );
    let entry: Entry = last.iter().map(|(k, used)| (k.clone(), *used)).collect();
    if !entry.is_empty() {
        put(store, &key, &entry)?;
    }
    flush(store)?;
    for old in read.iter().filter(|old| **old != key) {
        store.remove(old).map_err(|source| DuraflowError::Remove {
            key: old.clone(),
            source,
        })?;
    }
    flush(store)?;
    Ok(last)
}

fn flush(store: &dyn Storage) -> Result<(), DuraflowError> {
    store.flush().map_err(|failed| DuraflowError::Persist {
        key: failed.key,
        source: failed.source,
    })
}

/// Whether `key` is one of duraflow's own (the journal, the last-used entries): never a
/// task's record, never swept.
pub(crate) fn is_bookkeeping(key: &str) -> bool {
    key.starts_with(JOURNAL_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OnRead;
    use crate::MemoryStore;

    fn entries(store: &MemoryStore) -> Vec<String> {
        let mut keys: Vec<String> = store
            .list()
            .unwrap()
            .into_iter()
            .map(|l| l.key)
            .filter(|k| k.starts_with(USAGE_PREFIX))
            .collect();
        keys.sort();
        keys
    }

    fn used(keys: &[&str]) -> Vec<(TaskKey, Option<Duration>)> {
        keys.iter().map(|k| (TaskKey::from(*k), None)).collect()
    }

    #[test]
    fn the_latest_use_wins_and_folding_loses_nothing() {
        let store = MemoryStore::new();
        for key in ["a", "b"] {
            store.put(key, b"record".to_vec()).unwrap();
        }
        record(&store, "0001-run", used(&["a", "b"])).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let ttl = Some(Duration::from_secs(60));
        record(&store, "0002-run", [(TaskKey::from("b"), ttl)]).unwrap();
        record(&store, "0003-run", used(&[])).unwrap();
        assert_eq!(
            entries(&store).len(),
            2,
            "a run that used nothing writes nothing"
        );
        let last = last_used(&store, &store.list().unwrap()).unwrap();
        assert_eq!(last.len(), 2);
        assert!(last["b"].at_ms > last["a"].at_ms);
        assert_eq!(last["b"].ttl, ttl);

        let folded = compact(&store, &store.list().unwrap()).unwrap();
        assert_eq!(folded, last);
        assert_eq!(entries(&store).len(), 1, "{:?}", entries(&store));
        assert_eq!(last_used(&store, &store.list().unwrap()).unwrap(), last);
        // Folding again keeps what it has; a key without a record is dropped.
        store.remove("a").unwrap();
        compact(&store, &store.list().unwrap()).unwrap();
        let after = last_used(&store, &store.list().unwrap()).unwrap();
        assert_eq!(after.keys().collect::<Vec<_>>(), ["b"]);
    }

    #[test]
    fn an_unreadable_entry_is_skipped_and_folded_away() {
        let store = MemoryStore::new();
        store.put("a", b"record".to_vec()).unwrap();
        record(&store, "0001-run", used(&["a"])).unwrap();
        store
            .put(
                &format!("{USAGE_PREFIX}0000-garbage"),
                b"not a record".to_vec(),
            )
            .unwrap();
        let last = last_used(&store, &store.list().unwrap()).unwrap();
        assert_eq!(last.keys().collect::<Vec<_>>(), ["a"]);
        compact(&store, &store.list().unwrap()).unwrap();
        assert_eq!(entries(&store).len(), 1);
        assert_eq!(last_used(&store, &store.list().unwrap()).unwrap(), last);
    }

    #[test]
    fn entries_folded_away_while_read_lose_no_key() {
        // The first read of a last-used entry lets another worker fold every entry first, as
        // a sweep on one machine may meet a run ending on another.
        let folded = std::sync::atomic::AtomicBool::new(false);
        let store = OnRead {
            store: MemoryStore::new(),
            read: |store: &MemoryStore, key: &str| {
                if key.starts_with(USAGE_PREFIX) && !folded.swap(true, Ordering::SeqCst) {
                    compact(store, &store.list()?).expect("the other worker's fold");
                }
                store.get(key)
            },
        };
        for key in ["a", "b"] {
            store.put(key, b"record".to_vec()).unwrap();
        }
        record(&store, "0001-run", used(&["a"])).unwrap();
        record(&store, "0002-run", used(&["b"])).unwrap();
        let listed = store.list().unwrap();
        let last = last_used(&store, &listed).unwrap();
        assert_eq!(last.keys().collect::<Vec<_>>(), ["a", "b"]);

        folded.store(false, Ordering::SeqCst);
        record(&store, "0003-run", used(&["a"])).unwrap();
        let folded = compact(&store, &store.list().unwrap()).unwrap();
        assert_eq!(folded.keys().collect::<Vec<_>>(), ["a", "b"]);
        let after = last_used(&store.store, &store.store.list().unwrap()).unwrap();
        assert_eq!(after.keys().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn a_fold_is_due_an_hour_after_the_last_or_after_the_first_entry() {
        let store = MemoryStore::new();
        assert!(
            !fold_overdue(&store).unwrap(),
            "a new store starts the clock"
        );
        assert!(!fold_overdue(&store).unwrap(), "an hour is not over");
        put(&store, FOLDED_KEY, &(now_ms() - FOLD_AFTER_MS - 1_000)).unwrap();
        assert!(fold_overdue(&store).unwrap(), "folded over an hour ago");
        record(&store, "0001-run", used(&["a"])).unwrap();
        compact(&store, &store.list().unwrap()).unwrap();
        assert!(!fold_overdue(&store).unwrap(), "folded just now");
        store.put(FOLDED_KEY, b"not a time".to_vec()).unwrap();
        assert!(fold_overdue(&store).unwrap(), "unreadable");
    }
}
