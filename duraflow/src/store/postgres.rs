//! `PostgresStore`: records in PostgreSQL, with per-task claims so that several worker
//! processes, on any machines, share one run and run each task once.
//!
//! Writes go through the same group-commit queue as the other durable stores
//! ([`super::write_behind`]): one transaction per batch, reads see queued writes, `flush`
//! waits for them. The connections live on a thread of the store's own (see `session`).

mod batch;
mod session;
mod sql;
mod waiting;

use self::batch::Write;
use self::session::{SessionThread, Settings};
use super::write_behind::{Backend, Op, WriteBehind};
use super::{Claim, FailedWrite, Found, Listed, Storage};
use crate::DuraflowError;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Records in a PostgreSQL database, shared by worker processes that run the same DAG.
///
/// Each worker opens the store on the same database and runs the same DAG definition; every
/// task runs once across them. Before running a task a worker *claims* its key: a row with
/// the worker's id and a lease expiry. A worker that finds a key claimed by another waits
/// for the record (woken by `LISTEN`/`NOTIFY`, or polling up to every 100 ms) and restores
/// it. The lease (default [`PostgresStore::DEFAULT_LEASE`]) is renewed every third of it
/// while the task runs, so long tasks keep their claims; the claim of a worker that died
/// lapses and another worker takes the task over. The transaction that stores a record
/// deletes its claim, so a key is never seen unclaimed and unrecorded in between.
///
/// *Exactly once* holds while workers live: a task whose worker dies after the task's side
/// effects but before its record is committed runs again elsewhere (at-least-once there).
///
/// Tables, created on first use: `{namespace}_records (key, record, created_at,
/// updated_at)` and `{namespace}_claims (key, owner, expires_at)`; the namespace defaults to
/// `duraflow`. Connections are unencrypted (`NoTls`): keep the database on loopback or a
/// private network.
///
/// ```no_run
/// # fn main() -> Result<(), duraflow::DuraflowError> {
/// use duraflow::{Context, PostgresStore};
/// use std::time::Duration;
///
/// // Every worker, on any machine, points at the same database:
/// let store = PostgresStore::connect("postgres://duraflow:secret@db.internal/duraflow")?
///     .with_lease(Duration::from_secs(30));
/// let ctx = Context::new(store);
/// ctx.save("answer", &42u64)?;
/// assert_eq!(ctx.get::<u64>("answer"), Some(42));
/// # Ok(()) }
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub struct PostgresStore {
    // Dropped first: the queue commits what is left through the session.
    queue: WriteBehind<Records>,
    session: Arc<SessionThread>,
    target: String,
    namespace: String,
    owner: String,
    lease_ms: Arc<AtomicU64>,
    max_claims: Arc<AtomicUsize>,
}

/// The committed side of the queue: every call is a request to the session thread.
struct Records {
    session: Arc<SessionThread>,
}

impl PostgresStore {
    /// The namespace of [`PostgresStore::connect`]: tables `duraflow_records` and
    /// `duraflow_claims`.
    pub const DEFAULT_NAMESPACE: &'static str = "duraflow";

    /// How long a claim lasts unless its worker renews it.
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

    /// The longest record this store takes, in bytes: 1000 MiB, as PostgreSQL keeps at most
    /// 1 GiB in one value. Storing a longer one fails with [`DuraflowError::Persist`] naming
    /// the key; keep outputs that large in a [`FileStore`](crate::FileStore) or
    /// [`RedbStore`](crate::RedbStore), or split them across several tasks.
    pub const MAX_RECORD: u64 = batch::MAX_RECORD;

    /// Connects to the database at `url` (`postgres://user:password@host:port/database`, or
    /// the `key=value` form), creating the tables of the default namespace if needed.
    ///
    /// A connection failure is [`DuraflowError::Open`] naming the URL, its password hidden.
    ///
    /// ```no_run
    /// let store = duraflow::PostgresStore::connect("postgres://duraflow@localhost/duraflow")?;
    /// # Ok::<(), duraflow::DuraflowError>(())
    /// ```
    pub fn connect(url: &str) -> Result<Self, DuraflowError> {
        Self::connect_with(url, Self::DEFAULT_NAMESPACE)
    }

