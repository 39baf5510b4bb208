//! `show KEY`: the header fields and payload of one record.

use super::{no_record, Outcome};
use crate::error::Fatal;
use crate::format::{age, hex, hex_dump, now_ms, printable_key, utc_iso8601};
use crate::store::{Item, Store};
use duraflow::codec::RecordView;
use std::io::Write;
use std::path::Path;

/// Bytes dumped without `--all`.
const DUMP_LIMIT: usize = 256;

/// How `show` prints.
pub struct Options {
    /// The whole payload, not only its first [`DUMP_LIMIT`] bytes.
    pub all: bool,
    /// A hex dump even of a payload that is text.
    pub hex: bool,
    /// One JSON object instead of lines.
    pub json: bool,
}

/// Prints the record of `key` in the store at `path`: every header field and the payload (in
/// postcard, decompressed), as text when it is a UTF-8 string, else as a hex dump. A record
/// that fails its checks is dumped raw and reported as a problem.
pub fn run(
    path: &Path,
    key: &str,
    options: &Options,
    out: &mut dyn Write,
) -> Result<Outcome, Fatal> {
    let store = Store::open_read_only(path)?;
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
            dump(out, &bytes, options.all)?;
            return Ok(Outcome::Problems);
        }
    };
    let postcard = view
        .postcard()
        .map_err(|why| Fatal::new(format!("the payload of `{}` {why}", printable_key(key))))?;
    let text = (!options.hex).then(|| as_text(&postcard)).flatten();
    if options.json {
        write_json(&view, bytes.len(), &postcard, text, options.all, out)?;
        return Ok(Outcome::Clean);
    }
    let input = if view.input_fingerprint == [0; 16] {
        "none".to_owned()
    } else {
        hex(&view.input_fingerprint)
    };
    let shape = match view.shape {
        "" => "(not traced: checked by type name)",
        shape => shape,
    };
    writeln!(out, "key:                {}", printable_key(view.key))?;
    writeln!(out, "format version:     {}", view.format_version)?;
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
    if view.compressed {
        writeln!(
            out,
            "compressed:         zstd, {} bytes decompressed",
            postcard.len()
        )?;
    }
    match text {
        Some(text) => {
            writeln!(out, "payload (text, {} bytes):", text.len())?;
            writeln!(out, "{text}")?;
        }
        None => {
            writeln!(out, "payload:")?;
            dump(out, &postcard, options.all)?;
        }
    }
    Ok(Outcome::Clean)
}

/// The payload as text, when it is one string (or byte string, `Vec<u8>`) of UTF-8 and
/// nothing else. (Other values are not guessed at: the postcard bytes of a number can be
/// valid UTF-8 too.)
fn as_text(postcard: &[u8]) -> Option<&str> {
    match postcard::take_from_bytes::<&str>(postcard) {
        Ok((text, [])) => Some(text),
        _ => None,
    }
}

fn write_json(
    view: &RecordView<'_>,
    record_size: usize,
    postcard: &[u8],
    text: Option<&str>,
    all: bool,
    out: &mut dyn Write,
) -> Result<(), Fatal> {
    let shown = &postcard[..postcard
        .len()
        .min(if all { usize::MAX } else { DUMP_LIMIT })];
    let mut json = serde_json::json!({
        "key": view.key, "format_version": view.format_version,
        "task_version": view.task_version, "type_name": view.type_name, "shape": view.shape,
        "schema_version": view.schema_version, "schema_fingerprint": hex(&view.schema_fingerprint),
        "input_fingerprint": hex(&view.input_fingerprint),
        "written_at": utc_iso8601(view.written_at_ms), "written_at_ms": view.written_at_ms,
        "record_size": record_size, "payload_size": view.payload.len(),
        "compressed": view.compressed, "postcard_size": postcard.len(),
    });
    match text {
        Some(text) => json["payload_text"] = text.into(),
        None => {
            json["payload_hex"] = hex(shown).into();
            json["payload_cut"] = (shown.len() < postcard.len()).into();
        }
    }
    writeln!(out, "{json}")?;
    Ok(())
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
