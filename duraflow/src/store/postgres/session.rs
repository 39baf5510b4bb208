//! The database side of `PostgresStore`: a thread of its own running a current-thread tokio
//! runtime that owns the connections.
//!
//! The `Storage` methods are synchronous and are called from tokio's blocking pool and from
//! inside runtime worker threads (`Context::get`), where blocking on a future of the
//! caller's runtime would panic or stall it. So no caller ever touches a connection: each
//! request is a job sent to this thread, which runs it as a task (requests of many callers
//! are pipelined on one connection) and sends the answer back on a plain std channel.
//!
//! Two connections, opened lazily and again after a loss, so a process that outlives a
//! database restart recovers on its next call:
//! * the *reader*: reads, claims, releases and lease renewals, pipelined; it also `LISTEN`s
//!   for committed records, so a worker waiting on another's claim wakes when it is stored;
//! * the *writer*: one transaction per batch of the write queue (a transaction needs a
//!   connection of its own: anything pipelined beside it would run inside it).
//!
//! Claims use only the database's clock (`now()`), so workers on machines whose clocks
//! disagree still agree on when a lease has expired.

use super::describe;
use super::sql::{wake_payload, Sql};
use super::waiting::{listen, Held, Waiters};
use crate::store::{Claim, FailedWrite, Found, Listed};
use futures::channel::{mpsc, oneshot};
use futures::future::LocalBoxFuture;
use futures::lock::Mutex as AsyncMutex;
use futures::{future, StreamExt};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio_postgres::tls::NoTlsStream;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Config, Connection, NoTls, Socket, Statement};

/// First pause of a worker waiting on another's claim. Pauses double up to [`MAX_PAUSE`];
/// a notification of the record ends a pause early, so the pauses matter only when the
/// holder died (its lease must be seen to expire) or a notification was lost.
const FIRST_PAUSE: Duration = Duration::from_millis(5);
const MAX_PAUSE: Duration = Duration::from_millis(100);

/// How long a failed connection attempt answers for the next ones.
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// How long dropping the store may spend giving up its claims.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(2);

/// What the session needs to know, fixed at connect time except the lease and the claim
/// limit.
pub(super) struct Settings {
    pub config: Config,
    /// The URL with its password hidden, for messages.
    pub target: String,
    /// Validated: `[a-z_][a-z0-9_]*`, so it can be spliced into SQL.
    pub namespace: String,
    /// This store's worker id: the `owner` of its claims.
    pub owner: String,
    /// Lease length in milliseconds; shared with the store, which may change it.
    pub lease_ms: Arc<AtomicU64>,
    /// How many claims this worker holds at most; shared with the store likewise.
    pub max_claims: Arc<AtomicUsize>,
}

/// A request run on the session thread.
type Job = Box<dyn FnOnce(Rc<Session>) -> LocalBoxFuture<'static, ()> + Send>;