    /// Like [`PostgresStore::connect`], with tables `{namespace}_records` and
    /// `{namespace}_claims`: several independent stores in one database. A namespace is
    /// lowercase ASCII letters, digits and `_`, starting with a letter or `_`, at most 55
    /// characters.
    ///
    /// ```no_run
    /// let nightly = duraflow::PostgresStore::connect_with("postgres://localhost/etl", "nightly")?;
    /// assert_eq!(nightly.namespace(), "nightly");
    /// # Ok::<(), duraflow::DuraflowError>(())
    /// ```
    pub fn connect_with(url: &str, namespace: &str) -> Result<Self, DuraflowError> {
        let target = redact(url);
        let open_error = |source: io::Error| DuraflowError::Open {
            path: PathBuf::from(&target),
            source,
        };
        check_namespace(namespace).map_err(open_error)?;
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| open_error(io::Error::new(io::ErrorKind::InvalidInput, describe(&e))))?;
        let owner = worker_id();
        // Unless the URL says otherwise: an unreachable server fails a connection attempt
        // after 10 s, and a query on a connection whose server vanished (no reset, e.g. a
        // network partition) after 30 s unacknowledged, instead of the OS's many minutes.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_tcp_user_timeout().is_none() {
            config.tcp_user_timeout(Duration::from_secs(30));
        }
        if config.get_application_name().is_none() {
            // Shows which worker a connection belongs to in `pg_stat_activity`.
            config.application_name(format!("duraflow {owner}"));
        }
        let lease_ms = Arc::new(AtomicU64::new(millis(Self::DEFAULT_LEASE)));
        let max_claims = Arc::new(AtomicUsize::new(usize::MAX));
        let session = Arc::new(
            SessionThread::start(Settings {
                config,
                target: target.clone(),
                namespace: namespace.to_owned(),
                owner: owner.clone(),
                lease_ms: Arc::clone(&lease_ms),
                max_claims: Arc::clone(&max_claims),
            })
            .map_err(open_error)?,
        );
        session
            .call(|session| session.open())
            .and_then(|opened| opened)
            .map_err(open_error)?;
        let records = Records {
            session: Arc::clone(&session),
        };
        let queue = WriteBehind::new(records, "duraflow-postgres", None).map_err(open_error)?;
        Ok(Self {
            queue,
            session,
            target,
            namespace: namespace.to_owned(),
            owner,
            lease_ms,
            max_claims,
        })
    }

    /// Sets how long a claim lasts without renewal (at least 100 ms): a dead worker's tasks
    /// are taken over that long after it stopped. Renewal runs every third of it.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// let store = duraflow::PostgresStore::connect("postgres://localhost/duraflow")?
    ///     .with_lease(Duration::from_secs(2));
    /// assert_eq!(store.lease(), Duration::from_secs(2));
    /// # Ok::<(), duraflow::DuraflowError>(())
    /// ```
    pub fn with_lease(self, lease: Duration) -> Self {
        let lease = lease.max(Duration::from_millis(100));
        self.lease_ms.store(millis(lease), Ordering::Relaxed);
        self
    }

    /// Limits how many tasks this worker holds claims on at once (at least 1; unlimited by
    /// default). A task beyond the limit waits, watching for another worker's record, until
    /// one of this worker's tasks is stored or released, and only then tries to claim.
    ///
    /// Without a limit, the first worker to reach a layer of the DAG claims all of it, even
    /// what it cannot start yet, and the others wait. For CPU-bound tasks set it to about
    /// the number of tasks a worker runs in parallel (its tokio worker threads), so work is
    /// shared by speed; leave it unlimited for tasks that mostly wait (I/O), which one
    /// worker runs all at once anyway.
    ///
    /// ```no_run
    /// let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    /// let store = duraflow::PostgresStore::connect("postgres://localhost/duraflow")?
    ///     .with_max_claims(cores);
    /// assert_eq!(store.max_claims(), cores);
    /// # Ok::<(), duraflow::DuraflowError>(())
    /// ```
    pub fn with_max_claims(self, max: usize) -> Self {
        self.max_claims.store(max.max(1), Ordering::Relaxed);
        self
    }

    /// How many claims this worker holds at most (`usize::MAX`: unlimited).
    pub fn max_claims(&self) -> usize {
        self.max_claims.load(Ordering::Relaxed)
    }

    /// How long a claim lasts without renewal.
    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms.load(Ordering::Relaxed))
    }

    /// The database URL, its password replaced by `***`.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Compresses the payload of every record stored from now on with zstd at `level` (1 to
    /// 22; 3 is zstd's default), on the thread that stores it. Records say in their header
    /// whether they are compressed, so every reader decodes both kinds; a payload that does
    /// not shrink is stored as it is. Off by default.
    pub fn with_compression(self, level: i32) -> Self {
        self.queue.set_compression(Some(level));
        self
    }

    /// The table-name prefix of this store.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// This worker's id (`host/pid/random`), the `owner` of its claims.
    pub fn owner(&self) -> &str {
        &self.owner
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("target", &self.target)
            .field("namespace", &self.namespace)
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

/// Reads see the records still queued; `put` and `remove` only queue, for the store's
/// writer thread, and `flush` waits for it. Claims are requests to the session thread.
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
impl Storage for PostgresStore {
    fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        self.queue.get(key)
    }

    fn get_many(&self, keys: &[&str], limit: u64) -> io::Result<Vec<Found>> {
        self.queue.get_many(keys, limit)
    }

    /// The task is done: its claim slot is free (see `with_max_claims`), though the claim
    /// lasts until the record is committed. A record over [`PostgresStore::MAX_RECORD`] is
    /// refused.
    fn put(&self, key: &str, record: Vec<u8>) -> io::Result<()> {
        batch::check_record(key, record.len())?;
        self.queue.push(key, Some(record));
        let key = key.to_owned();
        self.session.tell(move |session| session.task_done(&key));
        Ok(())
    }

    fn remove(&self, key: &str) -> io::Result<()> {
        self.queue.push(key, None);
        Ok(())
    }

    fn flush(&self) -> Result<(), FailedWrite> {
        self.queue.flush()
    }

    fn list(&self) -> io::Result<Vec<Listed>> {
        self.queue.list()
    }

    fn coordinates(&self) -> bool {
        true
    }

    fn claim(&self, key: &str, stale: Option<&[u8]>) -> io::Result<Claim> {
        let key = key.to_owned();
        let stale = stale.map(<[u8]>::to_vec);
        self.session.call(|session| session.claim(key, stale))?
    }

    fn release(&self, key: &str) -> io::Result<()> {
        let key = key.to_owned();
        self.session.call(|session| session.release(key))?
    }
}

