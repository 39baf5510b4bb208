//! `verify`: check every record.

use super::Outcome;
use crate::error::Fatal;
use crate::format::plural;
use crate::store::Store;
use std::io::Write;
use std::path::Path;

/// Checks every record of the store at `path` (structure, checksum, and that it is stored
/// under its own key), prints each bad one with the reason, and ends with a summary.
pub fn run(path: &Path, out: &mut dyn Write) -> Result<Outcome, Fatal> {
    let store = Store::open_read_only(path)?;
    let (mut checked, mut bad) = (0, 0);
    store.for_each_record(|item, _, record| {
        checked += 1;
        if let Err(reason) = record {
            bad += 1;
            writeln!(out, "bad {}: {reason}", item.label())?;
        }
        Ok(())
    })?;
    if bad == 0 {
        writeln!(out, "ok {}", plural(checked, "record"))?;
        Ok(Outcome::Clean)
    } else {
        writeln!(out, "{bad} of {} bad", plural(checked, "record"))?;
        Ok(Outcome::Problems)
    }
}
