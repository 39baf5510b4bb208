//! `ls [PATTERN]`: one line (or JSON object) per record.

use super::Outcome;
use crate::error::Fatal;
use crate::format::{age, now_ms, utc_iso8601};
use crate::keys::Pattern;
use crate::store::{Item, Store};
use std::io::Write;
use std::path::Path;

/// One line of the listing.
struct Row {
    label: String,
    size: usize,
    /// Type, version and write time, or why the record is corrupt.
    fields: Result<(String, u32, u64), String>,
}

/// Lists the records of the store at `path` whose keys `pattern` matches (every record, and
/// the stray files of a `FileStore`, without one): key, size in bytes, stored type, task
/// version and age, as a table or (with `json`) a JSON array that also says when a run last
/// used each key. A record that fails its checks
/// is listed as `<corrupt: reason>`.
pub fn run(
    path: &Path,
    pattern: Option<&str>,
    json: bool,
    out: &mut dyn Write,
) -> Result<Outcome, Fatal> {
    let store = Store::open_read_only(path)?;
    let pattern = pattern.map(Pattern::listing).transpose()?;
    let mut rows = Vec::new();
    store.for_each_record(|item, bytes, record| {
        let wanted = match (&pattern, item) {
            (None, _) => true,
            (Some(pattern), Item::Key(key)) => pattern.matches(key),
            (Some(_), Item::StrayFile(_)) => false,
        };
        if wanted {
            rows.push(Row {
                label: item.label(),
                size: bytes.len(),
                fields: record.map(|v| (v.type_name.to_owned(), v.task_version, v.written_at_ms)),
            });
        }
        Ok(())
    })?;
    if json {
        let last = store.context().last_used()?;
        return write_json(&rows, &last, out);
    }
    if rows.is_empty() {
        eprintln!("no records in {}", store.path().display());
        return Ok(Outcome::Clean);
    }
    write_table(&rows, out)
}

/// The rows as JSON objects, with when a run last used each key (`null`: no run has).
fn write_json(
    rows: &[Row],
    last: &std::collections::BTreeMap<String, duraflow::LastUse>,
    out: &mut dyn Write,
) -> Result<Outcome, Fatal> {
    let rows: Vec<_> = rows
        .iter()
        .map(|row| match &row.fields {
            Ok((ty, version, written)) => serde_json::json!({
                "key": row.label, "size": row.size, "type": ty, "task_version": version,
                "written_at": utc_iso8601(*written), "written_at_ms": written,
                "last_used": last.get(&row.label).map(|used| utc_iso8601(used.at_ms)),
            }),
            Err(reason) => serde_json::json!({
                "key": row.label, "size": row.size, "corrupt": reason,
            }),
        })
        .collect();
    writeln!(out, "{}", serde_json::Value::Array(rows))?;
    Ok(Outcome::Clean)
}

fn write_table(rows: &[Row], out: &mut dyn Write) -> Result<Outcome, Fatal> {
    let now = now_ms();
    let width = |header: &str, cell: &dyn Fn(&Row) -> Option<usize>| {
        rows.iter()
            .filter_map(cell)
            .chain([header.len()])
            .max()
            .unwrap_or(0)
    };
    let key_w = width("KEY", &|r| Some(r.label.chars().count()));
    let size_w = width("SIZE", &|r| Some(r.size.to_string().len()));
    let type_w = width("TYPE", &|r| {
        r.fields.as_ref().ok().map(|f| f.0.chars().count())
    });
    let version_w = width("VERSION", &|r| {
        r.fields.as_ref().ok().map(|f| f.1.to_string().len())
    });
    writeln!(
        out,
        "{:key_w$}  {:>size_w$}  {:type_w$}  {:>version_w$}  AGE",
        "KEY", "SIZE", "TYPE", "VERSION"
    )?;
    for row in rows {
        let (label, size) = (&row.label, row.size);
        match &row.fields {
            Ok((ty, version, written)) => writeln!(
                out,
                "{label:key_w$}  {size:>size_w$}  {ty:type_w$}  {version:>version_w$}  {}",
                age(*written, now)
            )?,
            Err(reason) => writeln!(out, "{label:key_w$}  {size:>size_w$}  <corrupt: {reason}>")?,
        }
    }
    Ok(Outcome::Clean)
}
