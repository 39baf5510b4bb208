//! Retention on every store: expiry by ttl, the last-used entries runs leave, and sweeps by
//! run, by age, by size cap and by expiry, which never touch a run in progress or
//! duraflow's own keys. (The PostgreSQL case needs `DURAFLOW_PG_URL`, see postgres.rs; a
//! sweep killed mid-way is in sweep_crash.rs.)

mod common;

use common::{Load, Mul};
use dagx::{task, DagRunner, Task, TaskHandle};
use duraflow::codec::{self, Stamp};
use duraflow::{
    durable, Context, DurableDag, DuraflowError, FileStore, MemoryStore, Miss, Outcome,
    PostgresStore, RedbStore, Retention, RunReport, Storage, TaskOptions, Why,
};
use duraflow_tests::faults::{Fault, FaultyStore, Op, Target};
use duraflow_tests::pg_workers::{namespace, server};
use duraflow_tests::sweep_store::written_at;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

/// Keeps its records for an hour.
struct Fresh(i32);

#[durable(key = "fresh-{0}", ttl = "1h")]
impl Fresh {
    async fn run(&self) -> i32 {
        self.0
    }
}

/// Waits for its gate, then returns 1.
struct Gate(Arc<tokio::sync::Notify>);

#[task]
impl Gate {
    async fn run(&self) -> i32 {
        self.0.notified().await;
        1
    }
}

#[derive(Clone)]
enum Kind {
    Memory,
    File,
    Redb,
    Postgres(String),
}

/// The store's kind only (a URL may hold a password).
impl std::fmt::Debug for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Memory => "Memory",
            Kind::File => "File",
            Kind::Redb => "Redb",
            Kind::Postgres(_) => "Postgres",
        })
    }
}

impl Kind {
    fn context(&self, tmp: &tempfile::TempDir) -> Arc<Context> {
        Arc::new(match self {
            Kind::Memory => Context::new(MemoryStore::new()),
            Kind::File => Context::new(FileStore::new(tmp.path().join("files")).unwrap()),
            Kind::Redb => Context::new(RedbStore::open(tmp.path().join("store.redb")).unwrap()),
            Kind::Postgres(url) => {
                Context::new(PostgresStore::connect_with(url, &namespace("retention")).unwrap())
            }
        })
    }
}

const LOCAL: [Kind; 3] = [Kind::Memory, Kind::File, Kind::Redb];

/// Held by each test: a sweep keeps every key that a run of the process is using, in any
/// store, so the tests' runs and sweeps (which use the same keys) take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// `record` as if written `age` ago: its write time changed, its checksum recomputed.
fn aged(record: Vec<u8>, age: Duration) -> Vec<u8> {
    assert_eq!(codec::parse(&record).unwrap().format_version, 3);
    let written = now_ms() - age.as_millis() as u64;
    let record = written_at(record, written);
    assert_eq!(codec::parse(&record).unwrap().written_at_ms, written);
    record
}

/// Stores `value` under `key` as if it had been written `age` ago, by no run.
fn save_aged(ctx: &Context, key: &str, value: &i32, age: Duration) {
    let record = codec::encode(key, value, Stamp::default()).unwrap();
    ctx.db.put(key, aged(record, age)).unwrap();
    ctx.db.flush().unwrap();
}

fn spawn(f: futures::future::BoxFuture<'static, ()>) {
    tokio::spawn(f);
}

/// Runs `load-1` → `mul-2` (and `fresh-7`, with a ttl of an hour).
async fn run(ctx: &Arc<Context>) -> Result<RunReport, DuraflowError> {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let load: TaskHandle<i32> = d.add("load-1", Load(1)).into();
    d.add("mul-2", Mul(2)).depends_on(load);
    d.task(Fresh(7));
    d.run(spawn).await
}

fn removed_keys(swept: &duraflow::Swept) -> Vec<&str> {
    let mut keys: Vec<&str> = swept.removed.iter().map(|r| r.key.as_str()).collect();
    keys.sort();
    keys
}

fn size_of(ctx: &Context, key: &str) -> u64 {
    let listed = ctx.db.list().unwrap();
    listed.iter().find(|l| l.key == key).unwrap().size
}

