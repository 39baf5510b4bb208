//! `PostgresStore` against a real PostgreSQL server: the storage contract, claims, and
//! several worker processes (`pg_worker`) sharing one run.
//!
//! The server comes from `DURAFLOW_PG_URL`, which `scripts/test` sets to a throwaway cluster
//! of Debian's `pg_virtualenv`. Without it these tests fail, unless `DURAFLOW_SKIP_PG=1` says
//! to skip them. The test that stops its server under a worker starts a `pg_virtualenv` of
//! its own, whatever `DURAFLOW_PG_URL` says. Every test uses namespaces of its own, so tests
//! are independent of each other and of earlier runs against the same database.

use duraflow::{Claim, Context, DuraflowError, MemoryStore, PostgresStore, Storage};
use duraflow_tests::{pg_dag, SideLog};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// How long a group of workers may take before the test gives up on them.
const WORKERS_LIMIT: Duration = Duration::from_secs(240);

/// The server URL, or `None` when the PostgreSQL tests are to be skipped.
fn server() -> Option<String> {
    if let Ok(url) = std::env::var("DURAFLOW_PG_URL") {
        return Some(url);
    }
    if std::env::var("DURAFLOW_SKIP_PG").as_deref() == Ok("1") {
        eprintln!("skipped: DURAFLOW_SKIP_PG=1 and no DURAFLOW_PG_URL");
        return None;
    }
    panic!(
        "DURAFLOW_PG_URL is not set: run the tests with `scripts/test` (a throwaway \
         PostgreSQL server for the run), set it to a server of yours, or set \
         DURAFLOW_SKIP_PG=1 to skip the PostgreSQL tests"
    );
}

/// A namespace no other test or earlier run uses.
fn namespace(test: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("t{:x}_{n}_{test}", nanos % (1 << 48))
}

/// Plain SQL on the test's own connection, to look at (and tamper with) the tables.
struct Sql {
    runtime: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

impl Sql {
    fn connect(url: &str) -> Self {
        let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
        let client = runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|e| panic!("the test connects to the server: {e:?}"));
            tokio::spawn(connection);
            client
        });
        Self { runtime, client }
    }

    fn execute(&self, sql: &str) -> u64 {
        self.runtime
            .block_on(self.client.execute(sql, &[]))
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
    }

    /// The first column of every row, as text.
    fn column(&self, sql: &str) -> Vec<String> {
        let rows = self
            .runtime
            .block_on(self.client.query(sql, &[]))
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        rows.iter().map(|row| row.get(0)).collect()
    }
}

/// The outputs every run of the 300-task DAG must give.
fn reference() -> BTreeMap<String, u64> {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    let (_, outputs) = runtime
        .block_on(pg_dag::run(ctx, &SideLog::default(), Duration::ZERO))
        .expect("the reference run succeeds");
    outputs
}

fn digest_line(outputs: &BTreeMap<String, u64>) -> String {
    format!("digest={:016x}", pg_dag::digest(outputs))
}

/// Checks that the namespace holds every task's record and each decodes to the reference.
fn assert_records_right(url: &str, namespace: &str, reference: &BTreeMap<String, u64>) {
    let ctx = Context::new(PostgresStore::connect_with(url, namespace).expect("store opens"));
    let keys: BTreeSet<String> = ctx.db.keys().expect("keys").into_iter().collect();
    assert_eq!(
        keys,
        reference.keys().cloned().collect(),
        "every task has a record"
    );
    assert_stored_values_right(&ctx, &keys, reference);
}

fn assert_stored_values_right(
    ctx: &Context,
    keys: &BTreeSet<String>,
    reference: &BTreeMap<String, u64>,
) {
    for key in keys {
        let expected = reference
            .get(key)
            .unwrap_or_else(|| panic!("{key:?} is not a task of the DAG"));
        match ctx.try_get::<u64>(key) {
            Ok(Some(value)) => assert_eq!(value, *expected, "wrong value under {key:?}"),
            other => panic!("{key:?}: expected a readable record, got {other:?}"),
        }
    }
}