/// The session thread. Dropping it gives up this worker's claims and stops the thread.
pub(super) struct SessionThread {
    jobs: Option<mpsc::UnboundedSender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl SessionThread {
    /// Starts the thread; connections are opened by the first request (see
    /// [`Session::open`]).
    pub(super) fn start(settings: Settings) -> io::Result<Self> {
        let (jobs, incoming) = mpsc::unbounded::<Job>();
        let thread = std::thread::Builder::new()
            .name("duraflow-postgres".to_owned())
            .spawn(move || serve(settings, incoming))?;
        Ok(Self {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Runs `request` on the session thread and waits for its answer. Never call it from the
    /// session thread itself.
    pub(super) fn call<R, F, Fut>(&self, request: F) -> io::Result<R>
    where
        F: FnOnce(Rc<Session>) -> Fut + Send + 'static,
        Fut: Future<Output = R> + 'static,
        R: Send + 'static,
    {
        let stopped = || io::Error::other("the PostgreSQL session thread of the store has stopped");
        let (answer, answered) = std::sync::mpsc::sync_channel(1);
        let job: Job = Box::new(move |session| {
            Box::pin(async move {
                let _ = answer.send(request(session).await);
            })
        });
        let jobs = self.jobs.as_ref().ok_or_else(stopped)?;
        jobs.unbounded_send(job).map_err(|_| stopped())?;
        answered.recv().map_err(|_| stopped())
    }

    /// Runs `notice` on the session thread without waiting for it (lost if the thread has
    /// stopped).
    pub(super) fn tell<F>(&self, notice: F)
    where
        F: FnOnce(&Session) + Send + 'static,
    {
        let job: Job = Box::new(move |session| {
            notice(&session);
            Box::pin(async {})
        });
        if let Some(jobs) = &self.jobs {
            let _ = jobs.unbounded_send(job);
        }
    }
}

impl Drop for SessionThread {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(settings: Settings, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        // Dropping `jobs` makes every call fail with "has stopped".
        Err(_) => return,
    };
    let session = Rc::new(Session::new(settings));
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        while let Some(job) = jobs.next().await {
            tokio::task::spawn_local(job(Rc::clone(&session)));
        }
        // Every handle is gone: give up the claims of tasks this worker did not finish, so
        // other workers need not wait for their leases to expire.
        let _ = tokio::time::timeout(SHUTDOWN_LIMIT, session.give_up_claims()).await;
    });
}

/// The reader connection and its prepared statements.
struct Reader {
    client: Client,
    read: Statement,
    keys: Statement,
    claim: Statement,
    record: Statement,
    release: Statement,
    release_all: Statement,
    renew: Statement,
}

/// The writer connection and its prepared statements.
struct Writer {
    client: Client,
    upsert: Statement,
    remove: Statement,
    unclaim: Statement,
    notify: Statement,
}

/// One queued write of a batch: a record, or `None` for a removal.
pub(super) type Write = (String, Option<Vec<u8>>);

/// The state of the session thread.
pub(super) struct Session {
    settings: Settings,
    sql: Sql,
    reader: AsyncMutex<Option<Rc<Reader>>>,
    writer: AsyncMutex<Option<Writer>>,
    /// Tasks of this worker waiting for the record of a key another worker claimed.
    waiters: Waiters,
    /// The claims of this worker, and its tasks waiting for a free slot.
    held: RefCell<Held>,
    /// Whether the heartbeat runs: from the first claim until no claim is held.
    beating: Cell<bool>,
    /// The last failed connection attempt, and when.
    connect_failure: RefCell<Option<(Instant, Rc<tokio_postgres::Error>)>>,
}

/// Shared, so that one failed connection attempt can answer every caller for a while.
type PgResult<T> = Result<T, Rc<tokio_postgres::Error>>;

impl Session {
    fn new(settings: Settings) -> Self {
        Self {
            sql: Sql::new(&settings.namespace),
            settings,
            reader: AsyncMutex::new(None),
            writer: AsyncMutex::new(None),
            waiters: Waiters::default(),
            held: RefCell::default(),
            beating: Cell::new(false),
            connect_failure: RefCell::default(),
        }
    }

    /// Connects both connections, creating the tables if needed. Its error does not repeat
    /// the URL: the caller's `Open` error names it.
    pub(super) async fn open(self: Rc<Self>) -> io::Result<()> {
        let opened = async {
            drop(self.writer().await?);
            self.reader().await.map(drop)
        };
        opened.await.map_err(|e| io::Error::other(describe(&e)))
    }

    /// The committed records of `keys`, in order.
    pub(super) async fn read(
        self: Rc<Self>,
        keys: Vec<String>,
        limit: u64,
    ) -> io::Result<Vec<Found>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .with_reader(async |r| r.client.query(&r.read, &[&keys, &limit]).await)
            .await?;
        let mut found: HashMap<String, Option<Vec<u8>>> = rows
            .into_iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        let found = keys.iter().map(|key| match found.remove(key) {
            None => Found::Absent,
            Some(None) => Found::Unread,
            Some(Some(record)) => Found::Record(record),
        });
        Ok(found.collect())
    }

    /// Every committed key.
    pub(super) async fn list(self: Rc<Self>) -> io::Result<Vec<Listed>> {
        let rows = self
            .with_reader(async |r| r.client.query(&r.keys, &[]).await)
            .await?;
        let listed = rows.into_iter().map(|row| Listed {
            key: row.get(0),
            size: u64::try_from(row.get::<_, i64>(1)).unwrap_or(0),
        });
        Ok(listed.collect())
    }

    /// Claims `key`, or waits while another worker holds a live claim on it and returns its
    /// record once stored (see [`Session::try_claim`]). While this worker already holds its
    /// maximum of claims, it only watches for the record until one of them ends.
    pub(super) async fn claim(
        self: Rc<Self>,
        key: String,
        stale: Option<Vec<u8>>,
    ) -> io::Result<Claim> {
        let stale = stale.as_deref();
        let mut pause = FIRST_PAUSE;
        let outcome = loop {
            // Registered before the check, so a record committed right after it still wakes us.
            let (wake, woken) = oneshot::channel();
            self.waiters.register(&key, wake);
            let queued = self.held.borrow_mut().reserve(self.max_claims());
            let attempt = match queued {
                None => self.try_claim(&key, stale).await,
                Some(_) => self.try_restore(&key, stale).await,
            };
            match attempt {
                Ok(Some(claim)) => break Ok(claim),
                Ok(None) => {
                    let wait = async {
                        match queued {
                            Some(slot) => drop(future::select(woken, slot).await),
                            None => drop(woken.await),
                        }
                    };
                    let _ = tokio::time::timeout(pause, wait).await;
                    pause = (pause * 2).min(MAX_PAUSE);
                }
                Err(e) => break Err(self.error(&e)),
            }
        };
        self.waiters.forget(&key);
        // A slot handed to this attempt while it found the record is passed on.
        self.held.borrow_mut().offer(self.max_claims());
        outcome
    }

    /// One attempt, in a reserved slot: `Restore` when the key has a record (other than
    /// `stale`, which counts as none), `Run` when this worker got the claim, `None` while
    /// another worker holds a live one.
    ///
    /// The record is read again *after* the claim statement, pipelined behind it: under READ
    /// COMMITTED the claim statement's own record check may predate a concurrent commit of
    /// the record (whose transaction also deleted the claim our insert then replaced), and
    /// only the later statement is sure to see that record. So a task finished by another
    /// worker is never run again, whatever the interleaving.
    async fn try_claim(
        self: &Rc<Self>,
        key: &str,
        stale: Option<&[u8]>,
    ) -> PgResult<Option<Claim>> {
        let attempt = async {
            let reader = self.reader().await?;
            let owner = &self.settings.owner;
            let lease = self.lease().as_secs_f64();
            let (claim_params, record_params): (&[&(dyn ToSql + Sync)], &[&(dyn ToSql + Sync)]) =
                (&[&key, owner, &lease, &stale], &[&key]);
            let (claimed, record) = futures::try_join!(
                reader.client.execute(&reader.claim, claim_params),
                reader.client.query_opt(&reader.record, record_params),
            )?;
            let record: Option<Vec<u8>> = record
                .map(|row| row.get::<_, Vec<u8>>(0))
                .filter(|record| Some(record.as_slice()) != stale);
            if let (1, Some(_)) = (claimed, &record) {
                reader
                    .client
                    .execute(&reader.release, &[&key, owner])
                    .await?;
            }
            Ok(match (claimed, record) {
                (_, Some(record)) => Some(Claim::Restore(record)),
                (1, None) => Some(Claim::Run),
                _ => None,
            })
        };
        let result = attempt.await;
        let ran = matches!(result, Ok(Some(Claim::Run)));
        self.held
            .borrow_mut()
            .end_attempt(key, ran, self.max_claims());
        if ran && !self.beating.replace(true) {
            tokio::task::spawn_local(heartbeat(Rc::downgrade(self)));
        }
        result
    }

    /// `Restore` when the key has a record other than `stale`, else `None`: a check
    /// without claiming.
    async fn try_restore(&self, key: &str, stale: Option<&[u8]>) -> PgResult<Option<Claim>> {
        let reader = self.reader().await?;
        let row = reader.client.query_opt(&reader.record, &[&key]).await?;
        Ok(row
            .map(|row| row.get::<_, Vec<u8>>(0))
            .filter(|record| Some(record.as_slice()) != stale)
            .map(Claim::Restore))
    }

    fn max_claims(&self) -> usize {
        self.settings.max_claims.load(Ordering::Relaxed)
    }

    /// The task of `key` has finished: its slot is free, though the claim lasts until its
    /// record is committed.
    pub(super) fn task_done(&self, key: &str) {
        self.held.borrow_mut().task_done(key, self.max_claims());
    }

    /// Gives up this worker's claim on `key`.
    pub(super) async fn release(self: Rc<Self>, key: String) -> io::Result<()> {
        // Forgotten first: even if the delete fails, the lease is no longer renewed.
        self.held
            .borrow_mut()
            .end([key.as_str()], self.max_claims());
        let owner = &self.settings.owner;
        self.with_reader(async |r| r.client.execute(&r.release, &[&key, owner]).await)
            .await
            .map(drop)
    }

    /// Applies a batch of the write queue in one transaction: records upserted, their claims
    /// deleted, removals applied, and waiting workers notified on commit.
    pub(super) async fn commit(self: Rc<Self>, batch: Vec<Write>) -> Result<(), FailedWrite> {
        let result = self.try_commit(&batch).await;
        // Stored (or failed: the run fails and the lease may lapse): no longer renewed.
        let keys = batch.iter().map(|(key, _)| key.as_str());
        self.held.borrow_mut().end(keys, self.max_claims());
        result.map_err(|e| FailedWrite {
            key: batch
                .first()
                .map(|(key, _)| key.clone())
                .unwrap_or_default(),
            source: self.error(&e),
        })
    }

    async fn try_commit(&self, batch: &[Write]) -> PgResult<()> {
        let (put_keys, records): (Vec<&str>, Vec<&[u8]>) = batch
            .iter()
            .filter_map(|(key, record)| Some((key.as_str(), record.as_deref()?)))
            .unzip();
        let removed: Vec<&str> = batch
            .iter()
            .filter(|(_, record)| record.is_none())
            .map(|(key, _)| key.as_str())
            .collect();
        let payload = wake_payload(&put_keys);
        let mut slot = self.writer().await?;
        let writer = slot
            .as_mut()
            .expect("writer() leaves a connection in the slot");
        let transaction = writer.client.transaction().await?;
        let upsert_params: &[&(dyn ToSql + Sync)] = &[&put_keys, &records];
        let unclaim_params: &[&(dyn ToSql + Sync)] = &[&put_keys];
        let notify_params: &[&(dyn ToSql + Sync)] = &[&self.sql.channel, &payload];
        let puts = async {
            if put_keys.is_empty() {
                return Ok(());
            }
            // Pipelined: one round trip for the three statements.
            futures::try_join!(
                transaction.execute(&writer.upsert, upsert_params),
                transaction.execute(&writer.unclaim, unclaim_params),
                transaction.execute(&writer.notify, notify_params),
            )
            .map(drop)
        };
        let removals = async {
            if removed.is_empty() {
                return Ok(());
            }
            transaction
                .execute(&writer.remove, &[&removed])
                .await
                .map(drop)
        };
        futures::try_join!(puts, removals)?;
        Ok(transaction.commit().await?)
    }

    /// Renews the leases of every claim this worker holds.
    async fn renew(&self) -> PgResult<()> {
        let keys: Vec<String> = self.held.borrow().keys.iter().cloned().collect();
        if keys.is_empty() {
            return Ok(());
        }
        let reader = self.reader().await?;
        let lease = self.lease().as_secs_f64();
        let owner = &self.settings.owner;
        reader
            .client
            .execute(&reader.renew, &[owner, &keys, &lease])
            .await?;
        Ok(())
    }

    async fn give_up_claims(&self) {
        if self.held.borrow().keys.is_empty() {
            return;
        }
        if let Ok(reader) = self.reader().await {
            let _ = reader
                .client
                .execute(&reader.release_all, &[&self.settings.owner])
                .await;
        }
    }

    fn lease(&self) -> Duration {
        Duration::from_millis(self.settings.lease_ms.load(Ordering::Relaxed))
    }

    /// Runs statements on the reader connection; errors name the server.
    async fn with_reader<T>(
        &self,
        run: impl AsyncFnOnce(&Reader) -> Result<T, tokio_postgres::Error>,
    ) -> io::Result<T> {
        let reader = self.reader().await.map_err(|e| self.error(&e))?;
        run(&reader).await.map_err(|e| self.error(&e))
    }

    /// A new connection. After a failed attempt, callers get its error for
    /// [`RECONNECT_PAUSE`] instead of each trying (and, with an unreachable host, each
    /// waiting out the connect timeout) in turn: a run whose database is gone fails fast.
    async fn connect(&self) -> PgResult<(Client, Connection<Socket, NoTlsStream>)> {
        if let Some((at, error)) = &*self.connect_failure.borrow() {
            if at.elapsed() < RECONNECT_PAUSE {
                return Err(Rc::clone(error));
            }
        }
        self.settings.config.connect(NoTls).await.map_err(|e| {
            let error = Rc::new(e);
            *self.connect_failure.borrow_mut() = Some((Instant::now(), Rc::clone(&error)));
            error
        })
    }

    /// The reader connection, connected (again) if needed.
    async fn reader(&self) -> PgResult<Rc<Reader>> {
        let mut slot = self.reader.lock().await;
        if let Some(reader) = slot.as_ref().filter(|r| !r.client.is_closed()) {
            return Ok(Rc::clone(reader));
        }
        *slot = None;
        let (client, connection) = self.connect().await?;
        tokio::task::spawn_local(listen(self.waiters.clone(), connection));
        // Claims, releases and renewals are coordination, not results: they need not wait
        // for a disk flush (with one, each claim would cost an fsync, and a DAG's chain one
        // per task). They are visible to other workers at commit all the same; only a crash
        // of the database server itself can lose the last few hundred milliseconds of them,
        // and a lost claim means at most a task run twice, as after a lapsed lease. Records
        // are committed on the writer connection, synchronously.
        client
            .batch_execute(&format!(
                "SET synchronous_commit = off; LISTEN {}",
                self.sql.channel
            ))
            .await?;
        let sql = &self.sql;
        let reader = Rc::new(Reader {
            read: client.prepare(&sql.read).await?,
            keys: client.prepare(&sql.keys).await?,
            claim: client
                .prepare_typed(&sql.claim, &[Type::TEXT, Type::TEXT, Type::FLOAT8])
                .await?,
            record: client.prepare(&sql.record).await?,
            release: client.prepare(&sql.release).await?,
            release_all: client.prepare(&sql.release_all).await?,
            renew: client
                .prepare_typed(&sql.renew, &[Type::TEXT, Type::TEXT_ARRAY, Type::FLOAT8])
                .await?,
            client,
        });
        *slot = Some(Rc::clone(&reader));
        // Notifications sent while no connection listened are lost: everyone checks again.
        self.waiters.wake("");
        Ok(reader)
    }

    /// The writer connection (locked: one transaction at a time), connected (again) if
    /// needed; connecting also creates the tables when they do not exist.
    async fn writer(&self) -> PgResult<futures::lock::MutexGuard<'_, Option<Writer>>> {
        let mut slot = self.writer.lock().await;
        if slot.as_ref().is_some_and(|w| !w.client.is_closed()) {
            return Ok(slot);
        }
        *slot = None;
        let (client, connection) = self.connect().await?;
        tokio::task::spawn_local(async move {
            let _ = connection.await;
        });
        client.batch_execute(&self.sql.create).await?;
        *slot = Some(Writer {
            upsert: client.prepare(&self.sql.upsert).await?,
            remove: client.prepare(&self.sql.remove).await?,
            unclaim: client.prepare(&self.sql.unclaim).await?,
            notify: client.prepare("SELECT pg_notify($1, $2)").await?,
            client,
        });
        Ok(slot)
    }

    /// A store-level error: what failed, on which server.
    fn error(&self, e: &tokio_postgres::Error) -> io::Error {
        io::Error::other(format!(
            "PostgreSQL at {}: {}",
            self.settings.target,
            describe(e)
        ))
    }
}

/// Renews this worker's leases every third of a lease while it holds claims, so a claim
/// outlives a long task and lapses only when its worker stops renewing it (died, or lost the
/// database). Started by the first claim, so it uses the lease the store was configured with.
async fn heartbeat(session: Weak<Session>) {
    loop {
        let Some(lease) = session.upgrade().map(|s| s.lease()) else {
            return;
        };
        tokio::time::sleep(lease / 3).await;
        let Some(session) = session.upgrade() else {
            return;
        };
        if session.held.borrow().keys.is_empty() {
            session.beating.set(false);
            return;
        }
        // A failure here also fails the calls of the tasks; the next beat tries again.
        let _ = session.renew().await;
    }
}