impl Backend for Records {
    fn read(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        match self.read_many(&[key], u64::MAX)?.pop() {
            Some(Found::Record(record)) => Ok(Some(record)),
            _ => Ok(None),
        }
    }

    /// One query for all keys.
    fn read_many(&self, keys: &[&str], limit: u64) -> io::Result<Vec<Found>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = keys.iter().map(|key| (*key).to_owned()).collect();
        self.session
            .call(move |session| session.read(keys, limit))?
    }

    /// Every batch is a transaction the server makes durable (no durability window).
    fn commit(&self, batch: &[Op<'_>]) -> Result<(), FailedWrite> {
        if batch.is_empty() {
            return Ok(());
        }
        let writes: Vec<Write> = batch
            .iter()
            .map(|op| (op.key.to_owned(), op.record.map(<[u8]>::to_vec)))
            .collect();
        let first = batch.first().map(|op| op.key.to_owned());
        self.session
            .call(|session| session.commit(writes))
            .unwrap_or_else(|source| {
                Err(FailedWrite {
                    key: first.unwrap_or_default(),
                    source,
                })
            })
    }

    fn list(&self) -> io::Result<Vec<Listed>> {
        self.session.call(|session| session.list())?
    }
}

/// A tokio-postgres error with its causes: its own `Display` says only "db error" for a
/// server error.
fn describe(error: &tokio_postgres::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Table names are spliced into SQL, so the namespace is restricted to what needs no quoting
/// (and fits PostgreSQL's 63-byte names with its `_records` suffix).
fn check_namespace(namespace: &str) -> io::Result<()> {
    let mut chars = namespace.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && namespace.len() <= 55;
    if valid {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "invalid namespace {namespace:?}: use lowercase ASCII letters, digits and `_`, \
             starting with a letter or `_`, at most 55 characters"
        ),
    ))
}