/// Executions per key over side logs.
fn executions(logs: &[PathBuf]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for log in logs {
        for key in std::fs::read_to_string(log).unwrap_or_default().lines() {
            *counts.entry(key.to_owned()).or_insert(0) += 1;
        }
    }
    counts
}

/// A `pg_worker` process.
struct Worker {
    child: Child,
    stdout: BufReader<ChildStdout>,
    log: PathBuf,
}

/// A worker left behind by a failing test (one waiting for its "go" file would wait for
/// ever) is killed.
impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a finished worker said.
struct Finished {
    success: bool,
    stdout: String,
    stderr: String,
}

impl Worker {
    /// Starts a worker; it connects, prints its owner id and waits for `go` to exist.
    fn start(url: &str, namespace: &str, log: PathBuf, go: &Path, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pg_worker"))
            .args([url, namespace])
            .arg(&log)
            .env("DURAFLOW_PG_GO", go)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("pg_worker starts");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        Self { child, stdout, log }
    }

    /// The worker's owner id, once it is connected and waiting.
    fn owner(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("worker stdout");
        match line.trim().strip_prefix("ready ") {
            Some(owner) => owner.to_owned(),
            None => {
                let mut stderr = String::new();
                if let Some(mut err) = self.child.stderr.take() {
                    let _ = err.read_to_string(&mut stderr);
                }
                panic!("the worker did not get ready: {line:?} {stderr}");
            }
        }
    }

    /// Waits for the worker to exit (killing it after `limit`).
    fn finish(mut self, limit: Duration) -> Finished {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for worker") {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let (mut stdout, mut stderr) = (String::new(), String::new());
        let _ = self.stdout.read_to_string(&mut stdout);
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut stderr);
        }
        if status.is_none() {
            stderr.push_str(&format!("\n(killed: still running after {limit:?})"));
        }
        Finished {
            success: status.is_some_and(|s| s.success()),
            stdout,
            stderr,
        }
    }
}

/// Starts `count` workers on one namespace, each with its side log, all waiting on `go`.
fn start_workers(
    url: &str,
    namespace: &str,
    dir: &Path,
    count: usize,
    env: &[(&str, &str)],
) -> (Vec<Worker>, PathBuf) {
    let go = dir.join(format!("go-{namespace}"));
    let workers = (0..count)
        .map(|i| {
            let log = dir.join(format!("{namespace}-{i}.log"));
            Worker::start(url, namespace, log, &go, env)
        })
        .collect();
    (workers, go)
}

