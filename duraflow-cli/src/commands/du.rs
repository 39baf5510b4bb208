//! `du`: records, bytes and the oldest and newest use, by key prefix.

use super::Outcome;
use crate::error::Fatal;
use crate::format::{age, now_ms, utc_iso8601};
use crate::store::Store;
use duraflow::codec;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// One group of keys.
#[derive(Default)]
struct Group {
    records: usize,
    bytes: u64,
    /// The oldest and newest use, in ms since the Unix epoch (0: unknown).
    oldest: u64,
    newest: u64,
}

impl Group {
    fn add(&mut self, size: u64, used: u64) {
        self.records += 1;
        self.bytes += size;
        if used > 0 {
            self.oldest = if self.oldest == 0 {
                used
            } else {
                self.oldest.min(used)
            };
            self.newest = self.newest.max(used);
        }
    }
}

/// The group of `key`: the key up to the first of `separators` (the whole key without one).
fn group_of<'k>(key: &'k str, separators: &str) -> &'k str {
    key.find(|c| separators.contains(c))
        .map_or(key, |at| &key[..at])
}

/// Prints the records, bytes and oldest and newest use of the store at `path`, by key
/// prefix up to the first character of `separators`, then in all. A key's use is when a
/// run last used it, or when it was written if no run has.
pub fn run(
    path: &Path,
    separators: &str,
    json: bool,
    out: &mut dyn Write,
) -> Result<Outcome, Fatal> {
    let store = Store::open_read_only(path)?;
    let last = store.context().last_used()?;
    let listed = store
        .storage()
        .list()
        .map_err(|e| Fatal::new(format!("could not list {}: {e}", path.display())))?;
    let mut groups: BTreeMap<&str, Group> = BTreeMap::new();
    let mut total = Group::default();
    for listed in &listed {
        let used = match last.get(&listed.key) {
            Some(used) => used.at_ms,
            None => store
                .get(&listed.key)?
                .and_then(|bytes| codec::parse(&bytes).ok().map(|view| view.written_at_ms))
                .unwrap_or(0),
        };
        groups
            .entry(group_of(&listed.key, separators))
            .or_default()
            .add(listed.size, used);
        total.add(listed.size, used);
    }
    if json {
        let row = |prefix: Option<&str>, g: &Group| {
            let time = |ms: u64| (ms > 0).then(|| utc_iso8601(ms));
            serde_json::json!({
                "prefix": prefix, "records": g.records, "bytes": g.bytes,
                "oldest_use": time(g.oldest), "newest_use": time(g.newest),
                "oldest_use_ms": g.oldest, "newest_use_ms": g.newest,
            })
        };
        let rows: Vec<_> = groups.iter().map(|(p, g)| row(Some(p), g)).collect();
        let json = serde_json::json!({ "groups": rows, "total": row(None, &total) });
        writeln!(out, "{json}")?;
        return Ok(Outcome::Clean);
    }
    let now = now_ms();
    let ago = |ms: u64| {
        if ms == 0 {
            "-".to_owned()
        } else {
            format!("{} ago", age(ms, now))
        }
    };
    let width = groups
        .keys()
        .map(|p| p.chars().count())
        .chain([6])
        .max()
        .unwrap_or(6);
    writeln!(
        out,
        "{:width$}  {:>8}  {:>14}  {:>10}  {:>10}",
        "PREFIX", "RECORDS", "BYTES", "OLDEST USE", "NEWEST USE"
    )?;
    for (prefix, g) in groups
        .iter()
        .map(|(p, g)| (*p, g))
        .chain([("(all)", &total)])
    {
        writeln!(
            out,
            "{prefix:width$}  {:>8}  {:>14}  {:>10}  {:>10}",
            g.records,
            g.bytes,
            ago(g.oldest),
            ago(g.newest)
        )?;
    }
    if listed.is_empty() {
        eprintln!("no records in {}", store.path().display());
    }
    Ok(Outcome::Clean)
}

#[cfg(test)]
mod tests {
    use super::group_of;

    #[test]
    fn a_group_is_the_key_up_to_the_first_separator() {
        assert_eq!(group_of("load-5", "-/"), "load");
        assert_eq!(group_of("a/b-c", "-/"), "a");
        assert_eq!(group_of("plain", "-/"), "plain");
        assert_eq!(group_of("x.y.z", "."), "x");
        assert_eq!(group_of("__duraflow/runs", "-/"), "__duraflow");
    }
}
