//! Fan-in past dagx's 8 inputs: a [`Family`] of nodes, reduced by [`DurableDag::reduce`]
//! through a tree of durable merge tasks of at most 8 inputs each.
//!
//! The tree groups inputs by a hash of their keys, not by position: digit `level` of the
//! hash (3 bits) picks a node's child, and a group of at most 8 inputs is merged directly.
//! Adding or removing an input therefore changes the groups on its own path only (a full
//! group that receives a ninth input splits in two levels), and every other merge keeps its
//! inputs, its key and its record. A merge's key is the reduction's key and its place in
//! the tree (`index/3.5`: level 2, child 5 of child 3); the root keeps the reduction's key.
//! Every merge checks its record against the keys of its inputs and their values (as
//! `cache = inputs` does), so a merge whose inputs changed runs again and an unchanged one
//! is restored.

use crate::dag::DurableDag;
use crate::durable::Durable;
use crate::durable::{DurableTask, ErasedInputs};
use crate::fingerprint::Fingerprint;
use crate::glue::{self, receive_erased, AddMerge, Merge, MergeFn, MergeInputs};
use crate::key::TaskKey;
use crate::options::{Cache, TaskOptions};
use crate::storing::{Persistable, Storing};
use dagx::{Pending, TaskBuilder, TaskHandle};
use futures::future::BoxFuture;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The most inputs a dagx task takes, and so a merge.
const FAN_IN: usize = 8;
/// Hash digits of 3 bits in a 64-bit hash.
const LEVELS: u32 = 21;

/// Nodes of one kind, each with its key: the members of a reduction. Built by
/// `durable_dag!` for a node declared over a range (`doc[i in 0..n] = Parse(i);`), by
/// [`DurableDag::family`], or collected from `(key, handle)` pairs.
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), duraflow::DuraflowError> {
/// use duraflow::{durable, Context, DurableDag, Family, MemoryStore};
/// use dagx::DagRunner;
/// use std::sync::Arc;
///
/// struct Count(u64);
/// #[durable(key = "count-{0}")]
/// impl Count { async fn run(&self) -> u64 { self.0 } }
///
/// let dag = DagRunner::new();
/// let d = DurableDag::new(&dag, Arc::new(Context::new(MemoryStore::new())));
/// let counts: Family<u64> = d.family((1..=100).map(Count));
/// let total = d.reduce("total", &counts, |parts: &[&u64]| parts.iter().copied().sum());
/// d.run(|f| { tokio::spawn(f); }).await?;
/// assert_eq!(dag.get(total).unwrap(), 5050);
/// assert_eq!(dag.get(counts[9]).unwrap(), 10);
/// # Ok(()) }
/// ```
pub struct Family<T> {
    members: Vec<(TaskKey, TaskHandle<T>)>,
}

impl<T> Family<T> {
    /// A family without members.
    pub fn new() -> Self {
        Family {
            members: Vec::new(),
        }
    }

    /// Adds the node added under `key` with this `handle`.
    pub fn push(&mut self, key: &str, handle: TaskHandle<T>) {
        self.members.push((TaskKey::from(key), handle));
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether it has no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Each member's key and handle, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = (&str, TaskHandle<T>)> + '_ {
        self.members
            .iter()
            .map(|(key, handle)| (key.as_str(), *handle))
    }
}

impl<T> Default for Family<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, K: AsRef<str>> FromIterator<(K, TaskHandle<T>)> for Family<T> {
    fn from_iter<I: IntoIterator<Item = (K, TaskHandle<T>)>>(members: I) -> Self {
        let mut family = Family::new();
        for (key, handle) in members {
            family.push(key.as_ref(), handle);
        }
        family
    }
}

impl<T> std::ops::Index<usize> for Family<T> {
    type Output = TaskHandle<T>;

    /// The handle of member `index`.
    ///
    /// # Panics
    /// If the family has no member `index`.
    #[track_caller]
    fn index(&self, index: usize) -> &TaskHandle<T> {
        match self.members.get(index) {
            Some((_, handle)) => handle,
            None => panic!(
                "member {index} of a family of {} nodes: the index is out of the family",
                self.members.len()
            ),
        }
    }
}

impl<T> std::fmt::Debug for Family<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<&str> = self.members.iter().map(|(key, _)| key.as_str()).collect();
        f.debug_struct("Family").field("keys", &keys).finish()
    }
}

impl<T: Persistable, I: MergeInputs<T>> DurableTask for Merge<T, I> {
    const OPTIONS: TaskOptions = TaskOptions::DEFAULT.cache(Cache::Inputs);

    fn key(&self) -> String {
        self.merge_key().to_string()
    }

    type Inputs = I;

    fn __receive(inputs: ErasedInputs) -> BoxFuture<'static, Result<I, String>> {
        receive_erased::<I>(inputs)
    }

    fn __input(inputs: I) -> I::Input {
        inputs.into_input()
    }

    fn __fingerprint_inputs(inputs: &I, fingerprint: &mut Fingerprint) -> bool {
        inputs
            .values()
            .into_iter()
            .all(|value| fingerprint.part(value))
    }

    fn __fingerprint_state(&self, fingerprint: &mut Fingerprint) -> bool {
        let keys: Vec<&str> = self.input_keys().iter().map(TaskKey::as_str).collect();
        fingerprint.part(&keys)
    }

    fn __clone(&self) -> Option<Self> {
        Some(self.clone())
    }

    fn __storing() -> Storing<T> {
        Storing::whole()
    }
}

