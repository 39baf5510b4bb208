//! `report`: one run of the journal as a self-contained HTML timeline page.

use super::runs::find;
use super::Outcome;
use crate::error::Fatal;
use crate::store::Store;
use std::io::Write;
use std::path::Path;

/// Writes the timeline page of run `run` (an id or `last`) of the store at `path` to
/// `output`.
pub fn run(path: &Path, run: &str, output: &Path, out: &mut dyn Write) -> Result<Outcome, Fatal> {
    let store = Store::open_read_only(path)?;
    let runs = store.context_runs()?;
    let entry = find(&runs, run, &store)?;
    entry
        .report
        .write_html(output)
        .map_err(|error| Fatal::new(format!("could not write {}: {error}", output.display())))?;
    writeln!(
        out,
        "wrote the timeline of run {} ({} tasks) to {}",
        entry.id,
        entry.report.tasks.len(),
        output.display()
    )?;
    Ok(Outcome::Clean)
}