fn assert_completed(finished: &Finished, reference: &BTreeMap<String, u64>) -> usize {
    assert!(
        finished.success,
        "a worker failed: {}{}",
        finished.stdout, finished.stderr
    );
    assert!(
        finished.stdout.contains(&digest_line(reference)),
        "a worker's outputs differ from the reference: {}",
        finished.stdout
    );
    let executed = finished
        .stdout
        .split_whitespace()
        .find_map(|word| word.strip_prefix("executed="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no executed count in {:?}", finished.stdout));
    executed
}

#[test]
fn the_storage_contract_holds() -> TestResult {
    let Some(url) = server() else { return Ok(()) };
    let ns = namespace("contract");
    let store = PostgresStore::connect_with(&url, &ns)?;
    assert_eq!(store.namespace(), ns);
    assert!(store.coordinates() && store.queues_writes() && store.is_blocking());

    store.put("a", b"first".to_vec())?;
    store.put("b", b"second".to_vec())?;
    store.put("a", b"third".to_vec())?;
    // Queued writes are visible before the flush.
    assert_eq!(store.get("a")?.as_deref(), Some(&b"third"[..]));
    store.flush().expect("flushed");
    store.remove("b")?;
    assert_eq!(store.get("b")?, None);
    store.put("odd key\nwith a line break ✓", vec![0, 255, 0])?;
    assert_eq!(
        store.get_many(&["a", "b", "missing", "odd key\nwith a line break ✓"])?,
        vec![Some(b"third".to_vec()), None, None, Some(vec![0, 255, 0])]
    );
    store.flush().expect("flushed");
    assert_eq!(store.keys()?, ["a", "odd key\nwith a line break ✓"]);
    drop(store);

    // Durable across handles; typed records through a Context; namespaces kept apart.
    let ctx = Context::new(PostgresStore::connect_with(&url, &ns)?);
    assert_eq!(ctx.db.get("a")?.as_deref(), Some(&b"third"[..]));
    ctx.save("answer", &(42u64, "forty-two".to_owned()))?;
    assert_eq!(
        ctx.get::<(u64, String)>("answer"),
        Some((42, "forty-two".to_owned()))
    );
    let other = PostgresStore::connect_with(&url, &namespace("contract_other"))?;
    assert_eq!(other.keys()?, Vec::<String>::new());
    Ok(())
}

#[test]
fn a_second_worker_restores_what_the_first_stored() -> TestResult {
    let Some(url) = server() else { return Ok(()) };
    let ns = namespace("restore");
    let reference = reference();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let first = Arc::new(Context::new(PostgresStore::connect_with(&url, &ns)?));
    let (report, outputs) =
        runtime.block_on(pg_dag::run(first, &SideLog::default(), Duration::ZERO))?;
    assert_eq!((report.executed, report.restored), (pg_dag::TASKS, 0));
    assert_eq!(outputs, reference);

    let second = Arc::new(Context::new(PostgresStore::connect_with(&url, &ns)?));
    let (report, outputs) =
        runtime.block_on(pg_dag::run(second, &SideLog::default(), Duration::ZERO))?;
    assert_eq!((report.executed, report.restored), (0, pg_dag::TASKS));
    assert_eq!(outputs, reference);
    Ok(())
}

#[test]
fn a_claimed_key_waits_for_its_record_and_a_released_one_is_free() -> TestResult {
    let Some(url) = server() else { return Ok(()) };
    let ns = namespace("claims");
    let sql = Sql::connect(&url);
    let a = Arc::new(PostgresStore::connect_with(&url, &ns)?);
    let b = Arc::new(PostgresStore::connect_with(&url, &ns)?);

    assert_eq!(a.claim("task", None)?, Claim::Run);
    let owners = sql.column(&format!("SELECT owner FROM {ns}_claims WHERE key = 'task'"));
    assert_eq!(owners, [a.owner()]);
    let waiting = {
        let b = Arc::clone(&b);
        std::thread::spawn(move || b.claim("task", None))
    };
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !waiting.is_finished(),
        "b must wait while a holds the claim"
    );
    a.put("task", b"done by a".to_vec())?;
    a.flush().expect("flushed");
    let claim = waiting.join().expect("b's claim returns")?;
    assert_eq!(claim, Claim::Restore(b"done by a".to_vec()));
    // The record's transaction deleted the claim.
    assert!(sql
        .column(&format!("SELECT key FROM {ns}_claims"))
        .is_empty());
    // A key with a record needs no claim.
    assert_eq!(
        b.claim("task", None)?,
        Claim::Restore(b"done by a".to_vec())
    );

    // A released claim is free for the next worker at once.
    assert_eq!(a.claim("failed", None)?, Claim::Run);
    a.release("failed")?;
    assert_eq!(b.claim("failed", None)?, Claim::Run);
    b.release("failed")?;

    // Dropping a store gives up its claims.
    assert_eq!(a.claim("abandoned", None)?, Claim::Run);
    drop(a);
    assert_eq!(b.claim("abandoned", None)?, Claim::Run);
    Ok(())
}

/// A record a worker cannot use (written by another task version, or from other inputs)
/// counts as none: the key is claimed once and run once, and the other workers wait for the
/// new record instead of restoring the stale one or running the task too.
#[test]
fn a_stale_record_is_claimed_once_and_replaced() -> TestResult {
    let Some(url) = server() else { return Ok(()) };
    let ns = namespace("stale");
    let a = Arc::new(PostgresStore::connect_with(&url, &ns)?);
    let b = Arc::new(PostgresStore::connect_with(&url, &ns)?);
    a.put("task", b"version 1".to_vec())?;
    a.flush().expect("flushed");

    // Without `stale` the old record is restored; with it, the key is claimed.
    assert_eq!(
        b.claim("task", None)?,
        Claim::Restore(b"version 1".to_vec())
    );
    assert_eq!(a.claim("task", Some(b"version 1"))?, Claim::Run);
    let waiting = {
        let b = Arc::clone(&b);
        std::thread::spawn(move || b.claim("task", Some(b"version 1")))
    };
    std::thread::sleep(Duration::from_millis(300));
    assert!(!waiting.is_finished(), "b waits while a runs the task");
    a.put("task", b"version 2".to_vec())?;
    a.flush().expect("flushed");
    let claim = waiting.join().expect("b's claim returns")?;
    assert_eq!(claim, Claim::Restore(b"version 2".to_vec()));
    Ok(())
}

#[test]
fn an_expired_lease_is_taken_over_and_a_live_one_is_renewed() -> TestResult {
    let Some(url) = server() else { return Ok(()) };
    let ns = namespace("leases");
    let sql = Sql::connect(&url);
    // A lease long enough that a loaded machine's scheduling stalls do not outlast it.
    let store = PostgresStore::connect_with(&url, &ns)?.with_lease(Duration::from_millis(1000));
    // A worker that died holding a claim: nobody renews it. The clock starts before the
    // insert, so a stall after it cannot shorten the wait below the lease's 700 ms.
    let started = Instant::now();
    sql.execute(&format!(
        "INSERT INTO {ns}_claims VALUES ('orphan', 'dead-host/1/0', now() + interval '700 ms')"
    ));
    assert_eq!(store.claim("orphan", None)?, Claim::Run);
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "a live lease is not taken over"
    );
    let owner = sql.column(&format!(
        "SELECT owner FROM {ns}_claims WHERE key = 'orphan'"
    ));
    assert_eq!(owner, [store.owner()]);

    // The heartbeat keeps this worker's claim alive well past its 1 s lease.
    let rival = PostgresStore::connect_with(&url, &ns)?;
    let rival = std::thread::spawn(move || rival.claim("orphan", None));
    std::thread::sleep(Duration::from_millis(3000));
    assert!(!rival.is_finished(), "a renewed lease is not taken over");
    store.put("orphan", b"finished".to_vec())?;
    store.flush().expect("flushed");
    assert_eq!(
        rival.join().expect("rival returns")?,
        Claim::Restore(b"finished".to_vec())
    );
    Ok(())
}

