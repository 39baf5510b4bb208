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
/// entries in a [`RunLog`]. Tasks are only ever added, so a place never changes.
pub(crate) type SharedNodes = Arc<Mutex<crate::dag::Nodes>>;

/// The executed tasks of a run as it logs them: 16 bytes a task, where a [`TaskRun`] takes
/// 88. A task's key is its place in the DAG's [`SharedNodes`]; a reason with a payload
/// (rare) is kept apart, in `others`.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunLog {
    logged: Vec<Logged>,
    others: Vec<Miss>,
}

/// An executed task as a run logs it.
#[derive(Debug, Clone, Copy)]
struct Logged {
    index: u32,
    attempts: u32,
    /// [`NO_RECORD`], [`INPUTS_CHANGED`], [`FORCED`], or [`OTHERS`] plus the reason's place
    /// in [`RunLog::others`].
    reason: u32,
    persisted: bool,
}

const NO_RECORD: u32 = 0;
const INPUTS_CHANGED: u32 = 1;
const FORCED: u32 = 2;
const OTHERS: u32 = 3;

impl RunLog {
    /// Logs that the task added `index`-th ran for `reason`.
    pub(crate) fn push(&mut self, index: u32, reason: Miss, persisted: bool, attempts: u32) {
        let reason = match reason {
            Miss::NoRecord => NO_RECORD,
            Miss::InputsChanged => INPUTS_CHANGED,
            Miss::Forced => FORCED,
            other => {
                self.others.push(other);
                // Tasks are counted in `u32` (their `index`) anyway.
                u32::try_from(self.others.len() - 1)
                    .ok()
                    .and_then(|place| place.checked_add(OTHERS))
                    .expect("fewer than 2³² - 3 tasks ran for a corrupt or changed record")
            }
        };
        self.logged.push(Logged {
            index,
            attempts,
            reason,
            persisted,
        });
    }

    /// Makes room for `additional` more tasks.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.logged.reserve(additional);
    }

    /// Whether room was ever made.
    pub(crate) fn has_room(&self) -> bool {
        self.logged.capacity() > 0
    }

    /// Tasks logged.
    pub(crate) fn len(&self) -> usize {
        self.logged.len()
    }

    /// Tasks logged whose output was not stored.
    pub(crate) fn not_persisted(&self) -> usize {
        self.logged.iter().filter(|run| !run.persisted).count()
    }

    /// A logged task as its report shows it, under `key`.
    fn to_run(&self, logged: &Logged, key: TaskKey) -> TaskRun {
        let reason = match logged.reason {
            NO_RECORD => Miss::NoRecord,
            INPUTS_CHANGED => Miss::InputsChanged,
            FORCED => Miss::Forced,
            other => self.others[(other - OTHERS) as usize].clone(),
        };
        TaskRun {
            key,
            reason,
            persisted: logged.persisted,
            attempts: logged.attempts,
        }
    }
}

/// The executed tasks of a run, in completion order: derefs to `[TaskRun]` (index it,
/// iterate it, take its `len()`), and turns into a `Vec<TaskRun>`.
///
/// A run logs 16 bytes a task and builds the [`TaskRun`]s (88 bytes each) on first use, so
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
    log: RunLog,
    nodes: Option<SharedNodes>,
    runs: OnceLock<Vec<TaskRun>>,
}

impl TaskRuns {
    /// The runs logged, with the keys their indices point into.
    pub(crate) fn new(log: RunLog, nodes: SharedNodes) -> Self {
        TaskRuns {
            log,
            nodes: Some(nodes),
            runs: OnceLock::new(),
        }
    }

    fn build(&self) -> Vec<TaskRun> {
        let Some(nodes) = &self.nodes else {
            return Vec::new();
        };
        let nodes = nodes.lock();
        self.log
            .logged
            .iter()
            .map(|logged| {
                let key = nodes
                    .key(logged.index)
                    .expect("a logged task's key is in its DAG's key set (keys are only added)");
                self.log.to_run(logged, TaskKey::from(key))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_gives_back_every_reason_in_its_order() {
        let reasons = [
            Miss::Corrupt("bad checksum".into()),
            Miss::NoRecord,
            Miss::VersionChanged {
                stored: 1,
                expected: 2,
            },
            Miss::InputsChanged,
            Miss::TypeChanged {
                stored: "u32".into(),
                expected: "u64".into(),
            },
            Miss::Forced,
            Miss::Corrupt("short".into()),
        ];
        let mut log = RunLog::default();
        for (i, reason) in reasons.iter().enumerate() {
            log.push(i as u32 * 3, reason.clone(), i % 2 == 0, i as u32 + 1);
        }
        assert_eq!(log.len(), reasons.len());
        assert_eq!(log.not_persisted(), 3);
        for (i, (logged, reason)) in log.logged.iter().zip(&reasons).enumerate() {
            let run = log.to_run(logged, TaskKey::from(format!("k{i}").as_str()));
            assert_eq!(logged.index, i as u32 * 3);
            assert_eq!(run.key, format!("k{i}"));
            assert_eq!(&run.reason, reason);
            assert_eq!(run.persisted, i % 2 == 0);
            assert_eq!(run.attempts, i as u32 + 1);
        }
        assert_eq!(std::mem::size_of::<Logged>(), 16);
    }
}