async fn a_record_older_than_its_ttl_runs_again(kind: &Kind) {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = kind.context(&tmp);
    save_aged(&ctx, "fresh-7", &70, 2 * HOUR);
    let report = run(&ctx).await.unwrap();
    let fresh = report.runs.iter().find(|r| r.key == "fresh-7").unwrap();
    assert!(
        matches!(fresh.reason, Miss::Expired { ttl, .. } if ttl == HOUR),
        "{kind:?}: {:?}",
        fresh.reason
    );
    assert_eq!(ctx.get::<i32>("fresh-7"), Some(7), "{kind:?}: replaced");
    // A record younger than the ttl is restored; without a ttl, any age is.
    save_aged(&ctx, "load-1", &1, 300 * DAY);
    let again = run(&ctx).await.unwrap();
    assert_eq!((again.executed, again.restored), (0, 3), "{kind:?}");

    // The builder's way: the same ttl through TaskOptions.
    save_aged(&ctx, "fresh-8", &80, 2 * HOUR);
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    d.task_with(Fresh(8), TaskOptions::DEFAULT.ttl(3 * HOUR));
    assert_eq!(d.run(spawn).await.unwrap().restored, 1, "{kind:?}");
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let fresh = d.task_with(Fresh(8), TaskOptions::DEFAULT.ttl(HOUR));
    let report = d.run(spawn).await.unwrap();
    assert_eq!(report.executed, 1, "{kind:?}");
    assert_eq!(dag.get(fresh).unwrap(), 8);
}

async fn each_run_records_the_keys_it_used(kind: &Kind) {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = kind.context(&tmp);
    ctx.save("saved", &1).unwrap();
    let before = now_ms();
    run(&ctx).await.unwrap();
    let first = ctx.last_used().unwrap();
    let keys: Vec<&str> = first.keys().map(String::as_str).collect();
    assert_eq!(keys, ["fresh-7", "load-1", "mul-2"], "{kind:?}");
    assert!(first["load-1"].at_ms >= before, "{kind:?}");
    assert_eq!(first["fresh-7"].ttl, Some(HOUR), "{kind:?}");
    assert_eq!(first["load-1"].ttl, None, "{kind:?}");

    // Restored keys count as used; many runs keep one answer per key.
    for _ in 0..20 {
        assert_eq!(run(&ctx).await.unwrap().restored, 3);
    }
    let later = ctx.last_used().unwrap();
    assert_eq!(later.len(), 3, "{kind:?}");
    assert!(later["mul-2"].at_ms >= first["mul-2"].at_ms, "{kind:?}");
    let entries = ctx
        .db
        .list()
        .unwrap()
        .into_iter()
        .filter(|l| l.key.starts_with("__duraflow/used/"))
        .count();
    assert!(
        entries <= 17,
        "{kind:?}: entries are folded, {entries} kept"
    );

    // A run without a journal leaves nothing but its records.
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone()).with_journal(false);
    d.add("quiet", Load(5));
    d.run(spawn).await.unwrap();
    assert!(!ctx.last_used().unwrap().contains_key("quiet"), "{kind:?}");
}

async fn a_sweep_removes_what_the_run_did_not_use(kind: &Kind) {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = kind.context(&tmp);
    ctx.save("left-over", &1).unwrap();
    ctx.save("older", &vec![7u8; 100]).unwrap();
    run(&ctx).await.unwrap();
    let report = run(&ctx).await.unwrap();
    let expected_bytes = size_of(&ctx, "left-over") + size_of(&ctx, "older");
    let swept = ctx.sweep(&report).unwrap();
    assert_eq!(removed_keys(&swept), ["left-over", "older"], "{kind:?}");
    assert_eq!(
        (swept.count(), swept.bytes()),
        (2, expected_bytes),
        "{kind:?}"
    );
    assert!(swept.removed.iter().all(|r| r.why == Why::NotUsedByRun));
    assert_eq!(ctx.get::<i32>("left-over"), None, "{kind:?}");
    // The journal and the DAG's records stay: the next run restores everything.
    assert_eq!(ctx.runs().unwrap().len(), 2, "{kind:?}");
    assert_eq!(run(&ctx).await.unwrap().restored, 3, "{kind:?}");
    assert_eq!(ctx.sweep(&report).unwrap().count(), 0, "{kind:?}");
}

