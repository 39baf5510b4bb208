//! What a sweep removes ([`Retention`]) and what it removed ([`Swept`]).

use crate::report::RunReport;
use hashbrown::HashSet;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Which records a sweep ([`crate::Context::sweep_with`]) removes: those that any of its
/// rules selects. Without a rule it removes nothing.
///
/// Whatever the rules, a sweep never removes duraflow's own keys (the run journal and the
/// last-used entries, under [`crate::JOURNAL_PREFIX`]) nor a record whose key a run of this
/// process is using, and on a store shared by workers ([`crate::PostgresStore`]) it waits
/// for a task another worker is running under a key it would remove, and keeps the record
/// that task stores.
///
/// ```
/// use duraflow::Retention;
/// use std::time::Duration;
/// // Records not used for 30 days, then the least recently used until 10 GiB remain.
/// let policy = Retention::new()
///     .unused_for(Duration::from_secs(30 * 86_400))
///     .max_size(10 << 30);
/// # let _ = policy;
/// ```
#[derive(Debug, Clone, Default)]
pub struct Retention {
    pub(crate) used_by: Option<HashSet<String>>,
    pub(crate) unused_for: Option<Duration>,
    pub(crate) max_size: Option<u64>,
    pub(crate) expired: bool,
    pub(crate) dry_run: bool,
}

impl Retention {
    /// A policy that removes nothing until rules are added.
    pub fn new() -> Self {
        Self::default()
    }

    /// Removes every record whose key `report`'s run did not use: every key but those it
    /// restored, executed or tried to execute.
    pub fn unused_by(report: &RunReport) -> Self {
        Self::new().keep_used_by(report)
    }

    /// Also removes every record whose key `report`'s run did not use; with several
    /// reports, a record used by any of them is kept.
    pub fn keep_used_by(mut self, report: &RunReport) -> Self {
        let used = self.used_by.get_or_insert_with(HashSet::new);
        // A failed or skipped task's key counts as used too: its record (if any) is the one
        // the next run checks first.
        used.extend(report.tasks.iter().map(|span| span.key.to_string()));
        used.extend(report.runs.iter().map(|run| run.key.to_string()));
        self
    }

    /// Removes every record not used for `age`: by the last-used entries runs leave
    /// ([`crate::Context::last_used`]), or for a record no run has used, since it was
    /// written. Uses are recorded by [`crate::DurableDag::run`]; a record read only through
    /// `Durable::run_result` or `Context::get` counts as used when it was written.
    pub fn unused_for(mut self, age: Duration) -> Self {
        self.unused_for = Some(age);
        self
    }

    /// Removes the least recently used records until the records of tasks take at most
    /// `bytes` (as [`crate::Storage::list`] counts them; duraflow's own keys are not
    /// counted).
    pub fn max_size(mut self, bytes: u64) -> Self {
        self.max_size = Some(bytes);
        self
    }

    /// Removes every record older than its task's ttl (`#[durable(ttl = "7d")]`, as the last
    /// run that used the key had it): records no run would restore.
    pub fn expired(mut self) -> Self {
        self.expired = true;
        self
    }

    /// Removes nothing: the sweep only says what it would remove.
    pub fn dry_run(mut self) -> Self {
        self.dry_run = true;
        self
    }
}

/// Why a sweep selected a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Why {
    /// The run given to the sweep did not use its key.
    NotUsedByRun,
    /// It is older than its task's ttl.
    Expired,
    /// It was not used for the policy's age.
    Unused,
    /// It is among the least recently used records beyond the size cap.
    OverSize,
}

impl Why {
    /// The reason as a short phrase: `not used by the run`, `expired`, `unused`, `over the
    /// size cap`.
    pub fn as_str(self) -> &'static str {
        match self {
            Why::NotUsedByRun => "not used by the run",
            Why::Expired => "expired",
            Why::Unused => "unused",
            Why::OverSize => "over the size cap",
        }
    }
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One record a sweep removed (or, in a dry run, would remove).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    /// Its key.
    pub key: String,
    /// Its length in bytes.
    pub size: u64,
    /// When it was last used (or written, if no run used it), in milliseconds since the Unix
    /// epoch; 0 when neither is known (an unreadable record).
    pub last_used_ms: u64,
    /// Why it was selected.
    pub why: Why,
}

/// What a sweep removed, in the order it removed it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Swept {
    /// The records removed (in a dry run: those that would be).
    pub removed: Vec<Removed>,
    /// Records selected but kept because a run of this process, or a task of another worker,
    /// was using their keys.
    pub kept_in_use: usize,
}

impl Swept {
    /// How many records were removed.
    pub fn count(&self) -> usize {
        self.removed.len()
    }

    /// How many bytes the removed records took.
    pub fn bytes(&self) -> u64 {
        self.removed.iter().map(|removed| removed.size).sum()
    }
}
