//! `rm KEY`: remove one record.

use super::{no_record, Outcome};
use crate::error::Fatal;
use crate::format::printable_key;
use crate::store::Store;
use std::io::Write;
use std::path::Path;

/// Removes the record of `key` from the store at `path` durably; a key without a record is
/// a problem.
pub fn run(path: &Path, key: &str, out: &mut dyn Write) -> Result<Outcome, Fatal> {
    let store = Store::open(path)?;
    if store.get(key)?.is_none() {
        return Ok(no_record(&store, key));
    }
    store.remove(key)?;
    writeln!(out, "removed {}", printable_key(key))?;
    Ok(Outcome::Clean)
}