#[test]
fn a_worker_holds_at_most_its_max_claims() -> TestResult {
    let Some(url) = server() else { return Ok(()) };
    let ns = namespace("max_claims");
    let a = Arc::new(PostgresStore::connect_with(&url, &ns)?.with_max_claims(1));
    let b = PostgresStore::connect_with(&url, &ns)?;
    assert_eq!(a.claim("first", None)?, Claim::Run);
    let second = {
        let a = Arc::clone(&a);
        std::thread::spawn(move || a.claim("second", None))
    };
    let third = {
        let a = Arc::clone(&a);
        std::thread::spawn(move || a.claim("third", None))
    };
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !second.is_finished() && !third.is_finished(),
        "no second claim while one task runs"
    );
    // Another worker's record reaches a task waiting for a slot.
    assert_eq!(b.claim("third", None)?, Claim::Run);
    b.put("third", b"by b".to_vec())?;
    b.flush().expect("flushed");
    assert_eq!(
        third.join().expect("third returns")?,
        Claim::Restore(b"by b".to_vec())
    );
    assert!(!second.is_finished(), "the slot is still taken");
    // The running task finishes: its slot goes to the waiting one.
    a.put("first", b"by a".to_vec())?;
    assert_eq!(second.join().expect("second returns")?, Claim::Run);
    Ok(())
}

