//! `gc`: remove temp files left by writers that crashed.

use super::Outcome;
use crate::error::Fatal;
use crate::format::plural;
use crate::store::Store;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Prefix of `FileStore` temp files, `.tmp-<pid>-<n>` (the runtime keeps its constant
/// private).
const TEMP_PREFIX: &str = ".tmp-";

/// Collects the temp files of the store at `path`. A `FileStore` removes the temp files of
/// processes no longer running when it is opened, so those are counted as the ones present
/// before opening and gone after; with `force` the remaining ones (of running processes)
/// are removed too. A `RedbStore` has no temp files.
pub fn run(path: &Path, force: bool, out: &mut dyn Write) -> Result<Outcome, Fatal> {
    let scan_error = |e: io::Error| Fatal::new(format!("could not list {}: {e}", path.display()));
    // Scanned before the store is known to be one, but only read; errors wait for `open`.
    let before = path.is_dir().then(|| temp_files(path));
    let files = match Store::open(path)? {
        Store::File(files) => files,
        Store::Redb(_) => {
            writeln!(out, "nothing to collect: a RedbStore keeps no temp files")?;
            return Ok(Outcome::Clean);
        }
    };
    let before = before.transpose().map_err(scan_error)?.unwrap_or_default();
    let mut kept = temp_files(files.dir()).map_err(scan_error)?;
    let mut removed = before.iter().filter(|temp| !kept.contains(temp)).count();
    if force {
        for temp in kept.drain(..) {
            match fs::remove_file(&temp) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {} // renamed by its writer
                Err(e) => {
                    return Err(Fatal::new(format!(
                        "could not remove {}: {e}",
                        temp.display()
                    )))
                }
            }
        }
    }
    writeln!(out, "removed {}", plural(removed, "stray temp file"))?;
    if !kept.is_empty() {
        writeln!(
            out,
            "kept {} of running processes (--force removes them)",
            plural(kept.len(), "temp file")
        )?;
    }
    Ok(Outcome::Clean)
}

/// The temp files in `dir`.
fn temp_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut temps = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with(TEMP_PREFIX))
        {
            temps.push(entry.path());
        }
    }
    Ok(temps)
}
