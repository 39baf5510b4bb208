//! The run journal: what each [`DurableDag::run`](crate::DurableDag::run) did, kept in the
//! run's own store so it can be read the next morning ([`crate::Context::runs`],
//! `duraflow runs`, `duraflow report`).
//!
//! A run writes its entry once, when it ends, beside its last records and made durable by
//! the same flush: never in a task's path, and a crash mid-run loses at most that run's
//! entry. Entries live under [`JOURNAL_PREFIX`] (`__duraflow/run/{id}`), with an index
//! (`__duraflow/runs`) of the ids kept, oldest first; the oldest entry goes when a run
//! would keep more than its limit.

use crate::codec::{self, Expect, Stamp};
use crate::report::RunReport;
use crate::store::Storage;
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
    let excess = ids.len().saturating_sub(keep.max(1));
    for old in ids.drain(..excess) {
        let old = entry_key(&old);
        store.remove(&old).map_err(|e| persist_error(&old, e))?;
    }
    let index =
        codec::encode(INDEX_KEY, &ids, Stamp::default()).map_err(|e| encode_error(INDEX_KEY, e))?;
    store
        .put(INDEX_KEY, index)
        .map_err(|e| persist_error(INDEX_KEY, e))
}

/// Every run the journal in `store` keeps, oldest first. An entry that cannot be read is an
/// error naming its key.
pub(crate) fn runs(store: &dyn Storage) -> Result<Vec<RunEntry>, DuraflowError> {
    read_index(store)
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
