//! Group commit shared by the durable stores: writes queue up while the previous batch
//! commits, and a writer thread commits each batch in one go (one transaction, one
//! directory sync). Reads see queued writes; `flush` waits for them and reports failures.
//!
//! A store may also open a *durability window*: ops then gather for up to one window (or
//! until [`BATCH_BYTES`] are queued, a push waits for room, or `flush` asks) and are
//! committed together, durably. A crash loses at most the window's ops, never their
//! consistency, and `flush` returns only once everything before it is durable.
//!
//! Memory stays bounded when tasks produce records faster than the disk takes them: a push
//! waits while the queue holds more than [`QUEUE_BYTES`] (unless the queue is empty), so
//! at most about one large record waits beside the batch being written. A store may also
//! compress records with zstd as they are queued ([`WriteBehind::set_compression`]).

use super::{FailedWrite, Found, Listed};
use crate::codec;
use indexmap::IndexMap;
use parking_lot::{Condvar, Mutex};
use std::collections::BTreeMap;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One write of a batch, borrowed from the queue: a record, or `None` for a removal.
pub(crate) struct Op<'a> {
    pub key: &'a str,
    pub record: Option<&'a [u8]>,
}

/// What a durable store does below the queue.
pub(crate) trait Backend: Send + Sync + 'static {
    /// Reads one committed record.
    fn read(&self, key: &str) -> io::Result<Option<Vec<u8>>>;
    /// The committed records of several keys, in the order of `keys` (one transaction where
    /// the backend has them); records longer than `limit` may be left [`Found::Unread`].
    fn read_many(&self, keys: &[&str], limit: u64) -> io::Result<Vec<Found>> {
        let _ = limit;
        keys.iter()
            .map(|key| self.read(key).map(Found::from_record))
            .collect()
    }
    /// Applies a batch (possibly empty) atomically and durably. On failure names the first
    /// key that did not make it.
    fn commit(&self, batch: &[Op<'_>]) -> Result<(), FailedWrite>;
    /// Every committed key, with its record's length.
    fn list(&self) -> io::Result<Vec<Listed>>;
}

/// The newest queued op per key: a record, or `None` for a removal. Kept in the order the
/// keys were first queued, which is the order a batch is committed in: a failed commit
/// names the earliest write that failed (a task's record, not the journal entry queued
/// after it).
type Ops = IndexMap<String, Option<Vec<u8>>>;

#[derive(Default)]
struct Queue {
    /// Ops queued since the writer took its last batch. A key written again before that is
    /// written once, with its newest record.
    pending: Ops,
    /// The batch the writer is committing: still read, as it is not yet in the backend.
    committing: Option<Arc<Ops>>,
    /// Bytes of the records in `pending` and `committing`.
    bytes: u64,
    /// Bytes of the records in `pending`.
    pending_bytes: u64,
    /// Pushes waiting for room: the writer then takes what is pending without waiting for
    /// its window.
    waiting: usize,
    /// When the oldest op in `pending` was queued.
    first_pending_at: Option<Instant>,
    /// Sequence number of the last queued op.
    last_seq: u64,
    /// Every op up to this one is durable (or failed).
    durable_seq: u64,
    /// The highest op a `flush` waits to see durable.
    flush_target: u64,
    failure: Option<FailedWrite>,
    stop: bool,
    writer_alive: bool,
}

impl Queue {
    /// The queued op of `key`, newest first: `Some(None)` for a queued removal.
    fn op(&self, key: &str) -> Option<Option<&[u8]>> {
        let queued = self.pending.get(key).or_else(|| {
            self.committing
                .as_ref()
                .and_then(|committing| committing.get(key))
        });
        queued.map(Option::as_deref)
    }
}

struct Shared<B> {
    backend: B,
    /// The durability window in nanoseconds; 0: every batch is committed durably.
    window_ns: AtomicU64,
    /// The zstd level records are compressed with as they are queued, or [`NO_COMPRESSION`].
    compression: AtomicI32,
    queue: Mutex<Queue>,
    wake_writer: Condvar,
    committed: Condvar,
}

/// A backend behind a write queue and its writer thread. No I/O happens under the queue's
/// lock, so [`WriteBehind::push`] never waits for the backend: a store's `put` can run on
/// the async runtime's thread.
pub(crate) struct WriteBehind<B: Backend> {
    shared: Arc<Shared<B>>,
    writer: Option<JoinHandle<()>>,
}

impl<B: Backend> WriteBehind<B> {
    /// Starts the writer thread for `backend`, committing every op at once (`window: None`)
    /// or at most `window` after it was queued.
    pub(crate) fn new(backend: B, thread_name: &str, window: Option<Duration>) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            backend,
            window_ns: AtomicU64::new(window_ns(window)),
            compression: AtomicI32::new(NO_COMPRESSION),
            queue: Mutex::new(Queue {
                writer_alive: true,
                ..Queue::default()
            }),
            wake_writer: Condvar::new(),
            committed: Condvar::new(),
        });
        let for_writer = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name(thread_name.to_owned())
            .spawn(move || write_loop(&for_writer))?;
        Ok(Self {
            shared,
            writer: Some(writer),
        })
    }

    /// Changes the durability window (`None`: every op committed at once).
    pub(crate) fn set_window(&self, window: Option<Duration>) {
        self.shared
            .window_ns
            .store(window_ns(window), Ordering::Relaxed);
        self.shared.wake_writer.notify_one();
    }

    /// Compresses every record queued from now on with zstd at `level` (`None`: off).
    pub(crate) fn set_compression(&self, level: Option<i32>) {
        let level = level.unwrap_or(NO_COMPRESSION);
        self.shared.compression.store(level, Ordering::Relaxed);
    }

    /// Queues a write or removal; waits while the queue holds more than [`QUEUE_BYTES`].
    pub(crate) fn push(&self, key: &str, record: Option<Vec<u8>>) {
        let record = match self.shared.compression.load(Ordering::Relaxed) {
            NO_COMPRESSION => record,
            level => record.map(|record| codec::compress(record, level)),
        };
        let len = record.as_ref().map_or(0, |record| record.len() as u64);
        let mut queue = self.shared.queue.lock();
        while queue.bytes > 0 && queue.bytes + len > QUEUE_BYTES && queue.writer_alive {
            queue.waiting += 1;
            self.shared.wake_writer.notify_one();
            self.shared.committed.wait(&mut queue);
            queue.waiting -= 1;
        }
        queue.last_seq += 1;
        let first = queue.pending.is_empty();
        if first {
            queue.first_pending_at = Some(Instant::now());
        }
        if let Some(Some(replaced)) = queue.pending.insert(key.to_owned(), record) {
            queue.bytes -= replaced.len() as u64;
            queue.pending_bytes -= replaced.len() as u64;
        }
        queue.bytes += len;
        queue.pending_bytes += len;
        let full = queue.pending_bytes >= BATCH_BYTES;
        drop(queue);
        // Without a window every op is committed at once; with one, the writer only needs to
        // hear of a first op (it sets the deadline) and of a full batch.
        if first || full || self.shared.window_ns.load(Ordering::Relaxed) == 0 {
            self.shared.wake_writer.notify_one();
        }
    }

    /// The record under `key`, queued or committed.
    pub(crate) fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        if let Some(record) = self.shared.queue.lock().op(key) {
            return Ok(record.map(<[u8]>::to_vec));
        }
        self.shared.backend.read(key)
    }

    /// The records of `keys`, in order, queued or committed; those longer than `limit`
    /// may be left unread.
    pub(crate) fn get_many(&self, keys: &[&str], limit: u64) -> io::Result<Vec<Found>> {
        let mut records = Vec::with_capacity(keys.len());
        let mut committed = Vec::new();
        {
            let queue = self.shared.queue.lock();
            for (i, key) in keys.iter().enumerate() {
                records.push(match queue.op(key) {
                    None => {
                        committed.push(i);
                        Found::Absent
                    }
                    Some(None) => Found::Absent,
                    Some(Some(record)) if record.len() as u64 > limit => Found::Unread,
                    Some(Some(record)) => Found::Record(record.to_vec()),
                });
            }
        }
        if !committed.is_empty() {
            let wanted: Vec<&str> = committed.iter().map(|&i| keys[i]).collect();
            let found = self.shared.backend.read_many(&wanted, limit)?;
            for (i, record) in committed.into_iter().zip(found) {
                records[i] = record;
            }
        }
        Ok(records)
    }

    /// Committed records plus queued writes, less queued removals.
    pub(crate) fn list(&self) -> io::Result<Vec<Listed>> {
        // The queue is looked at first: a batch that finishes committing before the backend
        // is listed is then in the listing, where the other order would miss it.
        let queued: Vec<(String, Option<u64>)> = {
            let queue = self.shared.queue.lock();
            // The batch being committed first, then the newer pending ops.
            let committing = queue.committing.as_deref().into_iter().flatten();
            committing
                .chain(&queue.pending)
                .map(|(key, record)| (key.clone(), record.as_ref().map(|r| r.len() as u64)))
                .collect()
        };
        let mut listed: BTreeMap<String, u64> = self
            .shared
            .backend
            .list()?
            .into_iter()
            .map(|listed| (listed.key, listed.size))
            .collect();
        for (key, size) in queued {
            match size {
                Some(size) => listed.insert(key, size),
                None => listed.remove(&key),
            };
        }
        Ok(listed
            .into_iter()
            .map(|(key, size)| Listed { key, size })
            .collect())
    }

    /// Waits until everything queued so far is committed durably; returns the first failure
    /// since the last flush.
    pub(crate) fn flush(&self) -> Result<(), FailedWrite> {
        let mut queue = self.shared.queue.lock();
        let target = queue.last_seq;
        if queue.durable_seq < target {
            queue.flush_target = queue.flush_target.max(target);
            self.shared.wake_writer.notify_one();
        }
        while queue.durable_seq < target {
            if !queue.writer_alive {
                return Err(FailedWrite {
                    key: queue.pending.keys().next().cloned().unwrap_or_default(),
                    source: io::Error::other("the store's writer thread has stopped"),
                });
            }
            self.shared.committed.wait(&mut queue);
        }
        match queue.failure.take() {
            Some(failure) => Err(failure),
            None => Ok(()),
        }
    }
}

