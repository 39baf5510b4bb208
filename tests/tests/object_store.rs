//! `ObjectStore` against a real S3-compatible server (moto's server mode on loopback, see
//! `duraflow_tests::s3_server`): the storage contract, hostile keys, conditional writes, a
//! local store in front, two processes sharing a cache, a server killed mid-run and a
//! corrupt object.

mod common;

use dagx::{task, DagRunner, Task};
use duraflow::{Context, DurableDag, Found, Listed, MemoryStore, Miss, RedbStore, Storage};
use duraflow_tests::s3_server::{open_bucket, S3Server, BUCKET, SECRET_KEY};
use duraflow_tests::{stored_keys, SideLog};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn flushed(store: &impl Storage) {
    store
        .flush()
        .unwrap_or_else(|failed| panic!("flush: {}", failed.source));
}

fn listed(key: &str, size: u64) -> Listed {
    Listed {
        key: key.to_owned(),
        size,
    }
}

#[test]
fn the_storage_contract_holds() -> TestResult {
    let server = S3Server::start();
    let store = server.open("contract")?;
    assert!(store.is_blocking() && !store.coordinates());
    assert!(
        store.location().contains(&server.endpoint()) && store.location().contains(BUCKET),
        "{}",
        store.location()
    );

    store.put("a", b"first".to_vec())?;
    store.put("b", b"second".to_vec())?;
    store.put("a", b"third".to_vec())?;
    // Queued writes are visible before the flush.
    assert_eq!(store.get("a")?.as_deref(), Some(&b"third"[..]));
    flushed(&store);
    store.remove("b")?;
    assert_eq!(store.get("b")?, None);
    flushed(&store);
    store.put("large", vec![7; 1000])?;
    flushed(&store);
    assert_eq!(
        store.get_many(&["a", "b", "missing", "large"], 999)?,
        [
            Found::Record(b"third".to_vec()),
            Found::Absent,
            Found::Absent,
            Found::Unread
        ],
        "a record over the limit is left unread"
    );
    let mut all = store.list()?;
    all.sort();
    assert_eq!(all, [listed("a", 5), listed("large", 1000)]);
    drop(store);

    // Durable across handles; typed records through a Context; prefixes kept apart, nested
    // ones too.
    let ctx = Context::new(server.open("contract")?);
    assert_eq!(ctx.db.get("large")?, Some(vec![7; 1000]));
    ctx.save("answer", &(42u64, "forty-two".to_owned()))?;
    drop(ctx);
    let ctx = Context::new(server.open("contract")?);
    assert_eq!(
        ctx.get::<(u64, String)>("answer"),
        Some((42, "forty-two".to_owned()))
    );
    let nested = server.open("contract/nested")?;
    nested.put("inner", b"x".to_vec())?;
    flushed(&nested);
    assert_eq!(stored_keys(&server.open("other")?), Vec::<String>::new());
    assert_eq!(stored_keys(&nested), ["inner"]);
    assert_eq!(stored_keys(&*ctx.db), ["a", "answer", "large"]);
    Ok(())
}

#[test]
fn a_large_record_goes_up_in_parts_and_reads_back_whole() -> TestResult {
    let server = S3Server::start();
    let store = server.open("large")?;
    // Over the 64 MiB from which records are uploaded in parts of 16 MiB, each part of
    // other bytes.
    let record: Vec<u8> = (0..(65 << 20) + 3)
        .map(|i: usize| (i >> 12) as u8)
        .collect();
    store.put("large", record.clone())?;
    flushed(&store);
    let store = server.open("large")?;
    assert_eq!(store.list()?, [listed("large", record.len() as u64)]);
    assert!(store.get("large")? == Some(record), "the record read back");
    Ok(())
}

#[test]
fn hostile_keys_round_trip() -> TestResult {
    let server = S3Server::start();
    let keys = common::tricky_keys();
    let ctx = Context::new(server.open("hostile")?);
    for (i, key) in keys.iter().enumerate() {
        ctx.save(key, &i)?;
    }
    drop(ctx);
    let ctx = Context::new(server.open("hostile")?);
    let listed: BTreeSet<String> = stored_keys(&*ctx.db).into_iter().collect();
    assert_eq!(listed, keys.iter().cloned().collect::<BTreeSet<_>>());
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(ctx.get::<usize>(key), Some(i), "key {key:?}");
    }
    Ok(())
}