/// A node of the tree under construction: its key, its handle and its key's hash.
struct Member<T> {
    key: TaskKey,
    handle: TaskHandle<T>,
    hash: u64,
}

/// The 64-bit hash that places a key in the tree.
fn hash_of(key: &str) -> u64 {
    let digest = Sha256::digest(key.as_bytes());
    u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
}

impl<'a> DurableDag<'a> {
    /// Adds a `#[durable]` task for each of `tasks`, under the keys from their attribute,
    /// as one [`Family`].
    ///
    /// # Panics
    /// If a key is already used in this `DurableDag`.
    #[track_caller]
    pub fn family<T>(&self, tasks: impl IntoIterator<Item = T>) -> Family<T::Output>
    where
        T: DurableTask<Input = ()> + 'static,
        T::Output: Clone,
    {
        let mut family = Family::new();
        for task in tasks {
            let key = task.key();
            let handle = self.task(task).depends_on(());
            family.push(&key, handle);
        }
        family
    }

    /// Reduces every member of `inputs` to one value with `merge`, through a tree of durable
    /// merges of at most 8 inputs each (see [`Family`]); the root's record is stored under
    /// `key`. `merge` receives the values of one group, and must give the same result
    /// however the inputs are grouped (associative, and commutative: groups follow the
    /// hash of the inputs' keys, not their order). Inner merges are named `key/3.5` (their
    /// place in the tree) in reports and events.
    ///
    /// # Panics
    /// If `key` or a merge's key is already used in this `DurableDag`.
    #[track_caller]
    pub fn reduce<T, F>(&self, key: &str, inputs: &Family<T>, merge: F) -> TaskHandle<T>
    where
        T: Persistable,
        F: Fn(&[&T]) -> T + Send + Sync + 'static,
    {
        let members = inputs
            .members
            .iter()
            .map(|(key, handle)| Member {
                key: key.clone(),
                handle: *handle,
                hash: hash_of(key),
            })
            .collect();
        let tree = Tree {
            dag: self,
            key: TaskKey::from(key),
            merge: Arc::new(merge),
        };
        tree.node(String::new(), 0, members).handle
    }
}

/// One reduction's tree, built from the root down.
struct Tree<'d, 'a, T> {
    dag: &'d DurableDag<'a>,
    key: TaskKey,
    merge: MergeFn<T>,
}

impl<T: Persistable> Tree<'_, '_, T> {
    /// The merge at `path` (its digits, `3.5`) over `members`: directly when they are at
    /// most 8, else over the groups they form by their next hash digit.
    #[track_caller]
    fn node(&self, path: String, level: u32, members: Vec<Member<T>>) -> Member<T> {
        let children = if members.len() <= FAN_IN {
            members
        } else {
            self.groups(&path, level, members)
        };
        let key = match path.as_str() {
            "" => self.key.clone(),
            path => TaskKey::from(format!("{}/{path}", self.key).as_str()),
        };
        let inputs: Vec<TaskKey> = children.iter().map(|child| child.key.clone()).collect();
        let handles: Vec<TaskHandle<T>> = children.iter().map(|child| child.handle).collect();
        let merge = Arc::clone(&self.merge);
        let adder = Adder {
            dag: self.dag,
            key: key.clone(),
            inputs,
            merge,
        };
        let handle = glue::wire_merge(adder, &handles);
        Member {
            key,
            handle,
            hash: 0,
        }
    }

    /// The children of a node over more than 8 members: one per hash digit that occurs, a
    /// lone member standing for itself. Past the hash's last digit, which only keys whose
    /// hashes agree in 63 bits reach, members are grouped by position.
    #[track_caller]
    fn groups(&self, path: &str, level: u32, members: Vec<Member<T>>) -> Vec<Member<T>> {
        let mut groups: Vec<Vec<Member<T>>> = (0..FAN_IN).map(|_| Vec::new()).collect();
        let count = members.len();
        for (position, member) in members.into_iter().enumerate() {
            let digit = match level < LEVELS {
                true => (member.hash >> (3 * level)) as usize % FAN_IN,
                false => position * FAN_IN / count,
            };
            groups[digit].push(member);
        }
        let mut children = Vec::new();
        for (digit, mut group) in groups.into_iter().enumerate() {
            let path = match path {
                "" => digit.to_string(),
                path => format!("{path}.{digit}"),
            };
            match group.len() {
                0 => {}
                1 => children.extend(group.pop()),
                _ => children.push(self.node(path, level + 1, group)),
            }
        }
        children
    }
}

/// Adds one merge of the tree, once [`glue::wire_merge`] knows its arity.
struct Adder<'d, 'a, T> {
    dag: &'d DurableDag<'a>,
    key: TaskKey,
    inputs: Vec<TaskKey>,
    merge: MergeFn<T>,
}

impl<'a, T: Persistable> AddMerge<'a, T> for Adder<'_, 'a, T> {
    #[track_caller]
    fn add<I: MergeInputs<T>>(self) -> TaskBuilder<'a, Durable<Merge<T, I>>, Pending> {
        let merge = Merge::new(self.key, self.inputs, self.merge);
        self.dag
            .task_with(merge, <Merge<T, I> as DurableTask>::OPTIONS)
    }
}
