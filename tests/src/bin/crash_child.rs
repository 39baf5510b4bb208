//! The process the crash tests SIGKILL: runs the crash-test DAG against a store.
//!
//! Usage: `crash_child file|redb STORE_PATH SIDE_LOG_PATH`. Prints `running` when the run
//! begins. Exits 0 after a complete run, 1 when the run fails, 3 when the store cannot be
//! opened (the error on stderr).

use duraflow::{Context, FileStore, RedbStore};
use duraflow_tests::SideLog;
use std::path::PathBuf;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kind, store, log] = args.as_slice() else {
        eprintln!("usage: crash_child file|redb STORE_PATH SIDE_LOG_PATH");
        std::process::exit(2);
    };
    let store = PathBuf::from(store);
    let opened = match kind.as_str() {
        "file" => FileStore::new(&store).map(Context::new),
        "redb" => RedbStore::open(&store).map(Context::new),
        other => panic!("unknown store kind {other}"),
    };
    let ctx = opened.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(3);
    });
    let log = SideLog::append_to(&PathBuf::from(log)).expect("open side log");
    // Tells the test the run begins: it kills the process at a random instant after this.
    println!("running");
    duraflow_tests::run_in_child(ctx, &log).await;
}
