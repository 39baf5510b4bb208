//! Support for the PostgreSQL tests: the server they use, `pg_worker` processes and what
//! they report, and a private server a test can stop under a running worker.

use crate::{pg_dag, SideLog};
use duraflow::{Context, MemoryStore, PostgresStore};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a group of workers may take before the test gives up on them.
pub const WORKERS_LIMIT: Duration = Duration::from_secs(240);

/// The server URL, or `None` when the PostgreSQL tests are to be skipped.
pub fn server() -> Option<String> {
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
pub fn namespace(test: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("t{:x}_{n}_{test}", nanos % (1 << 48))
}

/// The outputs every run of the 300-task DAG must give.
pub fn reference() -> BTreeMap<String, u64> {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    let (_, outputs) = runtime
        .block_on(pg_dag::run(ctx, &SideLog::default(), Duration::ZERO))
        .expect("the reference run succeeds");
    outputs
}

/// The word by which a worker reports its outputs.
pub fn digest_line(outputs: &BTreeMap<String, u64>) -> String {
    format!("digest={:016x}", pg_dag::digest(outputs))
}

/// Checks that the namespace holds every task's record and each decodes to the reference.
pub fn assert_records_right(url: &str, namespace: &str, reference: &BTreeMap<String, u64>) {
    let ctx = Context::new(PostgresStore::connect_with(url, namespace).expect("store opens"));
    // The workers' run journal entries are records too: they must read back, but are no
    // task's.
    ctx.runs().expect("the run journal reads back");
    let keys: BTreeSet<String> = crate::stored_keys(&*ctx.db)
        .into_iter()
        .filter(|key| !key.starts_with(duraflow::JOURNAL_PREFIX))
        .collect();
    assert_eq!(
        keys,
        reference.keys().cloned().collect(),
        "every task has a record"
    );
    assert_stored_values_right(&ctx, &keys, reference);
}

/// Checks that each of `keys` holds a record that decodes to its reference value.
pub fn assert_stored_values_right(
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
pub fn executions(logs: &[PathBuf]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for log in logs {
        for key in std::fs::read_to_string(log).unwrap_or_default().lines() {
            *counts.entry(key.to_owned()).or_insert(0) += 1;
        }
    }
    counts
}

/// A `pg_worker` process.
pub struct Worker {
    /// The process.
    pub child: Child,
    stdout: BufReader<ChildStdout>,
    /// Its side log.
    pub log: PathBuf,
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
pub struct Finished {
    /// Whether it exited with status 0.
    pub success: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error, and a note if it had to be killed.
    pub stderr: String,
}

impl Worker {
    /// Starts a worker (`exe`: the `pg_worker` binary); it connects, prints its owner id and waits for `go` to exist.
    pub fn start(
        exe: &Path,
        url: &str,
        namespace: &str,
        log: PathBuf,
        go: &Path,
        env: &[(&str, &str)],
    ) -> Self {
        let mut child = Command::new(exe)
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
    pub fn owner(&mut self) -> String {
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
    pub fn finish(mut self, limit: Duration) -> Finished {
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
pub fn start_workers(
    exe: &Path,
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
            Worker::start(exe, url, namespace, log, &go, env)
        })
        .collect();
    (workers, go)
}

/// Checks that a worker completed the run with the reference outputs; returns how many
/// tasks it executed.
pub fn assert_completed(finished: &Finished, reference: &BTreeMap<String, u64>) -> usize {
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

/// A server of the test's own, which it can stop under a running worker: Debian's
/// `pg_virtualenv` keeps a throwaway cluster until its command, `cat`, sees its standard
/// input close (when this is dropped, or this process dies), and `pg_ctlcluster` stops and
/// starts that cluster in between.
pub struct PrivateCluster {
    env: Child,
    /// pg_virtualenv's output, in a file rather than a pipe: after this process died, its
    /// cleanup would write to a broken pipe, and its own signal trap would keep it from ever
    /// dropping the cluster.
    output: File,
    /// `pg_ctlcluster` finds the cluster by version and name under this folder.
    conf_root: String,
    version: String,
    /// The cluster's URL.
    pub url: String,
}

impl PrivateCluster {
    /// The line of the command's output carrying the cluster's details.
    const TAG: &'static str = "private-cluster:";

    /// Starts the server; it is dropped with this value.
    pub fn start() -> Self {
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
        let output = unnamed_file();
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
    fn text(output: &File) -> String {
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
    pub fn ctl(&self, action: &str) {
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

/// Runs the DAG with 1, 2 and 3 `pg_worker`s (`exe`) on `url` and prints their throughput,
/// the median of some runs. The workers inherit the environment: `DURAFLOW_PG_BUSY_US`
/// (each task's CPU time, default 2000 here), `DURAFLOW_PG_MAX_CLAIMS`,
/// `TOKIO_WORKER_THREADS`; `DURAFLOW_PG_RUNS` (default 3) runs per worker count.
pub fn print_throughput(exe: &Path, url: &str) {
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
    let dir = std::env::temp_dir().join(format!("duraflow-throughput-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a folder for the side logs");
    for count in 1..=3 {
        let mut rates: Vec<f64> = (0..runs)
            .map(|run| {
                let ns = namespace(&format!("throughput{count}_{run}"));
                let env = [("DURAFLOW_PG_BUSY_US", busy.as_str())];
                let (mut workers, go) = start_workers(exe, url, &ns, &dir, count, &env);
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
    let _ = std::fs::remove_dir_all(&dir);
}

/// A new file open for reading and writing, already unlinked: it goes away with its last
/// handle, whatever happens to this process.
fn unnamed_file() -> File {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    let path =
        std::env::temp_dir().join(format!("duraflow-pg-output-{}-{nanos}", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .expect("a temp file");
    std::fs::remove_file(&path).expect("the temp file is removed");
    file
}
