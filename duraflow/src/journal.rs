//! The run journal: what each [`DurableDag::run`](crate::DurableDag::run) did, kept in the
//! run's own store so it can be read the next morning ([`crate::Context::runs`],
//! `duraflow runs`, `duraflow report`).
//!
//! A run writes its entry once, when it ends, beside its last records and made durable by
//! the same flush: never in a task's path, and a crash mid-run loses at most that run's
//! entry. Entries live under [`JOURNAL_PREFIX`] (`__duraflow/run/{id}`) and are found by
//! listing the store. An index (`__duraflow/runs`) of the ids kept, oldest first, lets a run
//! remove the oldest entry when it would keep more than its limit without listing the
//! store. Workers ending runs at once may each rewrite the index without the other's id;
//! such an entry is still listed, and the next fold of the last-used entries, which lists
//! the store anyway, rebuilds the index from the entries found.

use crate::codec::{self, Expect, Stamp};
use crate::report::RunReport;
use crate::store::{listing, Listed, Storage};
use crate::DuraflowError;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};

/// The keys the journal uses start with this prefix; task keys must not.
pub const JOURNAL_PREFIX: &str = "__duraflow/";

/// How many runs a store keeps by default.
pub const DEFAULT_JOURNAL_RUNS: usize = 100;

const INDEX_KEY: &str = "__duraflow/runs";

/// One run as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunEntry {
    /// The run's id: its start time in milliseconds since the Unix epoch, zero-padded so
    /// ids sort by time, then the process id and a counter of the process's runs.
    pub id: String,
    /// The machine the run ran on.
    pub host: String,
    /// The process that ran it.
    pub pid: u32,
    /// What the run did: every task's outcome, reason, attempts, timing and error.
    pub report: RunReport,
}

impl RunEntry {
    /// The entry of a run of this process that did what `report` says.
    pub(crate) fn new(report: RunReport) -> Self {
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let pid = std::process::id();
        let run = RUNS.fetch_add(1, Ordering::Relaxed);
        RunEntry {
            id: format!("{:013}-{pid}-{run}", report.started_at_ms),
            host: host_name(),
            pid,
            report,
        }
    }
}

impl RunEntry {
    /// Every run the journal in `store` keeps, oldest first (what [`crate::Context::runs`]
    /// reads). An entry that cannot be read is an error naming its key.
    pub fn all(store: &dyn Storage) -> Result<Vec<RunEntry>, DuraflowError> {
        runs(store)
    }
}

/// The machine's name, as the kernel reports it (`unknown` where it cannot be read).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|name| name.trim().to_owned())
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn entry_key(id: &str) -> String {
    format!("{JOURNAL_PREFIX}run/{id}")
}

fn persist_error(key: &str, source: std::io::Error) -> DuraflowError {
    DuraflowError::Persist {
        key: key.to_owned(),
        source,
    }
}

/// The ids in the index, oldest first; an index that is missing or unreadable counts as
/// empty (its entries are then no longer listed, but every record stays valid).
fn read_index(store: &dyn Storage) -> Vec<String> {
    let Ok(Some(bytes)) = store.get(INDEX_KEY) else {
        return Vec::new();
    };
    codec::decode::<Vec<String>>(INDEX_KEY, &bytes, Expect::default()).unwrap_or_default()
}

/// Adds `entry` to the journal in `store`, dropping the oldest entries beyond `keep`. The
/// writes are queued like records: the caller's flush makes them durable.
pub(crate) fn record(
    store: &dyn Storage,
    entry: &RunEntry,
    keep: usize,
) -> Result<(), DuraflowError> {
    let key = entry_key(&entry.id);
    let encode_error = |key: &str, error: postcard::Error| DuraflowError::Serialize {
        key: key.to_owned(),
        reason: error.to_string(),
    };
    let record = codec::encode(&key, entry, Stamp::default()).map_err(|e| encode_error(&key, e))?;
    store
        .put(&key, record)
        .map_err(|e| persist_error(&key, e))?;
    let mut ids = read_index(store);
    if !ids.contains(&entry.id) {
        ids.push(entry.id.clone());
    }
    write_index(store, ids, keep)
}

