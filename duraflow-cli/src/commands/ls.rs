//! `ls`: one line per record.

use super::Outcome;
use crate::error::Fatal;
use crate::format::{age, now_ms};
use crate::store::Store;
use std::io::Write;
use std::path::Path;

/// One line of the listing.
struct Row {
    label: String,
    size: usize,
    /// Type, version and age, or why the record is corrupt.
    fields: Result<[String; 3], String>,
}

/// Lists every record of the store at `path`: key, size in bytes, stored type, task version
/// and age. A record that fails its checks is listed as `<corrupt: reason>`.
pub fn run(path: &Path, out: &mut dyn Write) -> Result<Outcome, Fatal> {
    let store = Store::open(path)?;
    let now = now_ms();
    let mut rows = Vec::new();
    store.for_each_record(|item, bytes, record| {
        rows.push(Row {
            label: item.label(),
            size: bytes.len(),
            fields: record.map(|view| {
                [
                    view.type_name.to_owned(),
                    view.task_version.to_string(),
                    age(view.written_at_ms, now),
                ]
            }),
        });
        Ok(())
    })?;
    if rows.is_empty() {
        eprintln!("no records in {}", store.path().display());
        return Ok(Outcome::Clean);
    }
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
        r.fields.as_ref().ok().map(|f| f[0].chars().count())
    });
    let version_w = width("VERSION", &|r| r.fields.as_ref().ok().map(|f| f[1].len()));
    writeln!(
        out,
        "{:key_w$}  {:>size_w$}  {:type_w$}  {:>version_w$}  AGE",
        "KEY", "SIZE", "TYPE", "VERSION"
    )?;
    for row in &rows {
        let (label, size) = (&row.label, row.size);
        match &row.fields {
            Ok([ty, version, age]) => writeln!(
                out,
                "{label:key_w$}  {size:>size_w$}  {ty:type_w$}  {version:>version_w$}  {age}"
            )?,
            Err(reason) => writeln!(out, "{label:key_w$}  {size:>size_w$}  <corrupt: {reason}>")?,
        }
    }
    Ok(Outcome::Clean)
}
