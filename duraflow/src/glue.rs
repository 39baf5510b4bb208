//! Everything that touches dagx 0.3.1's hidden `Task::extract_and_run` and its channel
//! types lives here, so porting to dagx's `Task<Input>` / `TaskInput` is a change to this
//! file only.
//!
//! dagx hands a task one erased `futures::channel::oneshot::Receiver<Arc<Output>>` per
//! dependency, in the order of `depends_on`, and turns any `Err` from `extract_and_run` into
//! `DagError::InvalidDependency`. Durable tasks therefore keep their real error in the run
//! log of their `DurableDag` and give dagx only a message.

use crate::durable::{direct, Durable, DurableTask, Persistable, Report, Shared, ToCaller};
use crate::fingerprint::Fingerprint;
use crate::DuraflowError;
use dagx::{DagRunner, Pending, Task, TaskBuilder, TaskHandle};
use futures::channel::oneshot;
use futures::future::{self, BoxFuture, Either, FutureExt};
use std::any::Any;
use std::future::Future;
use std::sync::Arc;

/// dagx's erased channel receivers.
type Receivers = Vec<Box<dyn Any + Send>>;

impl<T> Task for Durable<T>
where
    T: Task + 'static,
    T::Input: Clone,
    T::Output: Persistable,
{
    type Input = T::Input;
    type Output = T::Output;

    /// Runs durably. A failure (panic, persist error) panics with the error's message, as
    /// `Task::run` has no error channel; use [`Durable::run_result`] to get the error.
    async fn run(self, input: Self::Input) -> Self::Output {
        match self.execute::<ToCaller, _, _, _>(direct(input)).await {
            Ok(output) => output,
            Err(error) => panic!("{error}"),
        }
    }

    /// Built without `async fn` (like `Durable::execute`), so that `self` is held once.
    fn extract_and_run(
        self,
        receivers: Receivers,
    ) -> impl Future<Output = Result<Self::Output, String>> + Send {
        match self.split() {
            // duraflow receives the inputs itself: it can fingerprint them and retry.
            Some(split) => Either::Left(self.execute::<ToRun, _, _, _>(async move {
                let (input, fingerprint) = match (split.receive)(receivers).await {
                    Ok((input, fingerprint)) => (Ok(input), fingerprint),
                    Err(reason) => (Err(reason), None),
                };
                // Futures, not `async` blocks: a block would hold `task` and the input twice,
                // once captured and once inside `run`'s future.
                let attempt = move |task: T| match input.clone() {
                    Ok(input) => Either::Left(task.run(input).map(Ok)),
                    Err(reason) => Either::Right(future::ready(Err(reason))),
                };
                (fingerprint, attempt)
            })),
            // A plain dagx task receives its own inputs, once.
            None => {
                let mut receivers = Some(receivers);
                let attempt = move |task: T| match receivers.take() {
                    Some(receivers) => Either::Left(task.extract_and_run(receivers)),
                    None => Either::Right(future::ready(Err(
                        "the inputs were already taken by an earlier attempt".to_owned(),
                    ))),
                };
                Either::Right(self.execute::<ToRun, _, _, _>(future::ready((None, attempt))))
            }
        }
    }
}

/// A durable node's error stays in its run's log; dagx gets its message.
struct ToRun;

impl Report for ToRun {
    type Error = String;

    fn report<O>(result: Result<O, DuraflowError>, shared: &Shared) -> Result<O, String> {
        result.map_err(|error| {
            let message = error.to_string();
            if let Some(state) = &shared.run {
                state.fail(error);
            }
            message
        })
    }
}

/// dagx's input of a task, received by duraflow, with the inputs' fingerprint parts
/// (`None` when one input cannot be serialized).
type Received<T> = Result<(<T as Task>::Input, Option<Fingerprint>), String>;

/// How duraflow receives a `#[durable]` task's inputs itself, fingerprints its state and
/// clones it for retries: plain function pointers, set by `DurableDag::task`.
pub(crate) struct Split<T: Task> {
    /// Receives the inputs; returns dagx's input and the inputs' fingerprint parts (`None`
    /// when one input cannot be serialized).
    pub(crate) receive: fn(Receivers) -> BoxFuture<'static, Received<T>>,
    /// Adds the task's fields to a fingerprint.
    pub(crate) fingerprint_state: fn(&T, &mut Fingerprint) -> bool,
    /// A copy of the task for another attempt.
    pub(crate) clone: fn(&T) -> Option<T>,
}

impl<T: Task> Clone for Split<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Task> Copy for Split<T> {}

impl<T: DurableTask> Split<T> {
    /// The split of a `#[durable]` task type (wrappers hold this function, not the split).
    pub(crate) fn of() -> Self {
        Split {
            receive: receive_split::<T>,
            fingerprint_state: T::__fingerprint_state,
            clone: T::__clone,
        }
    }
}

fn receive_split<T: DurableTask>(receivers: Receivers) -> BoxFuture<'static, Received<T>> {
    Box::pin(async move {
        let inputs = receive_inputs::<T::Inputs>(receivers).await?;
        let mut fingerprint = Fingerprint::new();
        let complete = T::__fingerprint_inputs(&inputs, &mut fingerprint);
        Ok((T::__input(inputs), complete.then_some(fingerprint)))
    })
}