#[test]
fn a_writer_that_loses_a_race_keeps_the_record_of_the_first() -> TestResult {
    let server = S3Server::start();
    let first = server.open("race")?;
    let second = server.open("race")?;
    // Both saw the key absent, then both store it: the second put finds it created.
    assert_eq!(first.get("k")?, None);
    assert_eq!(second.get("k")?, None);
    first.put("k", b"first".to_vec())?;
    flushed(&first);
    second.put("k", b"second".to_vec())?;
    flushed(&second);
    assert_eq!(
        server.open("race")?.get("k")?.as_deref(),
        Some(&b"first"[..])
    );

    // A handle that read the first version replaces it; one that read it too, but writes
    // after the version changed, does not.
    let third = server.open("race")?;
    assert_eq!(third.get("k")?.as_deref(), Some(&b"first"[..]));
    let fourth = server.open("race")?;
    assert_eq!(fourth.get("k")?.as_deref(), Some(&b"first"[..]));
    third.put("k", b"third".to_vec())?;
    flushed(&third);
    fourth.put("k", b"fourth".to_vec())?;
    flushed(&fourth);
    assert_eq!(
        server.open("race")?.get("k")?.as_deref(),
        Some(&b"third"[..])
    );
    Ok(())
}

#[test]
fn a_record_removed_by_another_machine_after_it_was_read_is_stored_again() -> TestResult {
    let server = S3Server::start();
    let reader = server.open("removed")?;
    reader.put("k", b"old".to_vec())?;
    flushed(&reader);
    assert_eq!(reader.get("k")?.as_deref(), Some(&b"old"[..]));
    let other = server.open("removed")?;
    other.remove("k")?;
    flushed(&other);
    reader.put("k", b"new".to_vec())?;
    flushed(&reader);
    assert_eq!(
        server.open("removed")?.get("k")?.as_deref(),
        Some(&b"new"[..])
    );
    Ok(())
}

#[test]
fn a_cached_store_reads_through_and_writes_through() -> TestResult {
    let server = S3Server::start();
    let bucket = server.open("layered")?;
    bucket.put("remote-only", b"from the bucket".to_vec())?;
    bucket.put("remote-large", vec![1; 100])?;
    flushed(&bucket);
    let store = bucket.cached(MemoryStore::new());
    // Read through: found in the bucket, copied into the local store.
    assert_eq!(store.local().get("remote-only")?, None);
    assert_eq!(
        store.get_many(&["remote-only", "nowhere", "remote-large"], 99)?,
        [
            Found::Record(b"from the bucket".to_vec()),
            Found::Absent,
            Found::Unread
        ]
    );
    assert_eq!(
        store.local().get("remote-only")?.as_deref(),
        Some(&b"from the bucket"[..])
    );
    assert_eq!(store.get("remote-large")?, Some(vec![1; 100]));
    assert_eq!(store.local().get("remote-large")?, Some(vec![1; 100]));
    // Write through: both stores hold it.
    store.put("new", b"written".to_vec())?;
    flushed(&store);
    assert_eq!(store.local().get("new")?.as_deref(), Some(&b"written"[..]));
    assert_eq!(
        server.open("layered")?.get("new")?.as_deref(),
        Some(&b"written"[..])
    );
    assert_eq!(stored_keys(&store), ["new", "remote-large", "remote-only"]);
    store.remove("new")?;
    flushed(&store);
    assert_eq!(server.open("layered")?.get("new")?, None);
    assert_eq!(store.local().get("new")?, None);
    Ok(())
}

/// Runs `s3_worker` (the crash-test DAG on a local RedbStore in front of the bucket) and
/// returns its `(executed, restored)`.
fn worker(server: &S3Server, prefix: &str, local: &Path) -> (usize, usize) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_s3_worker"))
        .args([&server.endpoint(), prefix])
        .arg(local)
        .output()
        .expect("s3_worker starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "s3_worker failed: {}\n{stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let counts = stdout
        .trim()
        .strip_prefix("done: executed ")
        .and_then(|rest| rest.split_once(", restored "))
        .unwrap_or_else(|| panic!("unexpected output {stdout:?}"));
    (counts.0.parse().unwrap(), counts.1.parse().unwrap())
}

#[tokio::test]
async fn a_second_machine_restores_everything_from_the_bucket() -> TestResult {
    let mut server = S3Server::start();
    let dirs = tempfile::tempdir()?;
    let (local_a, local_b) = (dirs.path().join("a.redb"), dirs.path().join("b.redb"));
    let (executed, restored) = worker(&server, "shared", &local_a);
    assert!(executed > 200, "{executed} executed");
    assert_eq!(restored, 0);
    // Another process with an empty local store of its own: everything from the bucket.
    assert_eq!(worker(&server, "shared", &local_b), (0, executed));

    // Its local store now holds every record: with the server gone, a run of this machine
    // reads (and, without a journal entry, writes) nothing over the network.
    server.kill();
    let bucket = open_bucket(&server.endpoint(), "shared")?;
    let ctx = Arc::new(Context::new(bucket.cached(RedbStore::open(&local_b)?)));
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx).with_journal(false);
    let handles = duraflow_tests::build(&d, &SideLog::default());
    let report = d.run(|f| drop(tokio::spawn(f))).await?;
    assert_eq!((report.executed, report.restored), (0, handles.len()));
    Ok(())
}

