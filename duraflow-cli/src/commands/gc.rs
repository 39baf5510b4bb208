//! `gc`: remove temp files left by writers that crashed.

use super::Outcome;
use crate::error::Fatal;
use crate::format::plural;
use crate::store::Store;
use std::io::Write;
use std::path::Path;

/// Removes the temp files of the store at `path` whose writers are no longer running; with
/// `force`, those of running processes too. A `RedbStore` has no temp files.
pub fn run(path: &Path, force: bool, out: &mut dyn Write) -> Result<Outcome, Fatal> {
    let files = match Store::open(path)? {
        Store::File(files) => files,
        Store::Redb(_) => {
            writeln!(out, "nothing to collect: a RedbStore keeps no temp files")?;
            return Ok(Outcome::Clean);
        }
    };
    let (removed, kept) = files.remove_temp_files(force).map_err(|e| {
        Fatal::new(format!(
            "could not remove temp files in {}: {e}",
            path.display()
        ))
    })?;
    writeln!(out, "removed {}", plural(removed, "stray temp file"))?;
    if kept > 0 {
        writeln!(
            out,
            "kept {} of running processes (--force removes them)",
            plural(kept, "temp file")
        )?;
    }
    Ok(Outcome::Clean)
}