async fn policies_remove_the_unused_the_least_recently_used_and_the_expired(kind: &Kind) {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = kind.context(&tmp);
    save_aged(&ctx, "old", &1, 40 * DAY);
    save_aged(&ctx, "mid", &2, 10 * DAY);
    save_aged(&ctx, "new", &3, Duration::from_secs(60));
    let by_age = Retention::new().unused_for(30 * DAY);

    let dry = ctx.sweep_with(&by_age.clone().dry_run()).unwrap();
    assert_eq!(removed_keys(&dry), ["old"], "{kind:?}");
    assert_eq!(dry.removed[0].why, Why::Unused);
    assert_eq!(
        ctx.get::<i32>("old"),
        Some(1),
        "{kind:?}: a dry run removes nothing"
    );
    assert_eq!(removed_keys(&ctx.sweep_with(&by_age).unwrap()), ["old"]);
    assert_eq!(ctx.get::<i32>("old"), None, "{kind:?}");

    // Least recently used first, until the cap holds.
    let size = size_of(&ctx, "new");
    let capped = ctx.sweep_with(&Retention::new().max_size(size)).unwrap();
    assert_eq!(removed_keys(&capped), ["mid"], "{kind:?}");
    assert_eq!(capped.removed[0].why, Why::OverSize);
    assert_eq!(ctx.get::<i32>("new"), Some(3), "{kind:?}");

    // A run's use makes an old record recent: the run's keys outlive `new`.
    save_aged(&ctx, "load-1", &1, 40 * DAY);
    run(&ctx).await.unwrap();
    let dag_bytes: u64 = ["load-1", "mul-2", "fresh-7"]
        .iter()
        .map(|key| size_of(&ctx, key))
        .sum();
    let capped = ctx
        .sweep_with(&Retention::new().max_size(dag_bytes))
        .unwrap();
    assert_eq!(removed_keys(&capped), ["new"], "{kind:?}");

    // Expired: older than the ttl the last run had for it; a record without one stays.
    let fresh = ctx.db.get("fresh-7").unwrap().unwrap();
    ctx.db.put("fresh-7", aged(fresh, 2 * HOUR)).unwrap();
    save_aged(&ctx, "plain", &4, 400 * DAY);
    let expired = ctx.sweep_with(&Retention::new().expired()).unwrap();
    assert_eq!(removed_keys(&expired), ["fresh-7"], "{kind:?}");
    assert_eq!(expired.removed[0].why, Why::Expired);
    assert_eq!(ctx.get::<i32>("plain"), Some(4), "{kind:?}");
    // Journal and last-used entries are never swept, whatever the cap.
    ctx.sweep_with(&Retention::new().max_size(0)).unwrap();
    assert_eq!(ctx.runs().unwrap().len(), 1, "{kind:?}");
    let left: Vec<String> = ctx.db.list().unwrap().into_iter().map(|l| l.key).collect();
    assert!(
        left.iter().all(|k| k.starts_with("__duraflow/")),
        "{left:?}"
    );
}

/// `a` and `gate` in `dag`, and a receiver told when `gate` starts.
fn gated<'a>(
    ctx: &Arc<Context>,
    dag: &'a DagRunner,
    gate: &Arc<tokio::sync::Notify>,
) -> (DurableDag<'a>, tokio::sync::oneshot::Receiver<()>) {
    let (started, at_gate) = tokio::sync::oneshot::channel::<()>();
    let started = std::sync::Mutex::new(Some(started));
    let d = DurableDag::new(dag, ctx.clone()).with_events(move |event| {
        if let duraflow::Event::Started { key: "gate" } = event {
            if let Some(started) = started.lock().unwrap().take() {
                let _ = started.send(());
            }
        }
    });
    d.add("a", Load(1));
    d.add("gate", Gate(gate.clone()));
    (d, at_gate)
}

async fn a_sweep_keeps_the_records_of_a_run_in_progress(kind: &Kind) {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = kind.context(&tmp);
    let gate = Arc::new(tokio::sync::Notify::new());
    gate.notify_one();
    let dag = DagRunner::new();
    gated(&ctx, &dag, &gate).0.run(spawn).await.unwrap();
    ctx.save("other", &1).unwrap();

    let dag = DagRunner::new();
    let (d, at_gate) = gated(&ctx, &dag, &gate);
    let d = d.refresh(["gate"]);
    let sweeping = async {
        at_gate.await.unwrap();
        let sweeper = ctx.clone();
        let swept =
            tokio::task::spawn_blocking(move || sweeper.sweep_with(&Retention::new().max_size(0)))
                .await
                .unwrap()
                .unwrap();
        gate.notify_one();
        swept
    };
    let (report, swept) = tokio::join!(d.run(spawn), sweeping);
    assert_eq!(report.unwrap().tasks.len(), 2);
    assert_eq!(removed_keys(&swept), ["other"], "{kind:?}");
    assert_eq!(
        swept.kept_in_use, 0,
        "{kind:?}: in use keys are not even selected"
    );
    assert_eq!(ctx.get::<i32>("a"), Some(1), "{kind:?}");
    // Once the run has ended, its records are like any other.
    let swept = ctx.sweep_with(&Retention::new().max_size(0)).unwrap();
    assert_eq!(removed_keys(&swept), ["a", "gate"], "{kind:?}");
}

