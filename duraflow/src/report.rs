//! What a run did: `RunReport`, with the executed tasks kept as a compact log during the run
//! and turned into [`TaskRun`]s only when someone looks at them.

use crate::codec::Miss;
use crate::key::TaskKey;
use parking_lot::Mutex;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

/// One executed task of a run, and why it ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRun {
    /// The task's key.
    pub key: TaskKey,
    /// Why no stored record was used.
    pub reason: Miss,
    /// False when the output was a `Result::Err` (passed downstream, not stored).
    pub persisted: bool,
    /// Attempts made (more than 1 after retries).
    pub attempts: u32,
}

/// What a [`DurableDag::run`](crate::DurableDag::run) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Tasks that ran.
    pub executed: usize,
    /// Tasks whose output came from the store.
    pub restored: usize,
    /// Tasks that ran but whose output (`Result::Err`) was not stored.
    pub not_persisted: usize,
    /// Every executed task with the reason it ran, in completion order.
    pub runs: TaskRuns,
}

/// What a `DurableDag` knows of its tasks, shared with the reports of its runs: the keys in
/// the order the tasks were added, a task's place among them being the `index` of its
/// [`Logged`] entries. Tasks are only ever added, so a place never changes.
pub(crate) type SharedNodes = Arc<Mutex<crate::dag::Nodes>>;

/// An executed task as a run logs it: 24 bytes, where a [`TaskRun`] takes 88. The key is the
/// task's place in the DAG's [`SharedNodes`]; a reason with a payload (rare) is boxed.
#[derive(Debug, Clone)]
pub(crate) struct Logged {
    index: u32,
    reason: Reason,
    attempts: u32,
    persisted: bool,
}

#[derive(Debug, Clone)]
enum Reason {
    NoRecord,
    InputsChanged,
    Forced,
    Other(Box<Miss>),
}

impl Logged {
    /// The task added `index`-th ran for `reason`.
    pub(crate) fn new(index: u32, reason: Miss, persisted: bool, attempts: u32) -> Self {
        let reason = match reason {
            Miss::NoRecord => Reason::NoRecord,
            Miss::InputsChanged => Reason::InputsChanged,
            Miss::Forced => Reason::Forced,
            other => Reason::Other(Box::new(other)),
        };
        Logged {
            index,
            reason,
            attempts,
            persisted,
        }
    }

    pub(crate) fn persisted(&self) -> bool {
        self.persisted
    }

    fn to_run(&self, key: TaskKey) -> TaskRun {
        let reason = match &self.reason {
            Reason::NoRecord => Miss::NoRecord,
            Reason::InputsChanged => Miss::InputsChanged,
            Reason::Forced => Miss::Forced,
            Reason::Other(miss) => Miss::clone(miss),
        };
        TaskRun {
            key,
            reason,
            persisted: self.persisted,
            attempts: self.attempts,
        }
    }
}

/// The executed tasks of a run, in completion order: derefs to `[TaskRun]` (index it,
/// iterate it, take its `len()`), and turns into a `Vec<TaskRun>`.
///
/// A run logs 24 bytes a task and builds the [`TaskRun`]s (88 bytes each) on first use, so
/// a run whose report is only counted does not pay for them. Until then it keeps the keys of
/// its `DurableDag` alive (shared, not copied), even after the DAG is dropped.
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), duraflow::DuraflowError> {
/// use duraflow::{Context, DurableDag, MemoryStore, Miss};
/// use dagx::{task, DagRunner, Task};
/// use std::sync::Arc;
///
/// struct Load(i32);
/// #[task]
/// impl Load { async fn run(&self) -> i32 { self.0 } }
///
/// let dag = DagRunner::new();
/// let d = DurableDag::new(&dag, Arc::new(Context::new(MemoryStore::new())));
/// d.add("load", Load(1));
/// let report = d.run(|f| { tokio::spawn(f); }).await?;
/// assert_eq!(report.runs.len(), 1);
/// assert_eq!(report.runs[0].key, "load");
/// assert_eq!(report.runs[0].reason, Miss::NoRecord);
/// let runs: Vec<duraflow::TaskRun> = report.runs.into();
/// assert!(runs[0].persisted);
/// # Ok(()) }
/// ```
#[derive(Default, Clone)]
pub struct TaskRuns {
    logged: Vec<Logged>,
    nodes: Option<SharedNodes>,
    runs: OnceLock<Vec<TaskRun>>,
}

impl TaskRuns {
    /// The runs logged, with the keys their indices point into.
    pub(crate) fn new(logged: Vec<Logged>, nodes: SharedNodes) -> Self {
        TaskRuns {
            logged,
            nodes: Some(nodes),
            runs: OnceLock::new(),
        }
    }

    fn build(&self) -> Vec<TaskRun> {
        let Some(nodes) = &self.nodes else {
            return Vec::new();
        };
        let nodes = nodes.lock();
        self.logged
            .iter()
            .map(|logged| {
                let key = nodes
                    .key(logged.index)
                    .expect("a logged task's key is in its DAG's key set (keys are only added)");
                logged.to_run(TaskKey::from(key))
            })
            .collect()
    }
}

impl Deref for TaskRuns {
    type Target = [TaskRun];

    fn deref(&self) -> &[TaskRun] {
        self.runs.get_or_init(|| self.build())
    }
}

impl From<TaskRuns> for Vec<TaskRun> {
    fn from(mut runs: TaskRuns) -> Self {
        runs.runs.take().unwrap_or_else(|| runs.build())
    }
}

impl IntoIterator for TaskRuns {
    type Item = TaskRun;
    type IntoIter = std::vec::IntoIter<TaskRun>;

    fn into_iter(self) -> Self::IntoIter {
        Vec::from(self).into_iter()
    }
}

impl<'a> IntoIterator for &'a TaskRuns {
    type Item = &'a TaskRun;
    type IntoIter = std::slice::Iter<'a, TaskRun>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl fmt::Debug for TaskRuns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for TaskRuns {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for TaskRuns {}

impl PartialEq<[TaskRun]> for TaskRuns {
    fn eq(&self, other: &[TaskRun]) -> bool {
        **self == *other
    }
}

impl PartialEq<Vec<TaskRun>> for TaskRuns {
    fn eq(&self, other: &Vec<TaskRun>) -> bool {
        **self == **other
    }
}

impl<const N: usize> PartialEq<[TaskRun; N]> for TaskRuns {
    fn eq(&self, other: &[TaskRun; N]) -> bool {
        **self == *other
    }
}
