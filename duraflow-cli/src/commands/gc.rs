//! `gc`: sweep records by a retention policy, and remove temp files left by writers that
//! crashed.

use super::Outcome;
use crate::error::Fatal;
use crate::format::{plural, printable_key, utc_iso8601};
use crate::store::Store;
use duraflow::{Retention, Swept};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// What `gc` removes.
pub struct Options {
    /// Also temp files of processes still running.
    pub force: bool,
    /// Records not used for this long.
    pub unused_for: Option<Duration>,
    /// The least recently used records until the records take at most this many bytes.
    pub max_size: Option<u64>,
    /// Records older than their task's ttl.
    pub expired: bool,
    /// Nothing: list what would go.
    pub dry_run: bool,
    /// JSON instead of lines.
    pub json: bool,
}

impl Options {
    fn retention(&self) -> Option<Retention> {
        if self.unused_for.is_none() && self.max_size.is_none() && !self.expired {
            return None;
        }
        let mut policy = Retention::new();
        if let Some(age) = self.unused_for {
            policy = policy.unused_for(age);
        }
        if let Some(bytes) = self.max_size {
            policy = policy.max_size(bytes);
        }
        if self.expired {
            policy = policy.expired();
        }
        if self.dry_run {
            policy = policy.dry_run();
        }
        Some(policy)
    }
}

/// Sweeps the store at `path` by the policy in `options` (nothing without one), then
/// removes the temp files of a `FileStore` whose writers are no longer running (with
/// `force`, those of running processes too). A dry run removes nothing and opens the store
/// read-only, so it works while a process holds it.
pub fn run(path: &Path, options: &Options, out: &mut dyn Write) -> Result<Outcome, Fatal> {
    let store = match options.dry_run {
        true => Store::open_read_only(path)?,
        false => Store::open(path)?,
    };
    let swept = match options.retention() {
        Some(policy) => Some(store.context().sweep_with(&policy)?),
        None => None,
    };
    if options.json {
        write_json(swept.as_ref(), options.dry_run, out)?;
    } else if let Some(swept) = &swept {
        write_swept(swept, options.dry_run, out)?;
    }
    if options.dry_run {
        if !options.json {
            writeln!(out, "temp files are not looked at in a dry run")?;
        }
        return Ok(Outcome::Clean);
    }
    let files = match &store {
        Store::File(files) => files,
        Store::Redb(_) | Store::RedbReader(_) => {
            if !options.json && swept.is_none() {
                writeln!(out, "nothing to collect: a RedbStore keeps no temp files")?;
            }
            return Ok(Outcome::Clean);
        }
    };
    let (removed, kept) = files.remove_temp_files(options.force).map_err(|e| {
        Fatal::new(format!(
            "could not remove temp files in {}: {e}",
            path.display()
        ))
    })?;
    if options.json {
        return Ok(Outcome::Clean);
    }
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

fn write_swept(swept: &Swept, dry_run: bool, out: &mut dyn Write) -> Result<(), Fatal> {
    let verb = if dry_run { "would remove" } else { "removed" };
    for removed in &swept.removed {
        let used = match removed.last_used_ms {
            0 => "never".to_owned(),
            ms => utc_iso8601(ms),
        };
        writeln!(
            out,
            "{verb} {} ({} bytes, {}, last used {used})",
            printable_key(&removed.key),
            removed.size,
            removed.why
        )?;
    }
    writeln!(
        out,
        "{verb} {}, {} bytes",
        plural(swept.count(), "record"),
        swept.bytes()
    )?;
    if swept.kept_in_use > 0 {
        writeln!(
            out,
            "kept {} in use by a running task",
            plural(swept.kept_in_use, "record")
        )?;
    }
    Ok(())
}

fn write_json(swept: Option<&Swept>, dry_run: bool, out: &mut dyn Write) -> Result<(), Fatal> {
    let empty = Swept::default();
    let swept = swept.unwrap_or(&empty);
    let removed: Vec<_> = swept
        .removed
        .iter()
        .map(|r| {
            serde_json::json!({
                "key": r.key, "size": r.size, "why": r.why.as_str(),
                "last_used": (r.last_used_ms > 0).then(|| utc_iso8601(r.last_used_ms)),
                "last_used_ms": r.last_used_ms,
            })
        })
        .collect();
    let json = serde_json::json!({
        "dry_run": dry_run, "records": swept.count(), "bytes": swept.bytes(),
        "kept_in_use": swept.kept_in_use, "removed": removed,
    });
    writeln!(out, "{json}")?;
    Ok(())
}
