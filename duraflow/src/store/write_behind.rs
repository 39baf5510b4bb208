//! Group commit shared by the durable stores: writes queue up while the previous batch
//! commits, and a writer thread commits each batch in one go (one transaction, one
//! directory sync). Reads see queued writes; `flush` waits for them and reports failures.
//!
//! A store may also open a *durability window*: ops then gather into batches of up to
//! [`BATCH`], each committed without a sync (atomic and visible, but not yet durable), and
//! everything becomes durable (one commit with a sync) at the latest one window after it was
//! queued, or at once when `flush` asks for it. A crash loses at most the window's ops, never
//! their consistency, and `flush` still returns only once everything before it is durable.

use super::FailedWrite;
use parking_lot::{Condvar, Mutex};
use std::collections::{BTreeSet, HashMap};
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// the backend has them).
    fn read_many(&self, keys: &[&str]) -> io::Result<Vec<Option<Vec<u8>>>> {
        keys.iter().map(|key| self.read(key)).collect()
    }
    /// Applies a batch (possibly empty) atomically; with `durable`, also makes it and every
    /// earlier batch durable. On failure names the first key that did not make it.
    fn commit(&self, batch: &[Op<'_>], durable: bool) -> Result<(), FailedWrite>;
    /// Every committed key.
    fn keys(&self) -> io::Result<Vec<String>>;
}

/// The newest queued op per key: a record, or `None` for a removal.
type Ops = HashMap<String, Option<Vec<u8>>>;

#[derive(Default)]
struct Queue {
    /// Ops queued since the writer took its last batch. A key written again before that is
    /// written once, with its newest record.
    pending: Ops,
    /// The batch the writer is committing: still read, as it is not yet in the backend.
    committing: Option<Arc<Ops>>,
    /// When the oldest op in `pending` was queued.
    first_pending_at: Option<Instant>,
    /// When the oldest batch committed without a sync was committed.
    unsynced_since: Option<Instant>,
    /// Sequence number of the last queued op.
    last_seq: u64,
    /// Every op with a sequence number up to this one is committed or failed.
    done_seq: u64,
    /// Every op up to this one is durable (or failed).
    durable_seq: u64,
    /// The highest op a `flush` waits to see durable.
    flush_target: u64,
    /// First key committed without a sync since the last sync: named if the sync fails.
    unsynced_key: Option<String>,
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
    /// Starts the writer thread for `backend`, committing every batch durably (`window:
    /// None`) or syncing at most `window` after a batch.
    pub(crate) fn new(backend: B, thread_name: &str, window: Option<Duration>) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            backend,
            window_ns: AtomicU64::new(window_ns(window)),
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

    /// Changes the durability window (`None`: every batch durable).
    pub(crate) fn set_window(&self, window: Option<Duration>) {
        self.shared
            .window_ns
            .store(window_ns(window), Ordering::Relaxed);
        self.shared.wake_writer.notify_one();
    }

    /// Queues a write or removal.
    pub(crate) fn push(&self, key: &str, record: Option<Vec<u8>>) {
        let mut queue = self.shared.queue.lock();
        queue.last_seq += 1;
        let first = queue.pending.is_empty();
        if first {
            queue.first_pending_at = Some(Instant::now());
        }
        queue.pending.insert(key.to_owned(), record);
        let full = queue.pending.len() == BATCH;
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

    /// The records of `keys`, in order, queued or committed.
    pub(crate) fn get_many(&self, keys: &[&str]) -> io::Result<Vec<Option<Vec<u8>>>> {
        let mut records = Vec::with_capacity(keys.len());
        let mut committed = Vec::new();
        {
            let queue = self.shared.queue.lock();
            for (i, key) in keys.iter().enumerate() {
                let queued = queue.op(key);
                if queued.is_none() {
                    committed.push(i);
                }
                records.push(queued.flatten().map(<[u8]>::to_vec));
            }
        }
        if !committed.is_empty() {
            let wanted: Vec<&str> = committed.iter().map(|&i| keys[i]).collect();
            let found = self.shared.backend.read_many(&wanted)?;
            for (i, record) in committed.into_iter().zip(found) {
                records[i] = record;
            }
        }
        Ok(records)
    }

    /// Committed keys plus queued writes, less queued removals.
    pub(crate) fn keys(&self) -> io::Result<Vec<String>> {
        // The queue is looked at first: a batch that finishes committing before the backend
        // is listed is then in the listing, where the other order would miss it.
        let queued: Vec<(String, bool)> = {
            let queue = self.shared.queue.lock();
            // The batch being committed first, then the newer pending ops.
            let committing = queue.committing.as_deref().into_iter().flatten();
            committing
                .chain(&queue.pending)
                .map(|(key, record)| (key.clone(), record.is_some()))
                .collect()
        };
        let mut keys: BTreeSet<String> = self.shared.backend.keys()?.into_iter().collect();
        for (key, stored) in queued {
            if stored {
                keys.insert(key);
            } else {
                keys.remove(&key);
            }
        }
        Ok(keys.into_iter().collect())
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

/// With a durability window, pending ops are committed (unsynced) once this many are queued,
/// so a long run's records reach the backend while it runs.
const BATCH: usize = 256;

fn window_ns(window: Option<Duration>) -> u64 {
    window.map_or(0, |w| {
        u64::try_from(w.as_nanos()).unwrap_or(u64::MAX).max(1)
    })
}

fn write_loop<B: Backend>(shared: &Shared<B>) {
    loop {
        let (batch, taken_seq, durable) = {
            let mut queue = shared.queue.lock();
            // Wait for work: ops, a flush, a stop, or the end of the durability window.
            let durable = loop {
                let asked = queue.flush_target > queue.durable_seq || queue.stop;
                let window = match shared.window_ns.load(Ordering::Relaxed) {
                    0 => None,
                    ns => Some(Duration::from_nanos(ns)),
                };
                let Some(window) = window else {
                    // No window: every batch is committed durably, at once.
                    if !queue.pending.is_empty() || asked {
                        break true;
                    }
                    shared.wake_writer.wait(&mut queue);
                    continue;
                };
                // With a window, nothing waits longer than one window to become durable; a
                // full batch is committed (unsynced) before that.
                let due = [queue.first_pending_at, queue.unsynced_since]
                    .into_iter()
                    .flatten()
                    .min()
                    .map(|oldest| oldest + window);
                if asked || due.is_some_and(|due| Instant::now() >= due) {
                    break true;
                }
                if queue.pending.len() >= BATCH {
                    break false;
                }
                match due {
                    Some(due) => {
                        shared.wake_writer.wait_until(&mut queue, due);
                    }
                    None => shared.wake_writer.wait(&mut queue),
                }
            };
            if queue.pending.is_empty() && queue.stop && queue.durable_seq == queue.done_seq {
                queue.writer_alive = false;
                shared.committed.notify_all();
                return;
            }
            // The whole pending map becomes the batch; reads find it as `committing` until
            // it is in the backend.
            let batch = Arc::new(std::mem::take(&mut queue.pending));
            queue.first_pending_at = None;
            queue.committing = Some(Arc::clone(&batch));
            (batch, queue.last_seq, durable)
        };
        let ops: Vec<Op<'_>> = batch
            .iter()
            .map(|(key, record)| Op {
                key,
                record: record.as_deref(),
            })
            .collect();
        let result = catch_unwind(AssertUnwindSafe(|| shared.backend.commit(&ops, durable)))
            .unwrap_or_else(|_| {
                Err(FailedWrite {
                    key: String::new(),
                    source: io::Error::other("the store panicked while committing"),
                })
            });
        let first_key = batch.keys().next().cloned();
        drop(ops);
        let mut queue = shared.queue.lock();
        queue.committing = None;
        if queue.unsynced_key.is_none() {
            queue.unsynced_key = first_key;
        }
        if let Err(mut failure) = result {
            if failure.key.is_empty() {
                // A failed sync loses what was committed since the last one.
                failure.key = queue.unsynced_key.clone().unwrap_or_default();
            }
            queue.failure.get_or_insert(failure);
        }
        queue.done_seq = taken_seq;
        if durable {
            queue.durable_seq = queue.done_seq;
            queue.unsynced_key = None;
            queue.unsynced_since = None;
        } else if queue.unsynced_since.is_none() {
            queue.unsynced_since = Some(Instant::now());
        }
        drop(queue);
        shared.committed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        fn commit(&self, batch: &[Op<'_>], _durable: bool) -> Result<(), FailedWrite> {
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
        fn keys(&self) -> io::Result<Vec<String>> {
            Ok(self.committed.lock().keys().cloned().collect())
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
            queue.get_many(&["b", "a", "gone", "none"]).unwrap(),
            [Some(b"b1".to_vec()), Some(b"a2".to_vec()), None, None]
        );
        assert_eq!(queue.keys().unwrap(), ["a", "b"]);
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
            queue.get_many(&["b", "a", "gone"]).unwrap(),
            [Some(b"b1".to_vec()), Some(b"a2".to_vec()), None]
        );
    }

    /// A backend that logs each commit: how many ops, and whether durable.
    #[derive(Default)]
    struct Logged(Mutex<Vec<(usize, bool)>>);

    impl Backend for Logged {
        fn read(&self, _: &str) -> io::Result<Option<Vec<u8>>> {
            Ok(None)
        }
        fn commit(&self, batch: &[Op<'_>], durable: bool) -> Result<(), FailedWrite> {
            self.0.lock().push((batch.len(), durable));
            Ok(())
        }
        fn keys(&self) -> io::Result<Vec<String>> {
            Ok(Vec::new())
        }
    }

    fn commits(queue: &WriteBehind<Logged>) -> Vec<(usize, bool)> {
        queue.shared.backend.0.lock().clone()
    }

    /// Waits up to 5 s for `queue` to have made `n` commits.
    fn wait_for_commits(queue: &WriteBehind<Logged>, n: usize) -> Vec<(usize, bool)> {
        let until = Instant::now() + Duration::from_secs(5);
        while commits(queue).len() < n && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(2));
        }
        commits(queue)
    }

    fn push_n(queue: &WriteBehind<Logged>, from: usize, n: usize) {
        for i in from..from + n {
            queue.push(&format!("k{i}"), Some(vec![1]));
        }
    }

    #[test]
    fn inside_a_window_ops_wait_for_a_full_batch_or_a_flush() {
        let window = Some(Duration::from_secs(3600));
        let queue = WriteBehind::new(Logged::default(), "logged", window).unwrap();
        push_n(&queue, 0, 10);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(commits(&queue), [], "a part batch waits");
        push_n(&queue, 10, BATCH - 10);
        assert_eq!(wait_for_commits(&queue, 1), [(BATCH, false)]);
        push_n(&queue, BATCH, 3);
        queue.flush().unwrap();
        assert_eq!(commits(&queue), [(BATCH, false), (3, true)]);
    }

    #[test]
    fn a_window_makes_ops_durable_without_a_flush() {
        let window = Some(Duration::from_millis(30));
        let queue = WriteBehind::new(Logged::default(), "logged", window).unwrap();
        push_n(&queue, 0, 1);
        assert_eq!(wait_for_commits(&queue, 1), [(1, true)]);
    }

    #[test]
    fn without_a_window_every_op_is_committed_durably_at_once() {
        let queue = WriteBehind::new(Logged::default(), "logged", None).unwrap();
        push_n(&queue, 0, 1);
        assert_eq!(wait_for_commits(&queue, 1), [(1, true)]);
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
}
