//! The process the sweep crash test kills: sweeps the test's store of the records not used
//! for 30 days. With STOP_AT, the sweep stops when it asks for that removal (the first is
//! 1), before the store has it, and the child prints `stopped` and waits to be SIGKILLed:
//! the removals queued until then are committed or not, as the store's writer got to them.
//!
//! Usage: `sweep_child file|redb STORE_PATH [STOP_AT]`. Prints `swept N` when the sweep is
//! done. Exits 3 when the store cannot be opened.

use duraflow::{Context, Retention};
use duraflow_tests::faults::{Fault, FaultyStore, Op, Target};
use duraflow_tests::sweep_store::{open, UNUSED_FOR};
use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (kind, store, stop_at) = match args.as_slice() {
        [kind, store] => (kind, store, usize::MAX),
        [kind, store, stop_at] => (kind, store, stop_at.parse().expect("STOP_AT is a number")),
        _ => {
            eprintln!("usage: sweep_child file|redb STORE_PATH [STOP_AT]");
            std::process::exit(2);
        }
    };
    let ctx = open(kind, &PathBuf::from(store)).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(3);
    });
    let stop = Target::Nth(Op::Remove, stop_at.saturating_sub(1));
    let ctx = Context::new(FaultyStore::at(ctx.db, stop, Fault::Stop));
    let swept = ctx
        .sweep_with(&Retention::new().unused_for(UNUSED_FOR))
        .expect("the sweep completes");
    println!("swept {}", swept.count());
}
