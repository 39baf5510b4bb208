//! One machine of the shared-cache test: runs the crash-test DAG against a local RedbStore
//! in front of a bucket.
//!
//! Usage: `s3_worker ENDPOINT PREFIX LOCAL_STORE`. Prints `done: executed N, restored M`
//! after a complete run; exits 1 when the run fails, 3 when a store cannot be opened (the
//! error on stderr).

use duraflow::{Context, RedbStore};
use duraflow_tests::{s3_server, SideLog};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, prefix, local] = args.as_slice() else {
        eprintln!("usage: s3_worker ENDPOINT PREFIX LOCAL_STORE");
        std::process::exit(2);
    };
    let opened = RedbStore::open(local).and_then(|local| {
        s3_server::open_bucket(endpoint, prefix).map(|bucket| bucket.cached(local))
    });
    let store = opened.unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(3);
    });
    duraflow_tests::run_in_child(Context::new(store), &SideLog::default()).await;
}
