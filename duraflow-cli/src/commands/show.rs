//! `show KEY`: the header fields and payload of one record.

use super::{no_record, Outcome};
use crate::error::Fatal;
use crate::format::{age, hex, hex_dump, now_ms, printable_key, utc_iso8601};
use crate::store::{Item, Store};
use duraflow::codec;
use std::io::Write;
use std::path::Path;

/// Bytes dumped without `--all`.
const DUMP_LIMIT: usize = 256;

/// Prints the record of `key` in the store at `path`: every header field and a hex dump of
/// the payload (all of it with `all`). A record that fails its checks is dumped raw and
/// reported as a problem.
pub fn run(path: &Path, key: &str, all: bool, out: &mut dyn Write) -> Result<Outcome, Fatal> {
    let store = Store::open(path)?;
    let Some(bytes) = store.get(key)? else {
        return Ok(no_record(&store, key));
    };
    let view = match store.check(&Item::Key(key.to_owned()), &bytes) {
        Ok(view) => view,
        Err(reason) => {
            eprintln!(
                "error: the record under `{}` is corrupt: {reason}",
                printable_key(key)
            );
            writeln!(out, "record size:        {} bytes", bytes.len())?;
            writeln!(out, "raw record:")?;
            dump(out, &bytes, all)?;
            return Ok(Outcome::Problems);
        }
    };
    let input = if view.input_fingerprint == [0; 16] {
        "none".to_owned()
    } else {
        hex(&view.input_fingerprint)
    };
    // `codec::parse` accepts only records of the current format version.
    let shape = match view.shape {
        "" => "(not traced: checked by type name)",
        shape => shape,
    };
    writeln!(out, "key:                {}", printable_key(view.key))?;
    writeln!(out, "format version:     {}", codec::FORMAT_VERSION)?;
    writeln!(out, "task version:       {}", view.task_version)?;
    writeln!(out, "type name:          {}", view.type_name)?;
    writeln!(out, "shape:              {shape}")?;
    writeln!(out, "schema version:     {}", view.schema_version)?;
    writeln!(out, "schema fingerprint: {}", hex(&view.schema_fingerprint))?;
    writeln!(out, "input fingerprint:  {input}")?;
    writeln!(
        out,
        "written at:         {} ({} ago)",
        utc_iso8601(view.written_at_ms),
        age(view.written_at_ms, now_ms())
    )?;
    writeln!(out, "record size:        {} bytes", bytes.len())?;
    writeln!(out, "payload size:       {} bytes", view.payload.len())?;
    writeln!(out, "payload:")?;
    dump(out, view.payload, all)?;
    Ok(Outcome::Clean)
}

/// Hex dump of `bytes`, cut at [`DUMP_LIMIT`] unless `all`.
fn dump(out: &mut dyn Write, bytes: &[u8], all: bool) -> Result<(), Fatal> {
    let shown = if all {
        bytes
    } else {
        &bytes[..bytes.len().min(DUMP_LIMIT)]
    };
    hex_dump(out, shown)?;
    if shown.len() < bytes.len() {
        writeln!(
            out,
            "... {} more bytes (--all shows everything)",
            bytes.len() - shown.len()
        )?;
    }
    Ok(())
}