/// The inputs of a `#[durable]` task's `run`, as a tuple: `()`, `(A,)`, `(A, B)`, … up to 8.
pub trait InputTuple: Sized + Send + 'static {
    /// Number of inputs.
    const ARITY: usize;
    /// Receives the inputs from dagx's channels, in dependency order.
    fn receive(receivers: Receivers) -> impl Future<Output = Result<Self, String>> + Send;
}

/// Receives the task's inputs from dagx's erased receivers (used by `#[durable]`'s
/// generated `extract_and_run`).
pub async fn receive_inputs<I: InputTuple>(receivers: Receivers) -> Result<I, String> {
    if receivers.len() != I::ARITY {
        return Err(format!(
            "expected {} dependencies, got {}",
            I::ARITY,
            receivers.len()
        ));
    }
    I::receive(receivers).await
}

impl InputTuple for () {
    const ARITY: usize = 0;
    async fn receive(_: Receivers) -> Result<Self, String> {
        Ok(())
    }
}

fn receiver<A: 'static>(
    erased: Option<Box<dyn Any + Send>>,
    index: usize,
) -> Result<oneshot::Receiver<Arc<A>>, String> {
    erased
        .ok_or_else(|| format!("input {index} is missing"))?
        .downcast::<oneshot::Receiver<Arc<A>>>()
        .map(|rx| *rx)
        .map_err(|_| format!("input {index} is not a `{}`", std::any::type_name::<A>()))
}

async fn value<A: Clone>(rx: oneshot::Receiver<Arc<A>>, index: usize) -> Result<A, String> {
    rx.await
        .map(|arc| A::clone(&arc))
        .map_err(|_| format!("input {index} never arrived: the task producing it failed"))
}

macro_rules! input_tuple {
    ($n:literal; $($A:ident $rx:ident $i:tt),+) => {
        impl<$($A: Clone + Send + Sync + 'static),+> InputTuple for ($($A,)+) {
            const ARITY: usize = $n;
            async fn receive(receivers: Receivers) -> Result<Self, String> {
                let mut erased = receivers.into_iter();
                $(let $rx = receiver::<$A>(erased.next(), $i)?;)+
                Ok(($(value($rx, $i).await?,)+))
            }
        }
    };
}

input_tuple!(1; A a 0);
input_tuple!(2; A a 0, B b 1);
input_tuple!(3; A a 0, B b 1, C c 2);
input_tuple!(4; A a 0, B b 1, C c 2, D d 3);
input_tuple!(5; A a 0, B b 1, C c 2, D d 3, E e 4);
input_tuple!(6; A a 0, B b 1, C c 2, D d 3, E e 4, F f 5);
input_tuple!(7; A a 0, B b 1, C c 2, D d 3, E e 4, F f 5, G g 6);
input_tuple!(8; A a 0, B b 1, C c 2, D d 3, E e 4, F f 5, G g 6, H h 7);

/// A task with no inputs (its dagx `Input` is `()`).
#[diagnostic::on_unimplemented(
    message = "this task's `run` takes inputs, but the node has no dependencies",
    label = "needs dependencies",
    note = "give the node its dependencies with `<-`: `name = Task <- dep` or `<- (a, b)`"
)]
pub trait NoInputs: Sized {
    /// Turns the builder of a task without inputs into its handle.
    fn handle<'a, T: Task<Input = Self>>(
        builder: TaskBuilder<'a, T, Pending>,
    ) -> TaskHandle<T::Output>;
}

impl NoInputs for () {
    fn handle<'a, T: Task<Input = ()>>(
        builder: TaskBuilder<'a, T, Pending>,
    ) -> TaskHandle<T::Output> {
        builder.depends_on(())
    }
}

/// The handle of a node without dependencies (used by `durable_dag!`).
pub fn handle<T>(builder: TaskBuilder<'_, T, Pending>) -> TaskHandle<T::Output>
where
    T: Task,
    T::Input: NoInputs,
{
    <T::Input as NoInputs>::handle(builder)
}

/// Dependencies that match a task's inputs: one handle for one input, a tuple of handles
/// for several.
#[diagnostic::on_unimplemented(
    message = "the dependencies given with `<-` do not match the inputs of this task's `run`",
    label = "expected dependencies producing `{Input}`",
    note = "a task whose `run` takes N inputs needs N dependencies, in order, each producing the type of its input"
)]
pub trait Deps<Input> {
    /// Wires `builder` to these dependencies.
    fn wire<'a, T: Task<Input = Input>>(
        self,
        builder: TaskBuilder<'a, T, Pending>,
    ) -> TaskHandle<T::Output>;
}

impl<A> Deps<A> for TaskHandle<A> {
    fn wire<'a, T: Task<Input = A>>(
        self,
        builder: TaskBuilder<'a, T, Pending>,
    ) -> TaskHandle<T::Output> {
        builder.depends_on(self)
    }
}