/// Waits `ms` milliseconds after its input, then returns `value`.
struct Slow {
    value: u64,
    ms: u64,
}

#[task]
impl Slow {
    async fn run(&self, _before: &u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(self.ms)).await;
        self.value
    }
}

/// The start of the chain.
struct Start;

#[task]
impl Start {
    async fn run(&self) -> u64 {
        0
    }
}

/// Tasks of [`slow_run`].
const SLOW_TASKS: usize = 41;

/// Runs a chain of a task `start` and 40 tasks `slow-{i}` returning `i * 7`, each `ms`
/// long, one after another.
async fn slow_run(
    ctx: Arc<Context>,
    ms: u64,
    on_progress: impl Fn(usize) + Send + Sync + 'static,
) -> Result<duraflow::RunReport, duraflow::DuraflowError> {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx).with_progress(move |_, done| on_progress(done));
    let mut previous = d.add("start", Start).depends_on(());
    for i in 0..40u64 {
        let node = d.add(&format!("slow-{i}"), Slow { value: i * 7, ms });
        previous = node.depends_on(previous);
    }
    d.run(|f| drop(tokio::spawn(f))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_run_fails_the_run_naming_key_and_endpoint() -> TestResult {
    let server = Arc::new(Mutex::new(S3Server::start_recorded()));
    let endpoint = server.lock().unwrap().endpoint();
    let ctx = Arc::new(Context::new(server.lock().unwrap().open("killed")?));
    let killer = Arc::clone(&server);
    let error = slow_run(Arc::clone(&ctx), 40, move |done| {
        if done == 10 {
            killer.lock().unwrap().kill();
        }
    })
    .await
    .expect_err("the server went away");
    let message = error.to_string();
    assert!(message.contains("slow-"), "no key in: {message}");
    assert!(message.contains(&endpoint), "no endpoint in: {message}");
    assert!(message.contains(BUCKET), "no bucket in: {message}");
    assert!(!message.contains(SECRET_KEY), "the secret in: {message}");
    drop(ctx);

    // The records committed before the kill are intact (each the right value), and the next
    // run restores them and runs only the rest.
    server.lock().unwrap().restart();
    let store = server.lock().unwrap().open("killed")?;
    let ctx = Arc::new(Context::new(store));
    let mut committed = 0;
    for i in 0..40u64 {
        if let Some(value) = ctx.get::<u64>(&format!("slow-{i}")) {
            assert_eq!(value, i * 7, "slow-{i}");
            committed += 1;
        }
    }
    assert!(committed >= 1, "no record was committed before the kill");
    let report = slow_run(Arc::clone(&ctx), 0, |_| {}).await?;
    assert_eq!(report.restored, committed + 1, "the records and start's");
    assert_eq!(report.executed, SLOW_TASKS - report.restored);
    Ok(())
}

#[tokio::test]
async fn a_corrupt_object_is_a_miss_and_is_replaced() -> TestResult {
    let server = S3Server::start();
    let store = server.open("corrupt")?;
    let name = store.object_name("slow-3");
    assert_eq!(name, "corrupt/slow-3");
    let ctx = Arc::new(Context::new(store));
    slow_run(Arc::clone(&ctx), 0, |_| {}).await?;
    // Flip one byte in the middle of one object, behind the store's back.
    let mut bytes = server.get_object(&name);
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    server.put_object(&name, &bytes);

    let fresh = Arc::new(Context::new(server.open("corrupt")?));
    assert_eq!(fresh.get::<u64>("slow-3"), None, "never a wrong value");
    let report = slow_run(Arc::clone(&fresh), 0, |_| {}).await?;
    assert_eq!(report.executed, 1);
    assert_eq!(report.runs[0].key.as_str(), "slow-3");
    assert!(
        matches!(report.runs[0].reason, Miss::Corrupt(_)),
        "{:?}",
        report.runs[0].reason
    );
    let again = Context::new(server.open("corrupt")?);
    assert_eq!(
        again.get::<u64>("slow-3"),
        Some(21),
        "the record was replaced"
    );
    Ok(())
}
