//! `rm KEY|GLOB... [--prefix PREFIX]... [--dry-run]`: remove records.

use super::{no_record, Outcome};
use crate::error::Fatal;
use crate::format::{plural, printable_key};
use crate::keys::Pattern;
use crate::store::Store;
use duraflow::{DuraflowError, Listed};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// Removes from the store at `path` the record of each key in `args` (or, for an argument
/// that names no key and holds `*`, `?` or `[`, of every key the glob matches) and of every
/// key starting with one of `prefixes`, durably; with `dry_run`, only lists them. An
/// argument that matches no record is a problem. Prefixes and globs leave duraflow's own
/// keys alone unless they start with `__duraflow/`.
pub fn run(
    path: &Path,
    args: &[String],
    prefixes: &[String],
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<Outcome, Fatal> {
    let store = if dry_run {
        Store::open_read_only(path)?
    } else {
        Store::open(path)?
    };
    let listed: BTreeMap<String, u64> = store
        .storage()
        .list()
        .map_err(|e| Fatal::new(format!("could not list {}: {e}", path.display())))?
        .into_iter()
        .map(|Listed { key, size }| (key, size))
        .collect();
    for arg in args {
        duraflow::validate_key(arg).map_err(|reason| DuraflowError::InvalidKey {
            key: arg.chars().take(200).collect(),
            reason,
        })?;
    }
    let mut patterns = args
        .iter()
        .map(|arg| Pattern::removal(arg, |key| listed.contains_key(key)))
        .collect::<Result<Vec<_>, _>>()?;
    patterns.extend(prefixes.iter().map(|p| Pattern::Prefix(p.clone())));
    let mut outcome = Outcome::Clean;
    let mut chosen = BTreeMap::new();
    for pattern in &patterns {
        let mut matched = false;
        for (key, size) in listed.iter().filter(|(key, _)| pattern.matches(key)) {
            matched = true;
            chosen.insert(key.as_str(), *size);
        }
        if !matched {
            outcome = match pattern {
                Pattern::Exact(key) => no_record(&store, key),
                other => {
                    eprintln!("error: no key matches `{}`", printable_key(other.as_str()));
                    Outcome::Problems
                }
            };
        }
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    if !dry_run {
        store.remove(&chosen.keys().copied().collect::<Vec<_>>())?;
    }
    for (key, size) in &chosen {
        writeln!(out, "{verb} {} ({size} bytes)", printable_key(key))?;
    }
    if chosen.len() > 1 {
        let bytes: u64 = chosen.values().sum();
        writeln!(
            out,
            "{verb} {}, {bytes} bytes",
            plural(chosen.len(), "record")
        )?;
    }
    Ok(outcome)
}
