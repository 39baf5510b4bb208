//! What must hold after a power cut, checked on the disk a reboot finds: the store opens,
//! every record that decodes holds the right value, every acknowledged record and removal is
//! there, and the next run re-executes exactly the tasks whose records were lost.

use super::disk::Disk;
use super::stores::Kind;
use super::workload::{self, bytes, is_large, nodes, number, version, Acknowledged, Ran};
use crate::codec::{self, Expect};
use std::collections::BTreeSet;
use std::sync::Arc;

/// What one reboot found and did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Found {
    /// Records that decoded (each to its right value).
    pub(crate) decoded: usize,
    /// Tasks the next run executed.
    pub(crate) executed: usize,
}

/// The version whose value the record of `key` holds: `Ok(None)` when it does not decode,
/// an error when it decodes to a wrong value.
pub(crate) fn decoded(key: &str, record: &[u8]) -> Result<Option<u32>, String> {
    let Ok(view) = codec::parse(record) else {
        return Ok(None);
    };
    let v = view.task_version;
    let expect = Expect {
        task_version: Some(v),
        ..Expect::default()
    };
    let right = match is_large(key) {
        true => codec::decode::<Vec<u8>>(key, record, expect).map(|value| value == bytes(key, v)),
        false => codec::decode::<u64>(key, record, expect).map(|value| value == number(key, v)),
    };
    match right {
        Err(_) => Ok(None),
        Ok(true) if v == 1 || v == version(key, 1) => Ok(Some(v)),
        Ok(_) => Err(format!(
            "the record of {key:?} decodes to a wrong value (version {v})"
        )),
    }
}

/// Reboots on `disk`, checks the store against `acked`, runs the next round and checks it.
pub(crate) fn reboot(
    kind: Kind,
    disk: &Arc<Disk>,
    acked: &Acknowledged,
    runtime: &tokio::runtime::Runtime,
) -> Result<Found, String> {
    let acknowledged_any = !acked.versions.is_empty() || !acked.removed.is_empty();
    let opened = match acknowledged_any {
        true => kind.open_existing(disk),
        false => kind.open(disk, false),
    };
    let ctx = Arc::new(opened.map_err(|e| format!("the store does not open: {e}"))?);
    let store = &*ctx.db;
    let keys: BTreeSet<String> = nodes().into_iter().map(|node| node.key).collect();
    let listed = store
        .list()
        .map_err(|e| format!("the store does not list: {e}"))?;
    if let Some(stray) = listed
        .iter()
        .find(|l| !keys.contains(&l.key) && !l.key.starts_with(crate::JOURNAL_PREFIX))
    {
        return Err(format!(
            "the store lists a key no task has: {:?}",
            stray.key
        ));
    }
    let mut found = Found::default();
    let mut restorable = BTreeSet::new();
    for key in &keys {
        let record = store
            .get(key)
            .map_err(|e| format!("the record of {key:?} cannot be read: {e}"))?;
        let held = match &record {
            Some(record) => decoded(key, record)?,
            None => None,
        };
        found.decoded += usize::from(held.is_some());
        if let Some(&v) = acked.versions.get(key) {
            if held.is_none_or(|held| held < v) {
                return Err(format!(
                    "acknowledged record lost: {key:?} (version {v}) reads as {}",
                    describe(record.as_deref(), held)
                ));
            }
        }
        if acked.removed.contains(key) && record.is_some() {
            return Err(format!("acknowledged removal lost: {key:?} is back"));
        }
        if held == Some(version(key, 1)) {
            restorable.insert(key.clone());
        }
    }
    ctx.runs()
        .map_err(|e| format!("the run journal does not read: {e}"))?;
    let mut ran = Ran::default();
    runtime
        .block_on(workload::run(&ctx, 1, &mut ran))
        .map_err(|e| format!("the next run fails: {e}"))?;
    let report = ran.report.expect("a run that returned Ok has a report");
    let executed: BTreeSet<String> = report.runs.iter().map(|r| r.key.to_string()).collect();
    let expected: BTreeSet<String> = nodes()
        .into_iter()
        .filter(|node| node.in_round(1) && !restorable.contains(&node.key))
        .map(|node| node.key)
        .collect();
    if executed != expected {
        let again: Vec<_> = executed.difference(&expected).collect();
        let missed: Vec<_> = expected.difference(&executed).collect();
        return Err(format!(
            "the next run re-executed {again:?} (restorable) and restored {missed:?} (lost)"
        ));
    }
    for node in nodes().into_iter().filter(|node| node.in_round(1)) {
        let (key, record) = (&node.key, store.get(&node.key).ok().flatten());
        if decoded(key, record.as_deref().unwrap_or_default())? != Some(version(key, 1)) {
            return Err(format!("after the next run, {key:?} holds no right record"));
        }
    }
    found.executed = executed.len();
    Ok(found)
}

/// Reboots on `disk` with power cut again at operation `cut` of the recovery (the open and
/// the next run); what was acknowledged by then.
pub(crate) fn recover_until(
    kind: Kind,
    disk: &Arc<Disk>,
    acked: &Acknowledged,
    cut: u64,
    runtime: &tokio::runtime::Runtime,
) -> Result<Acknowledged, String> {
    disk.cut_at(cut);
    let mut acked = acked.clone();
    let ctx = match kind.open(disk, false) {
        Ok(ctx) => Arc::new(ctx),
        Err(_) if disk.ops().1 => return Ok(acked),
        Err(e) => return Err(format!("the store does not open: {e}")),
    };
    let mut ran = Ran::default();
    let result = runtime.block_on(workload::run(&ctx, 1, &mut ran));
    acked.add(1, &ran);
    match result {
        Err(e) if !disk.ops().1 => Err(format!("the next run fails: {e}")),
        _ => Ok(acked),
    }
}

fn describe(record: Option<&[u8]>, held: Option<u32>) -> String {
    match (record, held) {
        (None, _) => "absent".to_owned(),
        (Some(_), Some(v)) => format!("version {v}"),
        (Some(record), None) => match codec::parse(record) {
            Ok(view) => format!(
                "a record that does not decode (version {})",
                view.task_version
            ),
            Err(why) => format!("a corrupt record ({why})"),
        },
    }
}