impl<A> Deps<A> for (TaskHandle<A>,) {
    fn wire<'a, T: Task<Input = A>>(
        self,
        builder: TaskBuilder<'a, T, Pending>,
    ) -> TaskHandle<T::Output> {
        builder.depends_on(self.0)
    }
}

macro_rules! deps_tuple {
    ($($A:ident $i:tt),+) => {
        impl<$($A),+> Deps<($($A,)+)> for ($(TaskHandle<$A>,)+) {
            fn wire<'a, T: Task<Input = ($($A,)+)>>(
                self,
                builder: TaskBuilder<'a, T, Pending>,
            ) -> TaskHandle<T::Output> {
                builder.depends_on(($(&self.$i,)+))
            }
        }
    };
}

deps_tuple!(A 0, B 1);
deps_tuple!(A 0, B 1, C 2);
deps_tuple!(A 0, B 1, C 2, D 3);
deps_tuple!(A 0, B 1, C 2, D 3, E 4);
deps_tuple!(A 0, B 1, C 2, D 3, E 4, F 5);
deps_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
deps_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

/// Wires a node to its dependencies (used by `durable_dag!`).
pub fn wire<T, D>(builder: TaskBuilder<'_, T, Pending>, deps: D) -> TaskHandle<T::Output>
where
    T: Task,
    D: Deps<T::Input>,
{
    deps.wire(builder)
}

/// A task that does nothing: added by [`only_durable_nodes`] to learn a node id.
struct Probe;

#[dagx::task]
impl Probe {
    async fn run(&self) -> () {}
}

/// Whether `dag` holds no other nodes than the `durable` ones a `DurableDag` added (all of
/// which catch their own panics). dagx 0.3.1 numbers nodes in order from 0 and names the id
/// of a handle without output in `DagError::ResultNotFound`, so a probe node added now tells
/// how many nodes came before it. The probe is a no-op task run with the first layer (a
/// source: dagx hands out handles of sources only). Any other answer (another numbering,
/// say) counts as foreign nodes: the caller then keeps guarding against their panics.
pub(crate) fn only_durable_nodes(dag: &DagRunner, durable: usize) -> bool {
    let probe: TaskHandle<()> = dag.add_task(Probe).into();
    matches!(
        dag.get(probe),
        Err(dagx::DagError::ResultNotFound { task_id }) if task_id == durable
    )
}

/// Whether a task with input `I` is a source: dagx wires no dependency to a task whose
/// input is `()`.
pub(crate) fn is_source<I: 'static>() -> bool {
    std::any::TypeId::of::<I>() == std::any::TypeId::of::<()>()
}

#[cfg(test)]
mod tests {
    use crate::{Context, DurableDag, MemoryStore};
    use dagx::{task, DagRunner, Task};
    use futures::future::BoxFuture;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    struct Src;
    #[task]
    impl Src {
        async fn run(&self) -> u8 {
            1
        }
    }

    struct Inc;
    #[task]
    impl Inc {
        async fn run(x: &u8) -> u8 {
            x + 1
        }
    }

    fn durable_dag(dag: &DagRunner, tasks: usize) -> DurableDag<'_> {
        let d = DurableDag::new(dag, Arc::new(Context::new(MemoryStore::new())));
        for i in 0..tasks {
            d.add(&format!("t{i}"), Src);
        }
        d
    }

    #[test]
    fn a_dag_of_durable_tasks_only_has_no_foreign_node() {
        let dag = DagRunner::new();
        assert!(durable_dag(&dag, 3).only_durable_nodes());
    }

    #[test]
    fn a_plain_task_beside_durable_ones_is_foreign() {
        let dag = DagRunner::new();
        let d = durable_dag(&dag, 3);
        dag.add_task(Src);
        assert!(!d.only_durable_nodes());
    }

    #[test]
    fn a_second_probe_counts_the_first_as_foreign() {
        let dag = DagRunner::new();
        let d = durable_dag(&dag, 2);
        assert!(d.only_durable_nodes());
        assert!(!d.only_durable_nodes());
    }

    #[test]
    fn an_empty_durable_dag_has_no_foreign_node() {
        let dag = DagRunner::new();
        assert!(durable_dag(&dag, 0).only_durable_nodes());
    }

    /// dagx runs a layer of one task inline. The probe makes a chain's first layer two
    /// tasks; its source must still not be spawned and waited for.
    #[tokio::test]
    async fn a_chain_is_run_without_spawning() {
        static SPAWNED: AtomicUsize = AtomicUsize::new(0);
        fn spawn(task: BoxFuture<'static, ()>) {
            SPAWNED.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(task);
        }
        let dag = DagRunner::new();
        let d = DurableDag::new(&dag, Arc::new(Context::new(MemoryStore::new())));
        let mut last = d.add("a", Src).into();
        for key in ["b", "c", "d"] {
            last = d.add(key, Inc).depends_on(last);
        }
        let report = d.run(spawn).await.unwrap();
        assert_eq!((report.executed, dag.get(last).unwrap()), (4, 4));
        assert_eq!(SPAWNED.load(Ordering::SeqCst), 0);
    }
}