/// The URL for messages: the password of `user:password@` and any `password=` option
/// replaced by `***`.
fn redact(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let authority_start = scheme_end + 3;
        let authority_end = out[authority_start..]
            .find(['/', '?'])
            .map_or(out.len(), |i| authority_start + i);
        if let Some(at) = out[authority_start..authority_end].rfind('@') {
            let userinfo = authority_start..authority_start + at;
            if let Some(colon) = out[userinfo.clone()].find(':') {
                out.replace_range(userinfo.start + colon + 1..userinfo.end, "***");
            }
        }
    }
    let mut searched = 0;
    while let Some(found) = out[searched..].find("password=") {
        let start = searched + found + "password=".len();
        let end = out[start..]
            .find(['&', ' '])
            .map_or(out.len(), |i| start + i);
        out.replace_range(start..end, "***");
        searched = start + 3;
    }
    out
}

/// A worker id unique across machines and restarts: host name, process id and a random part
/// (so two stores of one process differ too).
fn worker_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!(
        "{}/{}/{:08x}",
        host_name(),
        std::process::id(),
        random as u32
    )
}

/// The machine's name, so that claims and connections show where their worker runs. Read
/// from the files that hold it rather than asked of the C library, which would take an
/// `unsafe` call for a name that only labels the worker.
fn host_name() -> String {
    let from_file = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| {
            let name = std::fs::read_to_string(path).ok()?;
            let name = name.trim();
            (!name.is_empty()).then(|| name.to_owned())
        });
    from_file
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "unknown-host".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden() {
        for (url, shown) in [
            (
                "postgres://app:s3cr@t@db:5432/runs",
                "postgres://app:***@db:5432/runs",
            ),
            ("postgresql://app@db/runs", "postgresql://app@db/runs"),
            (
                "postgres://db/runs?user=app&password=hunter2&sslmode=disable",
                "postgres://db/runs?user=app&password=***&sslmode=disable",
            ),
            (
                "host=db user=app password=hunter2 dbname=runs",
                "host=db user=app password=*** dbname=runs",
            ),
            ("host=db password=", "host=db password=***"),
        ] {
            assert_eq!(redact(url), shown, "{url}");
        }
    }

    #[test]
    fn namespaces_need_no_quoting() {
        for good in ["duraflow", "_x", "nightly_2024", &"a".repeat(55)] {
            assert!(check_namespace(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Nightly",
            "9lives",
            "a-b",
            "a b",
            "x;drop",
            &"a".repeat(56),
        ] {
            let error = check_namespace(bad).expect_err(bad);
            assert!(error.to_string().contains("invalid namespace"), "{error}");
        }
    }

    #[test]
    fn a_notification_names_the_stored_keys_when_it_can() {
        assert_eq!(sql::wake_payload(&["a", "b/c"]), "a\nb/c");
        // Empty: wake every waiter.
        assert_eq!(sql::wake_payload(&["a", "two\nlines"]), "");
        let long = "k".repeat(4000);
        assert_eq!(sql::wake_payload(&[&long, &long]), "");
    }

    #[test]
    fn worker_ids_differ_within_a_process() {
        let (a, b) = (worker_id(), worker_id());
        assert_ne!(a, b);
        assert!(a.contains(&format!("/{}/", std::process::id())), "{a}");
    }

    #[test]
    fn an_unreachable_server_is_an_open_error_naming_the_url_without_its_password() {
        // A port on loopback that nothing listens on: the connection is refused at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let url = format!("postgres://app:hunter2@127.0.0.1:{port}/runs");
        match PostgresStore::connect(&url) {
            Err(error @ DuraflowError::Open { .. }) => {
                let text = error.to_string();
                assert!(text.contains(&format!("127.0.0.1:{port}/runs")), "{text}");
                assert!(text.contains("app:***@"), "{text}");
                assert!(!text.contains("hunter2"), "{text}");
                assert!(text.contains("error connecting to server"), "{text}");
            }
            other => panic!("expected an Open error, got {other:?}"),
        }
    }
}
