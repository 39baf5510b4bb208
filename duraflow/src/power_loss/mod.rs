//! Power-loss tests of the durable stores: `FileStore` and `RedbStore` (its database file
//! and its large records' files) run on a simulated disk ([`disk`]) that keeps what was
//! synced apart from what was only written. Two rounds of a DAG of a few hundred tasks
//! ([`workload`]) run on a fresh disk with power cut at one operation (a write, a sync or a
//! change of names); the disk a reboot finds is built under each [`Loss`] policy, and once
//! more with a second cut during the recovery. On each ([`check`]) the store must open,
//! every record that decodes must hold the right value, every record and removal
//! acknowledged before the cut (its run or `remove` returned `Ok`) must be there, and the
//! next run must re-execute exactly the tasks without a record of their version.
//!
//! `DURAFLOW_POWER_CUTS` sets how many cut points each store gets (default 40, half in each
//! round), `all` cuts at every operation; `DURAFLOW_POWER_SEED` changes the points and the
//! choices of each loss.

mod check;
mod disk;
mod loss;
mod sim;
mod stores;
mod targeted;
mod workload;

use disk::Disk;
use loss::{Loss, Rng};
use std::sync::Arc;
use stores::Kind;
use workload::{Acknowledged, Ran};

/// Cut points per store by default: the two stores take about a minute each in a debug
/// build.
const DEFAULT_CUTS: u64 = 40;

/// A second cut lands at one of the first this many operations of the recovery.
const RECOVERY_CUTS: usize = 64;

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

/// The operations to cut power at, given the operation each round of an uncut scenario
/// ended at: spread evenly over each round, or every one.
fn cut_points(round_ends: &[u64], seed: u64) -> Vec<u64> {
    let total = round_ends.last().copied().unwrap_or_default();
    let wanted = match std::env::var("DURAFLOW_POWER_CUTS").as_deref() {
        Ok("all") => u64::MAX,
        Ok(n) => n.parse().expect("DURAFLOW_POWER_CUTS is `all` or a number"),
        Err(_) => DEFAULT_CUTS,
    };
    if wanted >= total {
        // A scenario may make a few more operations than the uncut one did.
        return (1..=total + total / 10).collect();
    }
    let mut rng = Rng(seed);
    let mut points = Vec::new();
    let mut begin = 0;
    for (round, &end) in round_ends.iter().enumerate() {
        let n = wanted / round_ends.len() as u64 + u64::from(round == 0) * (wanted % 2);
        let span = (end - begin).max(1);
        let stride = (span / n.max(1)).max(1);
        points.extend(
            (0..n.min(span)).map(|i| begin + 1 + i * stride + rng.below(stride as usize) as u64),
        );
        begin = end;
    }
    points
}

/// One run of both rounds.
struct Scenario {
    disk: Arc<Disk>,
    /// What returned `Ok` before the cut.
    acked: Acknowledged,
    /// Operations made by kind ([`disk::Op`]).
    by_kind: [u64; 3],
    /// The operation each round ended at.
    round_ends: Vec<u64>,
}