/// Removes the entries of the oldest `ids` beyond `keep` and stores the rest as the index.
fn write_index(
    store: &dyn Storage,
    mut ids: Vec<String>,
    keep: usize,
) -> Result<(), DuraflowError> {
    let excess = ids.len().saturating_sub(keep.max(1));
    for old in ids.drain(..excess) {
        let old = entry_key(&old);
        store.remove(&old).map_err(|e| persist_error(&old, e))?;
    }
    let index = codec::encode(INDEX_KEY, &ids, Stamp::default()).map_err(|error| {
        DuraflowError::Serialize {
            key: INDEX_KEY.to_owned(),
            reason: error.to_string(),
        }
    })?;
    store
        .put(INDEX_KEY, index)
        .map_err(|e| persist_error(INDEX_KEY, e))
}

/// The ids of the entries among `listed` (a listing of the store), oldest first.
fn listed_ids(listed: &[Listed]) -> Vec<String> {
    let prefix = entry_key("");
    let mut ids: Vec<String> = listed
        .iter()
        .filter_map(|l| l.key.strip_prefix(&prefix).map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

/// Rebuilds the index from the entries among `listed` (a listing of the store), removing the
/// oldest beyond `keep`: entries whose id a concurrent run's index dropped are kept, and
/// removed in their turn.
pub(crate) fn reindex(
    store: &dyn Storage,
    listed: &[Listed],
    keep: usize,
) -> Result<(), DuraflowError> {
    let index = read_index(store);
    let mut ids = listed_ids(listed);
    for id in &index {
        if let Err(at) = ids.binary_search(id) {
            ids.insert(at, id.clone());
        }
    }
    if ids == index && ids.len() <= keep.max(1) {
        return Ok(());
    }
    write_index(store, ids, keep)
}

/// Every run the journal in `store` keeps, oldest first (the store is listed to find
/// them). An entry that cannot be read is an error naming its key.
pub(crate) fn runs(store: &dyn Storage) -> Result<Vec<RunEntry>, DuraflowError> {
    listed_ids(&listing(store)?)
        .iter()
        .filter_map(|id| read(store, id).transpose())
        .collect()
}

/// The run `id` of the journal in `store`, if it is kept.
pub(crate) fn read(store: &dyn Storage, id: &str) -> Result<Option<RunEntry>, DuraflowError> {
    let key = entry_key(id);
    let Some(bytes) = store.get(&key).map_err(|source| DuraflowError::Load {
        key: key.clone(),
        source,
    })?
    else {
        return Ok(None);
    };
    codec::decode::<RunEntry>(&key, &bytes, Expect::default())
        .map(Some)
        .map_err(|miss| DuraflowError::Corrupt {
            reason: miss.to_string(),
            key,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OnRead;
    use crate::MemoryStore;
    use std::sync::atomic::AtomicBool;

    fn entry(started_at_ms: u64) -> RunEntry {
        RunEntry::new(RunReport {
            started_at_ms,
            ..RunReport::default()
        })
    }

    #[test]
    fn a_run_whose_id_a_concurrent_run_dropped_from_the_index_is_listed_and_pruned() {
        let (first, other, last) = (entry(1_000), entry(2_000), entry(3_000));
        // Another worker ends its run between this worker's read of the index and its
        // write: this worker then writes an index without the other's id.
        let done = AtomicBool::new(false);
        let store = OnRead {
            store: MemoryStore::new(),
            read: |store: &MemoryStore, key: &str| {
                let read = store.get(key)?;
                if key == INDEX_KEY && !done.swap(true, Ordering::SeqCst) {
                    record(store, &other, 10).expect("the other worker's run");
                }
                Ok(read)
            },
        };
        record(&store, &first, 10).unwrap();
        assert_eq!(read_index(&store).len(), 1, "the other id was lost");
        let ids = |store: &dyn Storage| -> Vec<String> {
            runs(store).unwrap().into_iter().map(|run| run.id).collect()
        };
        assert_eq!(ids(&store), [first.id.clone(), other.id.clone()]);

        record(&store, &last, 10).unwrap();
        reindex(&store, &store.list().unwrap(), 2).unwrap();
        assert_eq!(ids(&store), [other.id.clone(), last.id.clone()]);
        assert_eq!(read_index(&store), [other.id, last.id]);
    }
}
