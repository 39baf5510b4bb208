//! Crash test: a child process runs a 232-task DAG against a real store and is SIGKILLed at
//! seeded pseudo-random instants of its run (after it says the run begins); after every kill
//! the store is checked and the DAG is run again, until it completes.
//!
//! Asserted after every kill and at the end:
//! * most kills landed mid-run: the run had executed tasks and had not finished;
//! * every record in the store decodes to the value of a reference run (never a wrong value,
//!   never an unreadable record, never a key that is not in the DAG);
//! * records never disappear;
//! * a task whose record was durable before a kill is not executed again (side log);
//! * the completed run's outputs equal the reference.
//!
//! `DURAFLOW_CRASH_KILLS` (default 100 per store) and `DURAFLOW_CRASH_SEED` tune the run.

use duraflow::{Context, DuraflowError, FileStore, MemoryStore, RedbStore};
use duraflow_tests::env_number;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Kills on one store before starting over with an empty one.
const KILLS_PER_STORE: usize = 5;

fn reference() -> BTreeMap<String, u64> {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    let (_, outputs) = runtime
        .block_on(duraflow_tests::run(
            ctx,
            &duraflow_tests::SideLog::default(),
        ))
        .expect("the reference run succeeds");
    outputs
}

fn child(kind: &str, store: &Path, log: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_crash_child"));
    command
        .args([kind.as_ref(), store.as_os_str(), log.as_os_str()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Starts the child and returns once it says its run begins.
fn start_child(kind: &str, store: &Path, log: &Path) -> std::process::Child {
    use std::io::BufRead;
    let mut process = child(kind, store, log).spawn().expect("child starts");
    let mut stdout = std::io::BufReader::new(process.stdout.take().expect("piped stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("the child's first line");
    assert_eq!(line.trim(), "running", "the child starts its run");
    // The rest is read to its end, so the child never writes into a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    process
}

/// Opens the store as the next run would find it, without creating it.
fn open(kind: &str, store: &Path) -> Option<Context> {
    let opened = match kind {
        "file" => FileStore::open_existing(store).map(Context::new),
        _ => RedbStore::open_existing(store).map(Context::new),
    };
    match opened {
        Ok(ctx) => Some(ctx),
        // Killed before the store existed (or before redb finished creating it).
        Err(DuraflowError::NotAStore { .. }) => None,
        Err(e) => panic!(
            "the store at {} cannot be opened after a kill: {e}",
            store.display()
        ),
    }
}

/// Checks every record against the reference and returns the keys stored.
fn durable_keys(kind: &str, store: &Path, reference: &BTreeMap<String, u64>) -> BTreeSet<String> {
    let Some(ctx) = open(kind, store) else {
        return BTreeSet::new();
    };
    // The run journal's entries are records too: they must read back, but are no task's.
    ctx.runs().expect("the journal reads back after a kill");
    let keys: BTreeSet<String> = duraflow_tests::stored_keys(&*ctx.db)
        .into_iter()
        .filter(|key| !key.starts_with(duraflow::JOURNAL_PREFIX))
        .collect();
    for key in &keys {
        let expected = reference
            .get(key)
            .unwrap_or_else(|| panic!("the store holds {key:?}, which is not a task of the DAG"));
        match ctx.try_get::<u64>(key) {
            Ok(Some(value)) => assert_eq!(value, *expected, "wrong value under {key:?}"),
            Ok(None) => panic!("{key:?} is listed but has no record"),
            Err(e) => panic!("unreadable record after a kill: {e}"),
        }
    }
    keys
}

/// Keys the latest run executed: the side log after its last `--- run` marker.
fn executed_in_last_run(log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let last = text.rsplit("--- run\n").next().unwrap_or_default();
    last.lines().map(str::to_owned).collect()
}

fn start_run(log: &Path) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("side log");
    file.write_all(b"--- run\n").expect("side log marker");
}

fn assert_not_re_executed(log: &Path, durable: &BTreeSet<String>) {
    let again: Vec<String> = executed_in_last_run(log)
        .into_iter()
        .filter(|key| durable.contains(key))
        .collect();
    assert!(again.is_empty(), "durable tasks executed again: {again:?}");
}

/// SplitMix64 stream for the kill instants.
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_add(1);
        duraflow_tests::mix(self.0) % bound.max(1)
    }
}

fn crash_cycle(kind: &str) {
    let reference = reference();
    let kills = env_number("DURAFLOW_CRASH_KILLS", 100) as usize;
    let mut rng = Rng(env_number("DURAFLOW_CRASH_SEED", 0x5eed));
    let dir = tempfile::tempdir().expect("temp dir");
    let store_path = |n: usize| dir.path().join(format!("store-{n}.{kind}"));

    // Calibrate the kill window on complete fresh runs, from the start of the run.
    let window_us = (0..3)
        .map(|n| {
            let mut process = start_child(
                kind,
                &dir.path().join(format!("calibrate-{n}.{kind}")),
                &dir.path().join("log-0"),
            );
            let started = Instant::now();
            let status = process.wait().expect("child runs");
            assert!(status.success(), "a complete run succeeds");
            started.elapsed().as_micros() as u64
        })
        .min()
        .unwrap_or(1_000)
        .max(1_000);

    let (mut kills_done, mut finished_early, mut mid_run, mut stores) = (0, 0, 0, 0);
    while kills_done < kills {
        stores += 1;
        let store = store_path(stores);
        let log = dir.path().join(format!("log-{stores}"));
        let mut durable = BTreeSet::new();
        for _ in 0..KILLS_PER_STORE.min(kills - kills_done) {
            start_run(&log);
            let mut process = start_child(kind, &store, &log);
            // Resumed runs have less left to do: shrink the window with the work left.
            let left = (reference.len() - durable.len() + 20) as u64;
            let window = window_us * left / (reference.len() as u64 + 20);
            std::thread::sleep(Duration::from_micros(rng.below(window)));
            let _ = process.kill();
            let status = process.wait().expect("child is reaped");
            if status.success() {
                finished_early += 1;
            } else if !executed_in_last_run(&log).is_empty() {
                mid_run += 1;
            }
            kills_done += 1;
            assert_not_re_executed(&log, &durable);
            let now = durable_keys(kind, &store, &reference);
            let lost: Vec<_> = durable.difference(&now).collect();
            assert!(lost.is_empty(), "records disappeared: {lost:?}");
            durable = now;
        }
        start_run(&log);
        let output = child(kind, &store, &log).output().expect("child runs");
        assert!(
            output.status.success(),
            "the resumed run completes: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_not_re_executed(&log, &durable);
        let all = durable_keys(kind, &store, &reference);
        assert_eq!(
            all.len(),
            reference.len(),
            "every task has a record at the end"
        );
    }
    eprintln!(
        "{kind}: {kills_done} kills over {stores} stores ({mid_run} mid-run, {finished_early} \
         runs finished before their kill), kill window {window_us} µs, every record right"
    );
    assert!(
        mid_run * 2 > kills_done,
        "most kills must land mid-run: {mid_run} of {kills_done} did"
    );
}

#[test]
fn file_store_survives_sigkill_at_random_points() {
    crash_cycle("file");
}

#[test]
fn redb_store_survives_sigkill_at_random_points() {
    crash_cycle("redb");
}
