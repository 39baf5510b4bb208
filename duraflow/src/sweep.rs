//! Sweeping a store: selecting records by a [`Retention`] policy and removing them one key
//! at a time, so that a sweep interrupted at any instant leaves every remaining record whole
//! (each store removes a key atomically), and made durable every [`FLUSH_EVERY`] removals.

use crate::codec;
use crate::in_use;
use crate::retention::{Removed, Retention, Swept, Why};
use crate::store::{listing, Claim, Found, Listed, Storage, LARGE_RECORD};
use crate::usage::{self, LastUse};
use crate::DuraflowError;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// Removals made durable together.
const FLUSH_EVERY: usize = 256;

/// Records whose headers are read in one `get_many`.
const READ_CHUNK: usize = 256;

/// A task's record as the sweep sees it.
struct Candidate {
    key: String,
    size: u64,
    last_used_ms: u64,
    why: Option<Why>,
}

/// Removes from `store` what `policy` selects (nothing in a dry run) and says what.
pub(crate) fn sweep(store: &dyn Storage, policy: &Retention) -> Result<Swept, DuraflowError> {
    let listed = listing(store)?;
    let last = usage::last_used(store, &listed)?;
    let now = usage::now_ms();
    let mut candidates = select(store, policy, &listed, &last, now)?;
    let selected: Vec<Removed> = candidates
        .iter_mut()
        .filter_map(|c| {
            c.why.map(|why| Removed {
                key: std::mem::take(&mut c.key),
                size: c.size,
                last_used_ms: c.last_used_ms,
                why,
            })
        })
        .collect();
    if policy.dry_run {
        let kept_in_use = selected
            .iter()
            .filter(|r| in_use::is_in_use(&r.key))
            .count();
        let removed = selected
            .into_iter()
            .filter(|r| !in_use::is_in_use(&r.key))
            .collect();
        return Ok(Swept {
            removed,
            kept_in_use,
        });
    }
    let swept = remove(store, selected)?;
    // The last-used entries forget the keys that are gone (best effort: they only grow).
    if let Ok(listed) = listing(store) {
        let _ = usage::compact(store, &listed);
    }
    Ok(swept)
}

/// Every task's record with its last use and, if `policy` selects it, why.
fn select(
    store: &dyn Storage,
    policy: &Retention,
    listed: &[Listed],
    last: &BTreeMap<String, LastUse>,
    now: u64,
) -> Result<Vec<Candidate>, DuraflowError> {
    let records: Vec<&Listed> = listed
        .iter()
        .filter(|l| !usage::is_bookkeeping(&l.key))
        .collect();
    let by_time = policy.unused_for.is_some() || policy.max_size.is_some();
    // Write times are read from the records only where needed: a record no run has used
    // (for its age), and one whose task has a ttl (for expiry).
    let unread: Vec<&str> = records
        .iter()
        .filter(|l| match last.get(&l.key) {
            None => by_time,
            Some(used) => policy.expired && used.ttl.is_some(),
        })
        .map(|l| l.key.as_str())
        .collect();
    let written = written_at(store, &unread)?;
    let mut candidates: Vec<Candidate> = records
        .into_iter()
        .map(|listed| {
            let used = last.get(&listed.key);
            let written = written.get(listed.key.as_str()).copied().flatten();
            let last_used_ms = used.map_or(0, |u| u.at_ms).max(written.unwrap_or(0));
            let expired = match (used.and_then(|u| u.ttl), written) {
                (Some(ttl), Some(written)) => older_than(now, written, ttl),
                _ => false,
            };
            let why = if policy
                .used_by
                .as_ref()
                .is_some_and(|used| !used.contains(&listed.key))
            {
                Some(Why::NotUsedByRun)
            } else if policy.expired && expired {
                Some(Why::Expired)
            } else if policy
                .unused_for
                .is_some_and(|age| older_than(now, last_used_ms, age))
            {
                Some(Why::Unused)
            } else {
                None
            };
            Candidate {
                key: listed.key.clone(),
                size: listed.size,
                last_used_ms,
                why,
            }
        })
        .collect();
    if let Some(cap) = policy.max_size {
        // Least recently used first; among records used together, the larger first.
        candidates.sort_by(|a, b| {
            (a.last_used_ms, std::cmp::Reverse(a.size), &a.key).cmp(&(
                b.last_used_ms,
                std::cmp::Reverse(b.size),
                &b.key,
            ))
        });
        let mut total: u64 = candidates
            .iter()
            .filter(|c| c.why.is_none())
            .map(|c| c.size)
            .sum();
        for candidate in candidates.iter_mut().filter(|c| c.why.is_none()) {
            if total <= cap {
                break;
            }
            if in_use::is_in_use(&candidate.key) {
                continue;
            }
            candidate.why = Some(Why::OverSize);
            total -= candidate.size;
        }
    }
    Ok(candidates)
}

