//! A sweep killed mid-way: a child process sweeps a store of 800 records (600 of them
//! unused for 40 days, some large) and is SIGKILLed while it stops at a seeded
//! pseudo-random removal, its store's writer still at work. After every kill, asserted:
//! * every record that remains decodes to the value it was written with (never a torn or
//!   wrong record, in a `RedbStore` never a pointer without its file);
//! * every record the sweep must keep is there;
//! * no removal the sweep had not asked for happened, and every one it had flushed did;
//! * a sweep run again to its end removes exactly the rest.
//!
//! `DURAFLOW_SWEEP_KILLS` (default 4 per store) and `DURAFLOW_SWEEP_SEED` tune the run.

use duraflow::codec::{self, Expect};
use duraflow::Retention;
use duraflow_tests::sweep_store::{fill, kept_key, open, value_of, KEPT, SWEPT, UNUSED_FOR};
use duraflow_tests::{env_number, mix};
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};

/// A sweep makes its removals durable every this many.
const FLUSHED: usize = 256;

/// Runs the child on `path`: to its end, or SIGKILLed once it stopped at removal `stop_at`.
fn sweep_child(kind: &str, path: &Path, stop_at: Option<usize>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sweep_child"));
    command.args([kind.as_ref(), path.as_os_str()]);
    if let Some(stop_at) = stop_at {
        command.arg(stop_at.to_string());
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the child starts");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("the child's line");
    if stop_at.is_some() {
        assert_eq!(line.trim(), "stopped", "{kind}");
        child.kill().expect("SIGKILL");
        let _ = child.wait();
    } else {
        assert!(line.starts_with("swept "), "{kind}: {line}");
        assert!(child.wait().expect("the child ends").success(), "{kind}");
    }
}

/// Checks every record of the store at `path`; returns how many swept records remain.
fn check(kind: &str, path: &Path) -> usize {
    let ctx = open(kind, path).unwrap_or_else(|e| panic!("{kind}: reopens: {e}"));
    let listed = ctx.db.list().expect("lists");
    let mut remaining = 0;
    for listed in &listed {
        let key = listed.key.as_str();
        let bytes = ctx.db.get(key).expect("reads").expect("a listed record");
        if key.starts_with("__duraflow/") {
            codec::parse(&bytes).unwrap_or_else(|e| panic!("{kind}: {key}: {e}"));
            continue;
        }
        let value: Vec<u8> = codec::decode(key, &bytes, Expect::default())
            .unwrap_or_else(|miss| panic!("{kind}: {key} does not decode: {miss}"));
        assert!(value == value_of(key), "{kind}: {key} holds another value");
        assert_eq!(listed.size, bytes.len() as u64, "{kind}: {key}");
        remaining += usize::from(key.starts_with("sweep-"));
    }
    for key in (0..KEPT).map(kept_key) {
        assert!(
            listed.iter().any(|l| l.key == key),
            "{kind}: {key} was removed"
        );
    }
    remaining
}

fn fresh_store(kind: &str, dir: &Path) -> std::path::PathBuf {
    let path = match kind {
        "file" => dir.join("files"),
        _ => dir.join("store.redb"),
    };
    let ctx = open(kind, &path).expect("creates the store");
    fill(&*ctx.db);
    path
}

#[test]
fn a_sweep_killed_midway_leaves_every_remaining_record_whole() {
    let kills = env_number("DURAFLOW_SWEEP_KILLS", 4);
    let mut seed = env_number("DURAFLOW_SWEEP_SEED", 0x5eed);
    for kind in ["file", "redb"] {
        let tmp = tempfile::tempdir().unwrap();
        let path = fresh_store(kind, tmp.path());
        sweep_child(kind, &path, None);
        assert_eq!(
            check(kind, &path),
            0,
            "{kind}: a whole sweep removes them all"
        );

        for kill in 0..kills {
            let tmp = tempfile::tempdir().unwrap();
            let path = fresh_store(kind, tmp.path());
            seed = mix(seed);
            let stop_at = 1 + (seed % SWEPT as u64) as usize;
            sweep_child(kind, &path, Some(stop_at));
            let remaining = check(kind, &path);
            eprintln!("{kind} kill {kill} at removal {stop_at}: {remaining} of {SWEPT} left");
            // Removals never outrun the sweep, and the sweep flushes every 256.
            assert!(remaining > SWEPT - stop_at, "{kind}: {remaining} left");
            if stop_at > FLUSHED {
                assert!(remaining <= SWEPT - FLUSHED, "{kind}: {remaining} left");
            }
            // Run again, the sweep removes exactly the rest.
            let ctx = open(kind, &path).unwrap();
            let swept = ctx
                .sweep_with(&Retention::new().unused_for(UNUSED_FOR))
                .unwrap();
            assert_eq!(swept.count(), remaining, "{kind}");
            assert!(swept.removed.iter().all(|r| r.key.starts_with("sweep-")));
            drop(ctx);
            assert_eq!(check(kind, &path), 0, "{kind}");
        }
    }
}