#[test]
fn a_wrong_password_is_an_open_error_that_hides_it() {
    let Some(url) = server() else { return };
    let Some((before, after)) = url.split_once('@') else {
        eprintln!("skipped: the URL has no user part to put a wrong password in");
        return;
    };
    let user = before.split(':').take(2).collect::<Vec<_>>().join(":");
    let wrong = format!("{user}:not-the-password-123@{after}");
    match PostgresStore::connect(&wrong) {
        Err(error @ DuraflowError::Open { .. }) => {
            let text = error.to_string();
            assert!(!text.contains("not-the-password-123"), "{text}");
            assert!(text.contains(":***@"), "{text}");
            assert!(text.contains("password authentication failed"), "{text}");
        }
        other => panic!("expected an Open error, got {other:?}"),
    }
}

#[test]
fn three_workers_run_every_task_exactly_once() {
    let Some(url) = server() else { return };
    let ns = namespace("three");
    let reference = reference();
    let dir = tempfile::tempdir().expect("temp dir");
    // A claim limit shares the work by speed (see `with_max_claims`). At 3 ms a task and two
    // claims at a time, one worker alone needs 450 ms for the DAG, so a worker that the
    // scheduler starts a little late still gets a share.
    let env = [
        ("DURAFLOW_PG_BUSY_US", "3000"),
        ("DURAFLOW_PG_MAX_CLAIMS", "2"),
    ];
    let (mut workers, go) = start_workers(&url, &ns, dir.path(), 3, &env);
    for worker in &mut workers {
        worker.owner();
    }
    std::fs::write(&go, b"").expect("go");
    let logs: Vec<PathBuf> = workers.iter().map(|w| w.log.clone()).collect();
    let executed: Vec<usize> = workers
        .into_iter()
        .map(|w| assert_completed(&w.finish(WORKERS_LIMIT), &reference))
        .collect();

    let counts = executions(&logs);
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        twice.is_empty(),
        "{} tasks not run exactly once, e.g. {:?}",
        twice.len(),
        &twice[..twice.len().min(10)]
    );
    assert_eq!(counts.len(), pg_dag::TASKS, "every task ran");
    assert_eq!(executed.iter().sum::<usize>(), pg_dag::TASKS);
    assert!(
        executed.iter().all(|n| *n > 0),
        "the workers shared the run: {executed:?}"
    );
    assert_records_right(&url, &ns, &reference);
}