impl<B: Backend> Drop for WriteBehind<B> {
    fn drop(&mut self) {
        self.shared.queue.lock().stop = true;
        self.shared.wake_writer.notify_one();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// With a durability window, pending ops are committed once their records hold this many
/// bytes.
const BATCH_BYTES: u64 = 16 << 20;

/// A push waits while the queue holds more than this many bytes of records, unless it is
/// empty: the memory a store adds to a run that produces large outputs.
const QUEUE_BYTES: u64 = 32 << 20;

const NO_COMPRESSION: i32 = i32::MIN;

fn window_ns(window: Option<Duration>) -> u64 {
    window.map_or(0, |w| {
        u64::try_from(w.as_nanos()).unwrap_or(u64::MAX).max(1)
    })
}

fn write_loop<B: Backend>(shared: &Shared<B>) {
    loop {
        let (batch, taken_seq) = {
            let mut queue = shared.queue.lock();
            // Wait for work: ops, a flush, a stop, or the end of the durability window.
            loop {
                let asked = queue.flush_target > queue.durable_seq || queue.stop;
                let window = match shared.window_ns.load(Ordering::Relaxed) {
                    0 => None,
                    ns => Some(Duration::from_nanos(ns)),
                };
                let Some(window) = window else {
                    // No window: every op is committed at once.
                    if !queue.pending.is_empty() || asked {
                        break;
                    }
                    shared.wake_writer.wait(&mut queue);
                    continue;
                };
                // With a window, nothing waits longer than one window; a batch that grew to
                // its size, or a push waiting for room, does not wait for it.
                let due = queue.first_pending_at.map(|oldest| oldest + window);
                let full = queue.pending_bytes >= BATCH_BYTES || queue.waiting > 0;
                if asked || (full && !queue.pending.is_empty()) {
                    break;
                }
                match due {
                    Some(due) if Instant::now() >= due => break,
                    Some(due) => {
                        shared.wake_writer.wait_until(&mut queue, due);
                    }
                    None => shared.wake_writer.wait(&mut queue),
                }
            }
            if queue.pending.is_empty() && queue.stop && queue.durable_seq == queue.last_seq {
                queue.writer_alive = false;
                shared.committed.notify_all();
                return;
            }
            // The whole pending map becomes the batch; reads find it as `committing` until
            // it is in the backend.
            let batch = Arc::new(std::mem::take(&mut queue.pending));
            queue.pending_bytes = 0;
            queue.first_pending_at = None;
            queue.committing = Some(Arc::clone(&batch));
            (batch, queue.last_seq)
        };
        let ops: Vec<Op<'_>> = batch
            .iter()
            .map(|(key, record)| Op {
                key,
                record: record.as_deref(),
            })
            .collect();
        let result =
            catch_unwind(AssertUnwindSafe(|| shared.backend.commit(&ops))).unwrap_or_else(|_| {
                Err(FailedWrite {
                    key: String::new(),
                    source: io::Error::other("the store panicked while committing"),
                })
            });
        let batch_bytes: u64 = batch.values().flatten().map(|r| r.len() as u64).sum();
        drop(ops);
        let mut queue = shared.queue.lock();
        queue.committing = None;
        queue.bytes -= batch_bytes;
        if let Err(mut failure) = result {
            if failure.key.is_empty() {
                failure.key = batch.keys().next().cloned().unwrap_or_default();
            }
            queue.failure.get_or_insert(failure);
        }
        queue.durable_seq = taken_seq;
        drop(queue);
        shared.committed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::mpsc;

    /// A backend whose commits wait for a go-ahead, so a test can read while one is running.
    struct Gated {
        committed: Mutex<HashMap<String, Vec<u8>>>,
        entered: Mutex<mpsc::Sender<()>>,
        go: Mutex<mpsc::Receiver<()>>,
        fail_key: Option<&'static str>,
    }

    impl Backend for Gated {
        fn read(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
            Ok(self.committed.lock().get(key).cloned())
        }
        fn commit(&self, batch: &[Op<'_>]) -> Result<(), FailedWrite> {
            if batch.is_empty() {
                return Ok(());
            }
            self.entered.lock().send(()).unwrap();
            self.go.lock().recv().unwrap();
            if let Some(op) = batch.iter().find(|op| Some(op.key) == self.fail_key) {
                return Err(FailedWrite {
                    key: op.key.to_owned(),
                    source: io::Error::other("refused"),
                });
            }
            let mut committed = self.committed.lock();
            for op in batch {
                match op.record {
                    Some(record) => committed.insert(op.key.to_owned(), record.to_vec()),
                    None => committed.remove(op.key),
                };
            }
            Ok(())
        }
        fn list(&self) -> io::Result<Vec<Listed>> {
            let committed = self.committed.lock();
            let listed = committed.iter().map(|(key, record)| Listed {
                key: key.clone(),
                size: record.len() as u64,
            });
            Ok(listed.collect())
        }
    }

    /// A queue over a gated backend, the signal that a commit began, and its go-ahead.
    fn gated(
        fail_key: Option<&'static str>,
    ) -> (WriteBehind<Gated>, mpsc::Receiver<()>, mpsc::Sender<()>) {
        let (entered_tx, entered) = mpsc::channel();
        let (go, go_rx) = mpsc::channel();
        let backend = Gated {
            committed: Mutex::default(),
            entered: Mutex::new(entered_tx),
            go: Mutex::new(go_rx),
            fail_key,
        };
        (
            WriteBehind::new(backend, "gated", None).unwrap(),
            entered,
            go,
        )
    }

    #[test]
    fn a_batch_being_committed_is_read_and_newer_writes_win() {
        let (queue, entered, go) = gated(None);
        queue.push("a", Some(b"a1".to_vec()));
        queue.push("gone", None);
        entered.recv().unwrap(); // the writer holds the batch, not yet in the backend
        assert_eq!(queue.get("a").unwrap(), Some(b"a1".to_vec()));
        queue.push("a", Some(b"a2".to_vec()));
        queue.push("b", Some(b"b1".to_vec()));
        assert_eq!(queue.get("a").unwrap(), Some(b"a2".to_vec()));
        assert_eq!(
            queue.get_many(&["b", "a", "gone", "none"], 2).unwrap(),
            [record(b"b1"), record(b"a2"), Found::Absent, Found::Absent]
        );
        assert_eq!(
            queue.get_many(&["b", "a"], 1).unwrap(),
            [Found::Unread, Found::Unread],
            "queued records over the limit are left unread"
        );
        let listed = queue.list().unwrap();
        assert_eq!(listed, [listed_as("a", 2), listed_as("b", 2)]);
        go.send(()).unwrap(); // first batch
        entered.recv().unwrap();
        go.send(()).unwrap(); // second batch
        queue.flush().unwrap();
        let committed = queue.shared.backend.committed.lock().clone();
        assert_eq!(committed.get("a"), Some(&b"a2".to_vec()));
        assert_eq!(committed.get("b"), Some(&b"b1".to_vec()));
        assert!(queue.shared.queue.lock().committing.is_none());
        // Now from the backend alone.
        assert_eq!(
            queue.get_many(&["b", "a", "gone"], u64::MAX).unwrap(),
            [record(b"b1"), record(b"a2"), Found::Absent]
        );
    }

    fn record(bytes: &[u8]) -> Found {
        Found::Record(bytes.to_vec())
    }

    fn listed_as(key: &str, size: u64) -> Listed {
        Listed {
            key: key.to_owned(),
            size,
        }
    }

    /// A backend that logs each commit: how many ops.
    #[derive(Default)]
    struct Logged(Mutex<Vec<usize>>);

    impl Backend for Logged {
        fn read(&self, _: &str) -> io::Result<Option<Vec<u8>>> {
            Ok(None)
        }
        fn commit(&self, batch: &[Op<'_>]) -> Result<(), FailedWrite> {
            self.0.lock().push(batch.len());
            Ok(())
        }
        fn list(&self) -> io::Result<Vec<Listed>> {
            Ok(Vec::new())
        }
    }

    fn commits(queue: &WriteBehind<Logged>) -> Vec<usize> {
        queue.shared.backend.0.lock().clone()
    }

    /// Waits up to 5 s for `queue` to have made `n` commits.
    fn wait_for_commits(queue: &WriteBehind<Logged>, n: usize) -> Vec<usize> {
        let until = Instant::now() + Duration::from_secs(5);
        while commits(queue).len() < n && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(2));
        }
        commits(queue)
    }

    fn push_n(queue: &WriteBehind<Logged>, from: usize, n: usize, len: usize) {
        for i in from..from + n {
            queue.push(&format!("k{i}"), Some(vec![1; len]));
        }
    }

    #[test]
    fn inside_a_window_ops_wait_for_a_full_batch_or_a_flush() {
        let window = Some(Duration::from_secs(3600));
        let queue = WriteBehind::new(Logged::default(), "logged", window).unwrap();
        push_n(&queue, 0, 10, 1);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(commits(&queue), [0usize; 0], "a part batch waits");
        // Ops holding a batch's bytes are committed without waiting for the window.
        let half = (BATCH_BYTES / 2) as usize;
        push_n(&queue, 10, 2, half);
        assert_eq!(wait_for_commits(&queue, 1), [12]);
        push_n(&queue, 12, 3, 1);
        queue.flush().unwrap();
        assert_eq!(commits(&queue), [12, 3]);
    }

    #[test]
    fn a_window_makes_ops_durable_without_a_flush() {
        let window = Some(Duration::from_millis(30));
        let queue = WriteBehind::new(Logged::default(), "logged", window).unwrap();
        push_n(&queue, 0, 1, 1);
        assert_eq!(wait_for_commits(&queue, 1), [1]);
    }

    #[test]
    fn without_a_window_every_op_is_committed_durably_at_once() {
        let queue = WriteBehind::new(Logged::default(), "logged", None).unwrap();
        push_n(&queue, 0, 1, 1);
        assert_eq!(wait_for_commits(&queue, 1), [1]);
    }

    #[test]
    fn a_failed_batch_is_reported_by_flush_with_its_key() {
        let (queue, entered, go) = gated(Some("bad"));
        queue.push("bad", Some(b"x".to_vec()));
        entered.recv().unwrap();
        go.send(()).unwrap();
        let failure = queue.flush().expect_err("the commit failed");
        assert_eq!(failure.key, "bad");
        // Nothing half-written is shown, and the next flush has nothing left to report.
        assert_eq!(queue.get("bad").unwrap(), None);
        queue.flush().unwrap();
    }

    /// A backend that refuses every batch, naming the first key it was given.
    struct Refusing;

    impl Backend for Refusing {
        fn read(&self, _: &str) -> io::Result<Option<Vec<u8>>> {
            Ok(None)
        }
        fn commit(&self, batch: &[Op<'_>]) -> Result<(), FailedWrite> {
            match batch.first() {
                Some(op) => Err(FailedWrite {
                    key: op.key.to_owned(),
                    source: io::Error::other("refused"),
                }),
                None => Ok(()),
            }
        }
        fn list(&self) -> io::Result<Vec<Listed>> {
            Ok(Vec::new())
        }
    }

    #[test]
    fn a_batch_is_committed_in_the_order_its_keys_were_queued() {
        let window = Some(Duration::from_secs(3600));
        let queue = WriteBehind::new(Refusing, "refusing", window).unwrap();
        for key in ["task", "__duraflow/run/1", "a", "task"] {
            queue.push(key, Some(b"x".to_vec()));
        }
        let failure = queue.flush().expect_err("the commit failed");
        assert_eq!(failure.key, "task");
    }
}