async fn every_rule(kind: Kind) {
    a_record_older_than_its_ttl_runs_again(&kind).await;
    each_run_records_the_keys_it_used(&kind).await;
    a_sweep_removes_what_the_run_did_not_use(&kind).await;
    policies_remove_the_unused_the_least_recently_used_and_the_expired(&kind).await;
    a_sweep_keeps_the_records_of_a_run_in_progress(&kind).await;
}

/// Runs every rule on `kind`, on a runtime of its own.
fn every_rule_on(kind: Kind) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(every_rule(kind));
}

#[test]
fn every_rule_on_memory_file_and_redb_stores() {
    let _turn = one_at_a_time();
    for kind in LOCAL {
        every_rule_on(kind);
    }
}

#[test]
fn every_rule_on_a_postgres_store() {
    let Some(url) = server() else { return };
    let _turn = one_at_a_time();
    every_rule_on(Kind::Postgres(url));
}

#[test]
fn a_run_with_a_ttl_task_reports_the_expiry() {
    let _turn = one_at_a_time();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    save_aged(&ctx, "fresh-7", &70, 2 * HOUR);
    let report = runtime.block_on(run(&ctx)).unwrap();
    let span = report.tasks.iter().find(|t| t.key == "fresh-7").unwrap();
    assert_eq!(span.outcome, Outcome::Executed);
    let reason = report.runs.iter().find(|r| r.key == "fresh-7").unwrap();
    let text = reason.reason.to_string();
    assert!(text.starts_with("expired: written at "), "{text}");
    assert!(text.ends_with("older than the ttl of 1h"), "{text}");
}

/// Worker A recomputes `k` (its old record is stale to A) and holds the claim; worker B's
/// task waits to restore A's record. A sweep on a third worker that would remove `k` waits
/// for A, and keeps the record B restores; a key nobody claims is removed.
#[test]
fn a_sweep_on_postgres_keeps_the_record_another_worker_s_claimed_task_stores() {
    let Some(url) = server() else { return };
    let _turn = one_at_a_time();
    let ns = namespace("sweep_claims");
    let worker = || Arc::new(PostgresStore::connect_with(&url, &ns).unwrap());
    let (a, b) = (worker(), worker());
    let old = codec::encode("k", &1i32, Stamp::default()).unwrap();
    a.put("k", old.clone()).unwrap();
    a.put(
        "idle",
        codec::encode("idle", &2i32, Stamp::default()).unwrap(),
    )
    .unwrap();
    a.flush().unwrap();
    assert_eq!(a.claim("k", Some(&old)).unwrap(), duraflow::Claim::Run);

    let b_restores = {
        let (b, old) = (b.clone(), old.clone());
        std::thread::spawn(move || b.claim("k", Some(&old)))
    };
    // A wrapper that faults nothing: its log says when the sweeper asks for claims.
    let spy = Arc::new(FaultyStore::at(
        Arc::new(PostgresStore::connect_with(&url, &ns).unwrap()),
        Target::Nth(Op::Claim, usize::MAX),
        Fault::Delay(Duration::ZERO),
    ));
    let sweeper = {
        let spy = spy.clone();
        std::thread::spawn(move || {
            Context::new(spy).sweep_with(&Retention::unused_by(&RunReport::default()))
        })
    };
    // The sweeper has read `k`'s old record and asks for the claim A holds (after `idle`'s).
    while spy.log().iter().filter(|op| **op == Op::Claim).count() < 2 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let new = codec::encode("k", &10i32, Stamp::default()).unwrap();
    a.put("k", new.clone()).unwrap();
    a.flush().unwrap();

    let swept = sweeper.join().unwrap().unwrap();
    assert_eq!(removed_keys(&swept), ["idle"]);
    assert_eq!(swept.kept_in_use, 1);
    assert_eq!(
        b_restores.join().unwrap().unwrap(),
        duraflow::Claim::Restore(new.clone())
    );
    assert_eq!(a.get("k").unwrap(), Some(new));
    assert_eq!(a.get("idle").unwrap(), None);
}
