//! The commands, one module each. Each opens the store, writes its report to `out`, and says
//! whether it found problems; errors that stop it are [`Fatal`](crate::error::Fatal).

pub mod du;
pub mod gc;
pub mod ls;
pub mod report;
pub mod rm;
pub mod runs;
pub mod show;
pub mod verify;

use crate::format::printable_key;
use crate::store::Store;

/// How a command that ran to its end went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing wrong (exit status 0).
    Clean,
    /// The command found problems: bad records, an unknown key (exit status 1).
    Problems,
}

/// Reports that `store` has no record under `key`.
fn no_record(store: &Store, key: &str) -> Outcome {
    eprintln!(
        "error: no record under key `{}` in {}",
        printable_key(key),
        store.path().display()
    );
    Outcome::Problems
}