#[test]
fn a_killed_worker_s_claimed_tasks_are_taken_over() {
    let Some(url) = server() else { return };
    let ns = namespace("killed");
    let reference = reference();
    let sql = Sql::connect(&url);
    let dir = tempfile::tempdir().expect("temp dir");
    // The victim is released alone, so that it holds claims however late the scheduler lets
    // it start (released together, the other two could run all 300 tasks before it claims
    // one). Its tasks take 5 s, so that it is still inside the first ones when it is killed:
    // with 50 ms tasks, the other two once ran everything else while the victim finished
    // its few, and it completed the run (exit 0) before the kill.
    let victim_go = dir.path().join("go-victim");
    let mut victim = Worker::start(
        &url,
        &ns,
        dir.path().join("victim.log"),
        &victim_go,
        &[
            ("DURAFLOW_PG_BUSY_US", "5000000"),
            ("DURAFLOW_PG_LEASE_MS", "1000"),
        ],
    );
    let env = [
        ("DURAFLOW_PG_BUSY_US", "3000"),
        ("DURAFLOW_PG_LEASE_MS", "1000"),
    ];
    let (mut workers, go) = start_workers(&url, &ns, dir.path(), 2, &env);
    let victim_owner = victim.owner();
    for worker in &mut workers {
        worker.owner();
    }

    // A claim of the victim on a task that has no record yet.
    let orphans_sql = format!(
        "SELECT c.key FROM {ns}_claims c WHERE c.owner = '{victim_owner}' \
         AND NOT EXISTS (SELECT 1 FROM {ns}_records r WHERE r.key = c.key)"
    );
    let wait_for_orphans = |victim: &mut Worker| {
        let deadline = Instant::now() + WORKERS_LIMIT;
        while sql.column(&orphans_sql).is_empty() {
            if let Some(status) = victim.child.try_wait().expect("wait for the victim") {
                panic!("the victim exited ({status}) before it held a claim");
            }
            assert!(Instant::now() < deadline, "the victim never held a claim");
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    std::fs::write(&victim_go, b"").expect("go");
    wait_for_orphans(&mut victim);
    // The others start, find the victim's live claims and wait on them; the victim is then
    // killed while it holds one.
    std::fs::write(&go, b"").expect("go");
    std::thread::sleep(Duration::from_millis(200));
    wait_for_orphans(&mut victim);
    victim.child.kill().expect("SIGKILL");
    let victim_log = victim.log.clone();
    let killed = victim.finish(WORKERS_LIMIT);
    assert!(!killed.success, "the victim was killed mid-run");
    let orphans: BTreeSet<String> = sql.column(&orphans_sql).into_iter().collect();
    assert!(!orphans.is_empty(), "the victim died holding claims");

    let survivor_logs: Vec<PathBuf> = workers.iter().map(|w| w.log.clone()).collect();
    for worker in workers {
        assert_completed(&worker.finish(WORKERS_LIMIT), &reference);
    }
    let by_survivors = executions(&survivor_logs);
    let twice: Vec<_> = by_survivors.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "survivors ran {} tasks twice, e.g. {:?}",
        twice.len(),
        &twice[..twice.len().min(10)]
    );
    let not_taken_over: Vec<_> = orphans
        .iter()
        .filter(|key| !by_survivors.contains_key(*key))
        .collect();
    assert!(
        not_taken_over.is_empty(),
        "claims of the dead worker not taken over: {not_taken_over:?}"
    );
    let all = executions(&[survivor_logs, vec![victim_log]].concat());
    assert_eq!(all.len(), pg_dag::TASKS, "every task ran at least once");
    assert_records_right(&url, &ns, &reference);
}

/// A server of the test's own, which it can stop under a running worker: Debian's
/// `pg_virtualenv` keeps a throwaway cluster until its command, `cat`, sees its standard
/// input close (when this is dropped, or this process dies), and `pg_ctlcluster` stops and
/// starts that cluster in between.
struct PrivateCluster {
    env: Child,
    /// pg_virtualenv's output, in a file rather than a pipe: after this process died, its
    /// cleanup would write to a broken pipe, and its own signal trap would keep it from ever
    /// dropping the cluster.
    output: std::fs::File,
    /// `pg_ctlcluster` finds the cluster by version and name under this folder.
    conf_root: String,
    version: String,
    url: String,
}

impl PrivateCluster {
    /// The line of the command's output carrying the cluster's details.
    const TAG: &'static str = "private-cluster:";

    fn new() -> Self {
        let mut command = Command::new("pg_virtualenv");
        // Set by the `pg_virtualenv` of `scripts/test`, these would steer this one: PGPORT to
        // the port that server already holds.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("PG") {
                command.env_remove(key);
            }
        }
        let report = format!(
            "echo {} $PGVERSION $PG_CLUSTER_CONF_ROOT \
             postgres://$PGUSER:$PGPASSWORD@127.0.0.1:$PGPORT/$PGDATABASE; exec cat >/dev/null",
            Self::TAG
        );
        let output = tempfile::tempfile().expect("temp file");
        // As in scripts/test: the cluster's files in a temporary folder even as root, and
        // the server on loopback only.
        let mut env = command
            .args(["-t", "-o", "listen_addresses=localhost"])
            .args(["sh", "-c", &report])
            .stdin(Stdio::piped())
            .stdout(output.try_clone().expect("temp file"))
            .stderr(output.try_clone().expect("temp file"))
            .spawn()
            .expect("pg_virtualenv runs (package postgresql-common, which scripts/test installs)");
        let deadline = Instant::now() + WORKERS_LIMIT;
        let details = loop {
            let text = Self::text(&output);
            if let Some(details) = text.lines().find_map(|line| line.strip_prefix(Self::TAG)) {
                break details
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect::<Vec<_>>();
            }
            if let Some(status) = env.try_wait().expect("pg_virtualenv status") {
                panic!("pg_virtualenv started no cluster ({status}):\n{text}");
            }
            assert!(Instant::now() < deadline, "pg_virtualenv hangs:\n{text}");
            std::thread::sleep(Duration::from_millis(20));
        };
        let [version, conf_root, url] = <[String; 3]>::try_from(details)
            .unwrap_or_else(|details| panic!("unexpected pg_virtualenv output {details:?}"));
        PrivateCluster {
            env,
            output,
            conf_root,
            version,
            url,
        }
    }

    /// What `output` holds so far. Read at offsets, so as not to move the file position
    /// that pg_virtualenv writes at.
    fn text(output: &std::fs::File) -> String {
        use std::os::unix::fs::FileExt;
        let mut bytes = Vec::new();
        let mut chunk = [0; 4096];
        loop {
            let read = output
                .read_at(&mut chunk, bytes.len() as u64)
                .expect("pg_virtualenv output");
            if read == 0 {
                return String::from_utf8_lossy(&bytes).into_owned();
            }
            bytes.extend_from_slice(&chunk[..read]);
        }
    }

    /// Runs `pg_ctlcluster` on the cluster with `action`, `stop` (fast: clients are cut off)
    /// or `start` (the same port and data again).
    fn ctl(&self, action: &str) {
        let output = Command::new("pg_ctlcluster")
            .env("PG_CLUSTER_CONF_ROOT", &self.conf_root)
            .args([self.version.as_str(), "regress", action])
            .output()
            .expect("pg_ctlcluster runs");
        assert!(
            output.status.success(),
            "pg_ctlcluster {action} failed: {}\npg_virtualenv's output:\n{}",
            String::from_utf8_lossy(&output.stderr),
            Self::text(&self.output)
        );
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        // End of input ends `cat`, and pg_virtualenv drops the cluster.
        drop(self.env.stdin.take());
        let _ = self.env.wait();
    }
}