fn older_than(now: u64, then: u64, age: Duration) -> bool {
    u128::from(now.saturating_sub(then)) > age.as_millis()
}

/// When each record of `keys` was written; `None` for one that is gone or unreadable.
fn written_at(
    store: &dyn Storage,
    keys: &[&str],
) -> Result<HashMap<String, Option<u64>>, DuraflowError> {
    let load_error = |key: &str, source| DuraflowError::Load {
        key: key.to_owned(),
        source,
    };
    let mut written = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(READ_CHUNK) {
        let found = store
            .get_many(chunk, LARGE_RECORD - 1)
            .map_err(|source| load_error(chunk[0], source))?;
        for (key, found) in chunk.iter().zip(found) {
            let record = match found {
                Found::Record(record) => Some(record),
                Found::Absent => None,
                Found::Unread => store.get(key).map_err(|source| load_error(key, source))?,
            };
            let at = record.and_then(|r| codec::parse(&r).ok().map(|view| view.written_at_ms));
            written.insert((*key).to_owned(), at);
        }
    }
    Ok(written)
}

/// Removes `selected` in order, skipping keys in use; flushes every [`FLUSH_EVERY`].
fn remove(store: &dyn Storage, selected: Vec<Removed>) -> Result<Swept, DuraflowError> {
    let mut swept = Swept::default();
    for chunk in selected.chunks(FLUSH_EVERY) {
        for item in chunk {
            match remove_one(store, &item.key)? {
                Done::Removed => swept.removed.push(item.clone()),
                Done::InUse => swept.kept_in_use += 1,
                Done::Gone => {}
            }
        }
        store.flush().map_err(|failed| DuraflowError::Remove {
            key: failed.key,
            source: failed.source,
        })?;
    }
    Ok(swept)
}

/// What became of one selected record.
enum Done {
    Removed,
    /// Kept: a run of this process, or a task of another worker, uses its key.
    InUse,
    /// Removed or replaced by someone else since it was listed.
    Gone,
}

/// Removes the record of `key` unless a run of this process, or on a coordinating store a
/// task of another worker, is using it.
fn remove_one(store: &dyn Storage, key: &str) -> Result<Done, DuraflowError> {
    let remove_error = |source| DuraflowError::Remove {
        key: key.to_owned(),
        source,
    };
    let removed = |removed: Option<std::io::Result<()>>| match removed {
        None => Ok(Done::InUse),
        Some(removed) => removed.map(|()| Done::Removed).map_err(remove_error),
    };
    if !store.coordinates() {
        return removed(in_use::unless_in_use(key, || store.remove(key)));
    }
    if in_use::is_in_use(key) {
        return Ok(Done::InUse);
    }
    // The claim makes every other worker that wants this key wait for the removal; a
    // worker's task that holds the claim is let finish first, and its new record stays.
    let load_error = |source| DuraflowError::Load {
        key: key.to_owned(),
        source,
    };
    let Some(record) = store.get(key).map_err(load_error)? else {
        return Ok(Done::Gone);
    };
    match store.claim(key, Some(&record)).map_err(load_error)? {
        // Stored by another worker's task meanwhile: in use.
        Claim::Restore(_) => Ok(Done::InUse),
        Claim::Run => {
            // The removal is made durable before the claim goes: a worker that claims the
            // key next finds no record, rather than storing one the removal then deletes.
            let done = removed(in_use::unless_in_use(key, || store.remove(key))).and_then(|done| {
                store.flush().map_err(|failed| DuraflowError::Remove {
                    key: failed.key,
                    source: failed.source,
                })?;
                Ok(done)
            });
            // Best effort: an unreleased claim expires with its lease.
            let _ = store.release(key);
            done
        }
    }
}
