//! `PostgresStore` against a real PostgreSQL server: the storage contract, claims, and
//! several worker processes (`pg_worker`) sharing one run.
//!
//! The server comes from `DURAFLOW_PG_URL`, which `scripts/test` sets to a throwaway cluster
//! of Debian's `pg_virtualenv`. Without it these tests fail, unless `DURAFLOW_SKIP_PG=1` says
//! to skip them. The test that stops its server under a worker starts a `pg_virtualenv` of
//! its own, whatever `DURAFLOW_PG_URL` says. Every test uses namespaces of its own, so tests
//! are independent of each other and of earlier runs against the same database.

use duraflow::{Claim, Context, DuraflowError, Found, Listed, PostgresStore, Storage};
use duraflow_tests::pg_workers::{
    assert_completed, assert_records_right, assert_stored_values_right, executions, namespace,
    reference, server, start_workers, PrivateCluster, Worker, WORKERS_LIMIT,
};
use duraflow_tests::{pg_dag, SideLog};
use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The worker processes' program.
fn pg_worker() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_pg_worker"))
}

/// `store.claim(key, stale)` on a thread of its own.
fn claim_aside(
    store: &Arc<PostgresStore>,
    key: &'static str,
    stale: Option<&'static [u8]>,
) -> JoinHandle<io::Result<Claim>> {
    let store = Arc::clone(store);
    std::thread::spawn(move || store.claim(key, stale))
}

/// Stores `record` under `key` and waits until it is committed.
fn store_now(store: &PostgresStore, key: &str, record: &[u8]) -> io::Result<()> {
    store.put(key, record.to_vec())?;
    store.flush().map_err(|failed| failed.source)
}

type TestResult = Result<(), Box<dyn std::error::Error>>;

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

#[test]
fn the_storage_contract_holds() -> TestResult {
    let Some(url) = server() else { return Ok(()) };
    let ns = namespace("contract");
    let store = PostgresStore::connect_with(&url, &ns)?;
    assert_eq!(store.namespace(), ns);
    assert!(store.coordinates() && store.is_blocking());

    store.put("a", b"first".to_vec())?;
    store.put("b", b"second".to_vec())?;
    store.put("a", b"third".to_vec())?;
    // Queued writes are visible before the flush.
    assert_eq!(store.get("a")?.as_deref(), Some(&b"third"[..]));
    store.flush().expect("flushed");
    store.remove("b")?;
    assert_eq!(store.get("b")?, None);
    store.put("odd key\nwith a line break ✓", vec![0, 255, 0])?;
    let keys = ["a", "b", "missing", "odd key\nwith a line break ✓"];
    let odd = Found::Record(vec![0, 255, 0]);
    let expected = [
        Found::Record(b"third".to_vec()),
        Found::Absent,
        Found::Absent,
        odd.clone(),
    ];
    assert_eq!(store.get_many(&keys, u64::MAX)?, expected);
    store.flush().expect("flushed");
    // From the table now; a record over the limit is left unread.
    assert_eq!(store.get_many(&keys, u64::MAX)?, expected);
    let limited = [Found::Unread, Found::Absent, Found::Absent, odd];
    assert_eq!(store.get_many(&keys, 4)?, limited);
    let listed = store.list()?;
    assert_eq!(
        listed,
        [
            Listed {
                key: "a".into(),
                size: 5
            },
            Listed {
                key: "odd key\nwith a line break ✓".into(),
                size: 3
            }
        ]
    );
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
    assert_eq!(other.list()?, []);
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
    let waiting = claim_aside(&b, "task", None);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !waiting.is_finished(),
        "b must wait while a holds the claim"
    );
    store_now(&a, "task", b"done by a")?;
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
    store_now(&a, "task", b"version 1")?;

    // Without `stale` the old record is restored; with it, the key is claimed.
    assert_eq!(
        b.claim("task", None)?,
        Claim::Restore(b"version 1".to_vec())
    );
    assert_eq!(a.claim("task", Some(b"version 1"))?, Claim::Run);
    let waiting = claim_aside(&b, "task", Some(b"version 1"));
    std::thread::sleep(Duration::from_millis(300));
    assert!(!waiting.is_finished(), "b waits while a runs the task");
    store_now(&a, "task", b"version 2")?;
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
    store_now(&store, "orphan", b"finished")?;
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
    let (second, third) = (
        claim_aside(&a, "second", None),
        claim_aside(&a, "third", None),
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !second.is_finished() && !third.is_finished(),
        "no second claim while one task runs"
    );
    // Another worker's record reaches a task waiting for a slot.
    assert_eq!(b.claim("third", None)?, Claim::Run);
    store_now(&b, "third", b"by b")?;
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
    let (mut workers, go) = start_workers(pg_worker(), &url, &ns, dir.path(), 3, &env);
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
    // one). Its tasks take 5 s, so that it is still inside the first ones when it is killed,
    // however fast the other two run the rest: with short tasks it could finish its share and
    // complete the run before the kill.
    let victim_go = dir.path().join("go-victim");
    let mut victim = Worker::start(
        pg_worker(),
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
    let (mut workers, go) = start_workers(pg_worker(), &url, &ns, dir.path(), 2, &env);
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

#[test]
fn a_database_that_goes_away_fails_the_run_and_keeps_finished_records() {
    if server().is_none() {
        return;
    }
    let reference = reference();
    let cluster = PrivateCluster::start();
    let url = cluster.url.clone();
    let ns = namespace("goes_away");
    let sql = Sql::connect(&url);
    let logs = tempfile::tempdir().expect("temp dir");
    let env = [("DURAFLOW_PG_BUSY_US", "5000")];
    let (mut workers, go) = start_workers(pg_worker(), &url, &ns, logs.path(), 1, &env);
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
    let after: BTreeSet<String> = duraflow_tests::stored_keys(&*ctx.db).into_iter().collect();
    let lost: Vec<_> = before.difference(&after).collect();
    assert!(lost.is_empty(), "records lost with the server: {lost:?}");
    assert_stored_values_right(&ctx, &after, &reference);
    drop(ctx);

    // A new run completes, running only what was not stored.
    let second = logs.path().join("second");
    std::fs::create_dir(&second).expect("second log dir");
    let (mut workers, go) = start_workers(pg_worker(), &url, &ns, &second, 1, &[]);
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
/// timing; see [`duraflow_tests::pg_workers::print_throughput`] for its settings).
#[test]
#[ignore = "a measurement: run it with --ignored --nocapture"]
fn throughput_of_one_two_and_three_workers() {
    if let Some(url) = server() {
        duraflow_tests::pg_workers::print_throughput(pg_worker(), &url);
    }
}
