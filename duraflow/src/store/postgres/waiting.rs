//! This worker's side of claims: its tasks waiting for another worker's record, the listener
//! that wakes them when it is stored, and its claim slots (see
//! `PostgresStore::with_max_claims`). Lives on the session thread only.

use futures::channel::oneshot;
use futures::StreamExt;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;
use tokio_postgres::tls::NoTlsStream;
use tokio_postgres::{AsyncMessage, Connection, Socket};

/// The claims this worker holds, and the claim attempts waiting for a slot.
#[derive(Default)]
pub(super) struct Held {
    /// Keys claimed and neither stored nor released: the heartbeat renews their leases.
    pub(super) keys: HashSet<String>,
    /// Those of `keys` whose tasks still run: each takes a slot.
    running: HashSet<String>,
    /// Claim attempts under way; each has reserved a slot.
    attempts: usize,
    /// Attempts waiting for a slot, first come first served.
    queue: VecDeque<oneshot::Sender<()>>,
}

impl Held {
    /// Reserves a slot for a claim attempt (`None`), or queues for one: the receiver fires
    /// when a slot may have come free. `max` is the worker's claim limit.
    pub(super) fn reserve(&mut self, max: usize) -> Option<oneshot::Receiver<()>> {
        if self.running.len() + self.attempts < max {
            self.attempts += 1;
            return None;
        }
        let (wake, woken) = oneshot::channel();
        // Entries of earlier rounds of waiting attempts are stale.
        self.queue.retain(|w| !w.is_canceled());
        self.queue.push_back(wake);
        Some(woken)
    }

    /// Ends an attempt in a reserved slot: the slot now holds `key`'s claim, or is free.
    pub(super) fn end_attempt(&mut self, key: &str, claimed: bool, max: usize) {
        self.attempts -= 1;
        if claimed {
            self.keys.insert(key.to_owned());
            self.running.insert(key.to_owned());
        }
        self.offer(max);
    }

    /// Forgets claims that ended (stored, released or lost), freeing their slots.
    pub(super) fn end<'k>(&mut self, keys: impl IntoIterator<Item = &'k str>, max: usize) {
        for key in keys {
            self.keys.remove(key);
            self.running.remove(key);
        }
        self.offer(max);
    }

    /// The task of `key` has finished: its slot is free, though the claim lasts until its
    /// record is committed.
    pub(super) fn task_done(&mut self, key: &str, max: usize) {
        self.running.remove(key);
        self.offer(max);
    }

    /// Wakes as many attempts waiting for a slot as there are free slots.
    pub(super) fn offer(&mut self, max: usize) {
        let mut free = max.saturating_sub(self.running.len() + self.attempts);
        while free > 0 {
            let Some(wake) = self.queue.pop_front() else {
                return;
            };
            if wake.send(()).is_ok() {
                free -= 1;
            }
        }
    }
}

/// Tasks waiting for records, by key; shared with the reader connection's listener.
#[derive(Clone, Default)]
pub(super) struct Waiters(Rc<RefCell<HashMap<String, Vec<oneshot::Sender<()>>>>>);

impl Waiters {
    pub(super) fn register(&self, key: &str, wake: oneshot::Sender<()>) {
        let mut waiters = self.0.borrow_mut();
        let list = waiters.entry(key.to_owned()).or_default();
        list.retain(|w| !w.is_canceled());
        list.push(wake);
    }

    /// Drops the entries of waiters of `key` that stopped waiting.
    pub(super) fn forget(&self, key: &str) {
        let mut waiters = self.0.borrow_mut();
        if let Some(list) = waiters.get_mut(key) {
            list.retain(|w| !w.is_canceled());
            if list.is_empty() {
                waiters.remove(key);
            }
        }
    }

    /// Wakes the waiters of the keys in a notification payload (everyone when empty).
    pub(super) fn wake(&self, payload: &str) {
        let woken: Vec<oneshot::Sender<()>> = {
            let mut waiters = self.0.borrow_mut();
            if payload.is_empty() {
                waiters.drain().flat_map(|(_, list)| list).collect()
            } else {
                payload
                    .split('\n')
                    .filter_map(|key| waiters.remove(key))
                    .flatten()
                    .collect()
            }
        };
        for wake in woken {
            let _ = wake.send(());
        }
    }
}

/// Drives the reader connection, handing notifications of committed records to the waiters.
pub(super) async fn listen(waiters: Waiters, mut connection: Connection<Socket, NoTlsStream>) {
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    while let Some(Ok(message)) = messages.next().await {
        if let AsyncMessage::Notification(notification) = message {
            waiters.wake(notification.payload());
        }
    }
    // The connection is gone: waiters check again (and reconnect, or fail with the error).
    waiters.wake("");
}