#[test]
fn a_database_that_goes_away_fails_the_run_and_keeps_finished_records() {
    if server().is_none() {
        return;
    }
    let reference = reference();
    let cluster = PrivateCluster::new();
    let url = cluster.url.clone();
    let ns = namespace("goes_away");
    let sql = Sql::connect(&url);
    let logs = tempfile::tempdir().expect("temp dir");
    let env = [("DURAFLOW_PG_BUSY_US", "5000")];
    let (mut workers, go) = start_workers(&url, &ns, logs.path(), 1, &env);
    workers[0].owner();
    std::fs::write(&go, b"").expect("go");
    let count_sql = format!("SELECT key FROM {ns}_records");
    let deadline = Instant::now() + WORKERS_LIMIT;
    while sql.column(&count_sql).len() < 50 {
        assert!(Instant::now() < deadline, "the worker stores no records");
        std::thread::sleep(Duration::from_millis(5));
    }
    let before: BTreeSet<String> = sql.column(&count_sql).into_iter().collect();
    cluster.ctl("stop");
    let worker = workers.remove(0);
    let failed = worker.finish(WORKERS_LIMIT);
    assert!(!failed.success, "the run fails: {}", failed.stdout);
    let error = failed.stderr;
    eprintln!("the worker's error: {}", error.trim());
    assert!(error.contains("run failed: could not"), "{error}");
    assert!(
        reference
            .keys()
            .any(|key| error.contains(&format!("`{key}`"))),
        "the error names a task: {error}"
    );
    let (userinfo, rest) = url
        .strip_prefix("postgres://")
        .and_then(|after| after.split_once('@'))
        .expect("a URL with user and password");
    let (user, password) = userinfo.split_once(':').expect("a URL with a password");
    assert!(
        error.contains(&format!("PostgreSQL at postgres://{user}:***@{rest}")),
        "{error}"
    );
    assert!(!error.contains(password), "{error}");

    cluster.ctl("start");
    let ctx = Context::new(PostgresStore::connect_with(&url, &ns).expect("store opens"));
    let after: BTreeSet<String> = ctx.db.keys().expect("keys").into_iter().collect();
    let lost: Vec<_> = before.difference(&after).collect();
    assert!(lost.is_empty(), "records lost with the server: {lost:?}");
    assert_stored_values_right(&ctx, &after, &reference);
    drop(ctx);

    // A new run completes, running only what was not stored.
    let second = logs.path().join("second");
    std::fs::create_dir(&second).expect("second log dir");
    let (mut workers, go) = start_workers(&url, &ns, &second, 1, &[]);
    workers[0].owner();
    std::fs::write(&go, b"").expect("go");
    let worker = workers.remove(0);
    let second_log = worker.log.clone();
    let executed = assert_completed(&worker.finish(WORKERS_LIMIT), &reference);
    assert_eq!(executed, pg_dag::TASKS - after.len());
    let rerun = executions(&[second_log]);
    let again: Vec<_> = rerun.keys().filter(|key| after.contains(*key)).collect();
    assert!(again.is_empty(), "stored tasks ran again: {again:?}");
    assert_records_right(&url, &ns, &reference);
}

