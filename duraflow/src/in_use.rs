//! The keys that the runs of this process are using, so that a sweep
//! ([`crate::Context::sweep`]) leaves their records alone.
//!
//! A `DurableDag::run` registers the keys of its DAG before it reads a record and keeps them
//! registered until its last-used entry is written; `Durable::run_result` registers its one
//! key. A sweep decides on a key and queues its removal under the same lock
//! ([`unless_in_use`]), so a run that registers afterwards finds the removal queued (the
//! store's reads see it) and runs the task, and a run registered before keeps the record.

use crate::key::TaskKey;
use hashbrown::HashSet;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The keys of a DAG, shared with the registry while one of its runs is in progress (no
/// copy of them is made per run).
pub(crate) type Keys = Arc<Mutex<HashSet<TaskKey>>>;

/// The key sets of the runs in progress, each with the id its guard removes it by.
static RUNS: Mutex<Vec<(u64, Keys)>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// Keys registered as in use until this is dropped.
#[must_use = "the keys are in use only while the guard lives"]
pub(crate) struct InUse {
    id: u64,
}

/// Registers `keys` as in use by a run of this process until the guard is dropped.
pub(crate) fn register(keys: &Keys) -> InUse {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    RUNS.lock().push((id, Arc::clone(keys)));
    InUse { id }
}

impl Drop for InUse {
    fn drop(&mut self) {
        RUNS.lock().retain(|(id, _)| *id != self.id);
    }
}

/// Whether a run of this process is using `key`.
pub(crate) fn is_in_use(key: &str) -> bool {
    RUNS.lock()
        .iter()
        .any(|(_, keys)| keys.lock().contains(key))
}

/// Runs `act` unless a run of this process is using `key`, with no run registering
/// meanwhile; `None` when the key is in use.
pub(crate) fn unless_in_use<R>(key: &str, act: impl FnOnce() -> R) -> Option<R> {
    let runs = RUNS.lock();
    if runs.iter().any(|(_, keys)| keys.lock().contains(key)) {
        return None;
    }
    let done = act();
    drop(runs);
    Some(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_in_use_while_a_guard_of_theirs_lives() {
        let keys = |names: &[&str]| -> Keys {
            Arc::new(Mutex::new(
                names.iter().map(|k| TaskKey::from(*k)).collect(),
            ))
        };
        let first = register(&keys(&["in-use-a", "in-use-b"]));
        let second = register(&keys(&["in-use-b"]));
        assert!(is_in_use("in-use-a") && is_in_use("in-use-b"));
        assert!(!is_in_use("in-use-c"));
        assert_eq!(unless_in_use("in-use-a", || 1), None);
        assert_eq!(unless_in_use("in-use-c", || 1), Some(1));
        drop(first);
        assert!(!is_in_use("in-use-a"));
        assert!(is_in_use("in-use-b"), "still used by the second run");
        drop(second);
        assert_eq!(unless_in_use("in-use-b", || 2), Some(2));
    }
}