/// Both rounds on a fresh disk for `kind`, power cut at operation `cut` (counted from the
/// store's first open). A `RedbStore` syncs every batch in the first round and keeps its
/// sync window in the second.
fn scenario(kind: Kind, cut: Option<u64>, runtime: &tokio::runtime::Runtime) -> Scenario {
    let disk = kind.disk();
    let start = disk.counts();
    if let Some(cut) = cut {
        disk.cut_at(cut);
    }
    let made = |disk: &Disk| -> [u64; 3] {
        let counts = disk.counts();
        std::array::from_fn(|i| counts[i] - start[i])
    };
    let mut acked = Acknowledged::default();
    let mut round_ends = Vec::new();
    for round in 0..2 {
        let Ok(ctx) = kind.open(&disk, round == 0).map(Arc::new) else {
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
        round_ends.push(made(&disk).iter().sum());
    }
    Scenario {
        by_kind: made(&disk),
        disk,
        acked,
        round_ends,
    }
}

/// What [`explore`] did.
#[derive(Debug, Default)]
struct Tally {
    /// Cut points chosen.
    planned: u64,
    /// Power cuts made.
    cuts: u64,
    /// Disks rebooted on: a cut under one loss policy.
    states: u64,
    /// States where a round had been acknowledged.
    acknowledged: u64,
    /// Records that decoded (each to its right value) over all states.
    decoded: usize,
    /// Tasks the next runs re-executed over all states.
    executed: usize,
    /// States left by a second cut, during the recovery from the first.
    twice: u64,
}

impl Tally {
    fn count(&mut self, acked: &Acknowledged, found: check::Found) {
        self.states += 1;
        self.acknowledged += u64::from(!acked.versions.is_empty());
        self.decoded += found.decoded;
        self.executed += found.executed;
    }
}

/// Cuts power at the cut points of `kind`'s scenario and checks every state each leaves.
fn explore(kind: Kind) -> Tally {
    let runtime = runtime();
    let seed = env_seed();
    // Batches differ from run to run, and so does the number of operations: the fewest of
    // three runs, so that nearly every cut point is reached.
    let uncut = (0..3)
        .map(|_| scenario(kind, None, &runtime))
        .inspect(|s| {
            assert_eq!(
                s.round_ends.len(),
                2,
                "{kind:?}: an uncut scenario completes"
            )
        })
        .min_by_key(|s| s.round_ends[1])
        .expect("three uncut scenarios");
    let points = cut_points(&uncut.round_ends, seed);
    let mut tally = Tally {
        planned: points.len() as u64,
        ..Tally::default()
    };
    let ops = uncut.round_ends[1];
    for cut in points {
        let Scenario { disk, acked, .. } = scenario(kind, Some(cut), &runtime);
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
            tally.count(&acked, found);
        }
        // Power cut again while recovering: during the open (redb's repair, the sweep of
        // large records' files) or the next run.
        let mut rng = Rng(seed ^ (cut << 8) ^ 0xff);
        let first = Arc::new(disk.after_cut(Loss::Torn, rng.next()));
        let again = 1 + rng.below(RECOVERY_CUTS) as u64;
        let found = check::recover_until(kind, &first, &acked, again, &runtime)
            .and_then(|acked| {
                let loss = Loss::EVERY[rng.below(Loss::EVERY.len())];
                let after = Arc::new(first.after_cut(loss, rng.next()));
                check::reboot(kind, &after, &acked, &runtime).map(|found| (acked, found))
            })
            .unwrap_or_else(|what| {
                panic!("{kind:?}, power cut at operation {cut} of {ops} and at operation {again} of the recovery (seed {seed}): {what}")
            });
        tally.count(&found.0, found.1);
        tally.twice += 1;
    }
    let [writes, syncs, names] = uncut.by_kind;
    eprintln!(
        "{kind:?}Store: {} power cuts of {} planned, over {ops} operations ({writes} writes, \
         {syncs} syncs, {names} changes of names; rounds end at {:?}); {} states explored \
         ({} after an acknowledged run, {} cut again while recovering); {} records decoded, \
         0 wrong values; 0 acknowledged records or removals lost; {} tasks re-executed, each \
         one without a record of its version",
        tally.cuts,
        tally.planned,
        uncut.round_ends,
        tally.states,
        tally.acknowledged,
        tally.twice,
        tally.decoded,
        tally.executed
    );
    tally
}

/// Explores `kind` and checks the cuts landed where they were planned: most cut points
/// reached, and some after a round had returned.
fn explore_and_check_coverage(kind: Kind) {
    let tally = explore(kind);
    assert!(tally.cuts >= tally.planned * 4 / 5, "{kind:?}: {tally:?}");
    assert!(tally.acknowledged > 0, "{kind:?}: {tally:?}");
}

#[test]
fn file_store_keeps_every_acknowledged_record_through_power_cuts() {
    explore_and_check_coverage(Kind::File);
}

#[cfg(feature = "redb")]
#[test]
fn redb_store_keeps_every_acknowledged_record_through_power_cuts() {
    explore_and_check_coverage(Kind::Redb);
}