/// Throughput of 1, 2 and 3 workers on this machine (`--ignored`; prints, never asserts a
/// timing). The workers inherit the environment: `DURAFLOW_PG_BUSY_US` (each task's CPU
/// time, default 2000 here), `DURAFLOW_PG_MAX_CLAIMS`, `TOKIO_WORKER_THREADS`;
/// `DURAFLOW_PG_RUNS` (default 3) runs per worker count, the median is reported.
#[test]
#[ignore = "a measurement: run it with --ignored --nocapture"]
fn throughput_of_one_two_and_three_workers() {
    let Some(url) = server() else { return };
    let reference = reference();
    let setting = |name: &str, default: &str| std::env::var(name).unwrap_or(default.to_owned());
    let busy = setting("DURAFLOW_PG_BUSY_US", "2000");
    let runs: usize = setting("DURAFLOW_PG_RUNS", "3")
        .parse()
        .expect("a number of runs");
    println!(
        "{} tasks, {busy} µs of CPU each; TOKIO_WORKER_THREADS={}, DURAFLOW_PG_MAX_CLAIMS={}",
        pg_dag::TASKS,
        setting("TOKIO_WORKER_THREADS", "(cores)"),
        setting("DURAFLOW_PG_MAX_CLAIMS", "(unlimited)"),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    for count in 1..=3 {
        let mut rates: Vec<f64> = (0..runs)
            .map(|run| {
                let ns = namespace(&format!("throughput{count}_{run}"));
                let env = [("DURAFLOW_PG_BUSY_US", busy.as_str())];
                let (mut workers, go) = start_workers(&url, &ns, dir.path(), count, &env);
                for worker in &mut workers {
                    worker.owner();
                }
                let started = Instant::now();
                std::fs::write(&go, b"").expect("go");
                let logs: Vec<PathBuf> = workers.iter().map(|w| w.log.clone()).collect();
                for worker in workers {
                    assert_completed(&worker.finish(WORKERS_LIMIT), &reference);
                }
                let seconds = started.elapsed().as_secs_f64();
                assert!(executions(&logs).values().all(|n| *n == 1));
                pg_dag::TASKS as f64 / seconds
            })
            .collect();
        rates.sort_by(f64::total_cmp);
        let shown: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
        println!(
            "{count} worker(s): median {:.0} tasks/s (runs: {})",
            rates[rates.len() / 2],
            shown.join(", ")
        );
    }
}
