//! Power-loss tests of the durable stores: `FileStore` and `RedbStore` (its database file
//! and its large records' files) run on a simulated disk ([`disk`]) that keeps what was
//! synced apart from what was only written. Two rounds of a 288-task DAG ([`workload`]) run
//! on a fresh disk with power cut at one operation (a write or a sync); the disk a reboot
//! finds is built under each [`Loss`] policy, and on each ([`check`]) the store must open,
//! every record that decodes must hold the right value, every record and removal
//! acknowledged before the cut (its run or `remove` returned `Ok`) must be there, and the
//! next run must re-execute exactly the tasks whose records were lost.
//!
//! `DURAFLOW_POWER_CUTS` sets how many cut points each store gets (default 40, spread over
//! the runs' operations), `all` cuts at every operation; `DURAFLOW_POWER_SEED` changes the
//! points and the choices of each loss.

mod check;
mod disk;
mod sim;
mod stores;
mod targeted;
mod workload;

use disk::{Disk, Loss, Rng};
use std::sync::Arc;
use stores::Kind;
use workload::{Acknowledged, Ran};

const DEFAULT_CUTS: u64 = 40;

/// Every store kind under test.
const KINDS: &[Kind] = &[
    Kind::File,
    #[cfg(feature = "redb")]
    Kind::Redb,
];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn env_seed() -> u64 {
    std::env::var("DURAFLOW_POWER_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// The operations to cut power at, out of about `total`.
fn cut_points(total: u64, seed: u64) -> Vec<u64> {
    let wanted = match std::env::var("DURAFLOW_POWER_CUTS").as_deref() {
        Ok("all") => u64::MAX,
        Ok(n) => n.parse().expect("DURAFLOW_POWER_CUTS is `all` or a number"),
        Err(_) => DEFAULT_CUTS,
    };
    if wanted >= total {
        // A run may make a few more operations than the probe did.
        return (1..=total + total / 10).collect();
    }
    let mut rng = Rng(seed);
    (0..wanted)
        .map(|i| 1 + i * total / wanted + rng.below((total / wanted) as usize) as u64)
        .collect()
}

/// Both rounds on a fresh disk for `kind`, power cut at operation `cut` (counted from the
/// store's first open); the disk, what returned `Ok` before the cut, and the operations
/// made.
fn scenario(
    kind: Kind,
    cut: Option<u64>,
    runtime: &tokio::runtime::Runtime,
) -> (Arc<Disk>, Acknowledged, u64) {
    let disk = kind.disk();
    let start = disk.ops().0;
    if let Some(cut) = cut {
        disk.cut_at(cut);
    }
    let mut acked = Acknowledged::default();
    for round in 0..2 {
        let Ok(ctx) = kind.open(&disk).map(Arc::new) else {
            assert!(
                disk.ops().1,
                "{kind:?}: the store opens while the power is on"
            );
            break;
        };
        let mut ran = Ran::default();
        let result = runtime.block_on(workload::run(&ctx, round, &mut ran));
        acked.add(round, &ran);
        drop(ctx);
        if let Err(e) = result {
            assert!(
                disk.ops().1,
                "{kind:?}: round {round} fails with power on: {e}"
            );
            break;
        }
    }
    let ops = disk.ops().0 - start;
    (disk, acked, ops)
}

/// What [`explore`] did.
#[derive(Debug, Default)]
struct Tally {
    /// Operations of an uncut scenario.
    ops: u64,
    /// Cut points chosen.
    planned: u64,
    /// Power cuts made.
    cuts: u64,
    /// Disks rebooted on: a cut under one loss policy.
    states: u64,
    /// States where at least one round had been acknowledged.
    acknowledged: u64,
    /// Records that decoded (each to its right value) over all states.
    decoded: usize,
    /// Tasks the next runs re-executed over all states.
    executed: usize,
}

/// Cuts power at the cut points of `kind`'s scenario and checks every state each leaves.
fn explore(kind: Kind) -> Tally {
    let runtime = runtime();
    let seed = env_seed();
    // Batches differ from run to run, and so does the number of operations: the fewest of
    // three runs, so that nearly every cut point is reached.
    let ops = (0..3)
        .map(|_| {
            let (_, acked, ops) = scenario(kind, None, &runtime);
            assert!(
                acked.removed.len() == 6,
                "{kind:?}: an uncut scenario completes"
            );
            ops
        })
        .min()
        .unwrap_or_default();
    let points = cut_points(ops, seed);
    let mut tally = Tally {
        ops,
        planned: points.len() as u64,
        ..Tally::default()
    };
    for cut in points {
        let (disk, acked, _) = scenario(kind, Some(cut), &runtime);
        if !disk.ops().1 {
            continue; // this time the scenario made fewer operations
        }
        tally.cuts += 1;
        for (i, loss) in Loss::EVERY.into_iter().enumerate() {
            let choices = Rng(seed ^ (cut << 8) ^ i as u64).next();
            let after = Arc::new(disk.after_cut(loss, choices));
            let found = check::reboot(kind, &after, &acked, &runtime).unwrap_or_else(|what| {
                panic!("{kind:?}, power cut at operation {cut} of {ops}, {loss:?} (seed {seed}): {what}")
            });
            tally.states += 1;
            tally.acknowledged += u64::from(!acked.versions.is_empty());
            tally.decoded += found.decoded;
            tally.executed += found.executed;
        }
    }
    eprintln!("{kind:?}Store power loss: {tally:?}, 0 wrong values, 0 acknowledged records lost");
    tally
}

#[test]
fn file_store_keeps_every_acknowledged_record_through_power_cuts() {
    let tally = explore(Kind::File);
    assert!(
        tally.cuts >= tally.planned.min(tally.ops) * 9 / 10,
        "{tally:?}"
    );
    assert!(
        tally.acknowledged > 0,
        "some cuts come after a run returned: {tally:?}"
    );
}

#[cfg(feature = "redb")]
#[test]
fn redb_store_keeps_every_acknowledged_record_through_power_cuts() {
    let tally = explore(Kind::Redb);
    assert!(
        tally.cuts >= tally.planned.min(tally.ops) * 9 / 10,
        "{tally:?}"
    );
    assert!(
        tally.acknowledged > 0,
        "some cuts come after a run returned: {tally:?}"
    );
}
