//! One worker of a run shared through PostgreSQL: runs the 300-task DAG of
//! `duraflow_tests::pg_dag` against a `PostgresStore`, as every worker of the run does.
//!
//! Usage: `pg_worker URL NAMESPACE SIDE_LOG_PATH`. Environment:
//! * `DURAFLOW_PG_LEASE_MS`: claim lease (default: the store's);
//! * `DURAFLOW_PG_MAX_CLAIMS`: most claims the worker holds at once (default: unlimited);
//! * `DURAFLOW_PG_BUSY_US`: CPU time each task spins (default 0);
//! * `DURAFLOW_PG_GO`: a path; after connecting, the worker prints `ready OWNER` and waits
//!   for the file to exist, so that several workers start together.
//!
//! Prints `done executed=N restored=N seconds=S digest=HEX` and exits 0 after a complete run;
//! exits 1 when the run fails, 3 when the store cannot be opened (the error on stderr).

use duraflow::{Context, PostgresStore};
use duraflow_tests::{pg_dag, SideLog};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env_number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {value:?}")),
    )
}

fn wait_for(go: &Path) {
    while !go.exists() {
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, namespace, log] = args.as_slice() else {
        eprintln!("usage: pg_worker URL NAMESPACE SIDE_LOG_PATH");
        std::process::exit(2);
    };
    let mut store = PostgresStore::connect_with(url, namespace).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(3);
    });
    if let Some(lease) = env_number("DURAFLOW_PG_LEASE_MS") {
        store = store.with_lease(Duration::from_millis(lease));
    }
    if let Some(max) = env_number("DURAFLOW_PG_MAX_CLAIMS") {
        store = store.with_max_claims(usize::try_from(max).unwrap_or(usize::MAX));
    }
    let busy = Duration::from_micros(env_number("DURAFLOW_PG_BUSY_US").unwrap_or(0));
    let log = SideLog::append_to(&PathBuf::from(log)).expect("open side log");
    if let Ok(go) = std::env::var("DURAFLOW_PG_GO") {
        println!("ready {}", store.owner());
        std::io::stdout().flush().expect("stdout");
        wait_for(Path::new(&go));
    }
    let started = Instant::now();
    match pg_dag::run(Arc::new(Context::new(store)), &log, busy).await {
        Ok((report, outputs)) => println!(
            "done executed={} restored={} seconds={:.3} digest={:016x}",
            report.executed,
            report.restored,
            started.elapsed().as_secs_f64(),
            pg_dag::digest(&outputs)
        ),
        Err(e) => {
            eprintln!("run failed: {e}");
            std::process::exit(1);
        }
    }
}
