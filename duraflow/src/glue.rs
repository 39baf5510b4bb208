//! Everything that touches dagx 0.3.1's hidden `Task::extract_and_run` and its channel
//! types lives here, so porting to dagx's `Task<Input>` / `TaskInput` is a change to this
//! file only.
//!
//! dagx hands a task one erased `futures::channel::oneshot::Receiver<Arc<Output>>` per
//! dependency, in the order of `depends_on`, and turns any `Err` from `extract_and_run` into
//! `DagError::InvalidDependency`. Durable tasks therefore keep their real error in the run
//! log of their `DurableDag` and give dagx only a message.

use crate::durable::{Durable, ErasedInputs};
use crate::key::TaskKey;
use dagx::{Pending, Task, TaskBuilder, TaskHandle};
use futures::channel::oneshot;
use futures::future::{BoxFuture, Either};
use futures::FutureExt;
use std::any::Any;
use std::future::Future;
use std::sync::Arc;

/// dagx's erased channel receivers.
type Receivers = Vec<Box<dyn Any + Send>>;

impl<T> Task for Durable<T>
where
    T: Task + 'static,
    T::Input: Clone,
{
    type Input = T::Input;
    type Output = T::Output;

    /// Runs durably. A failure (panic, persist error) panics with the error's message, as
    /// `Task::run` has no error channel; use [`Durable::run_result`] to get the error.
    async fn run(self, input: Self::Input) -> Self::Output {
        match self.execute_direct(input).await {
            Ok(output) => output,
            Err(error) => panic!("{error}"),
        }
    }

    /// The task's real error is kept in its run's state; dagx, which turns any error into
    /// `InvalidDependency`, gets its message. The future is boxed here: dagx moves it
    /// several times before it runs, and a pointer moves faster than a whole task.
    fn extract_and_run(
        self,
        receivers: Receivers,
    ) -> impl Future<Output = Result<Self::Output, String>> + Send {
        let shared = Arc::clone(self.shared());
        let run = match self.receive() {
            // duraflow receives the inputs itself: it can fingerprint them and retry.
            Some(receive) => {
                let prepare = async move {
                    let (input, fingerprint) = match receive(Box::new(receivers)).await {
                        Ok((input, fingerprint)) => (Ok(input), fingerprint),
                        Err(reason) => (Err(reason), None),
                    };
                    let start = move |task: T| {
                        let input = input.clone();
                        async move { Ok(task.run(input?).await) }
                    };
                    (fingerprint, start)
                };
                Either::Left(self.execute(prepare))
            }
            // A plain dagx task receives its own inputs, once.
            None => {
                let mut receivers = Some(receivers);
                let start =
                    move |task: T| {
                        let receivers = receivers.take();
                        async move {
                            match receivers {
                                Some(receivers) => task.extract_and_run(receivers).await,
                                None => Err("the inputs were already taken by an earlier attempt"
                                    .to_owned()),
                            }
                        }
                    };
                Either::Right(self.execute(std::future::ready((None, start))))
            }
        };
        let boxed: BoxFuture<'static, _> = Box::pin(run.map(move |result| {
            result.map_err(|error| {
                let message = error.to_string();
                if let Some(run) = &shared.run {
                    run.fail(error);
                }
                message
            })
        }));
        boxed
    }
}

/// Receives a `#[durable]` task's inputs as a tuple and runs it (the body of the
/// `extract_and_run` that `__dagx_task!` writes).
pub async fn extract_and_run<T: Task, I: InputTuple>(
    task: T,
    receivers: Receivers,
    into: impl FnOnce(I) -> T::Input + Send,
) -> Result<T::Output, String> {
    let inputs = receive_inputs::<I>(receivers).await?;
    Ok(task.run(into(inputs)).await)
}

/// Receives a `#[durable]` task's inputs as a tuple from what dagx handed over (the body of
/// the generated `DurableTask::__receive`).
pub fn receive_erased<I: InputTuple>(
    inputs: ErasedInputs,
) -> BoxFuture<'static, Result<I, String>> {
    Box::pin(async move {
        match inputs.downcast::<Receivers>() {
            Ok(receivers) => receive_inputs::<I>(*receivers).await,
            Err(_) => Err("the inputs were not handed over by dagx".to_owned()),
        }
    })
}

/// The dagx `Task` impl of a `#[durable]` task, generated here so that dagx's hidden
/// `extract_and_run` is spelled in this module only. The attribute passes the impl's head,
/// the input types with the pattern and expression that turn their tuple into dagx's
/// `Input`, and the items it writes itself (`Input`, `Output`, `run`).
#[doc(hidden)]
#[macro_export]
macro_rules! __dagx_task {
    ({ $($head:tt)* } inputs: ($($input:ty),*) => |$tuple:pat_param| $into:expr; { $($items:tt)* }) => {
        $($head)* {
            $($items)*

            fn extract_and_run(
                self,
                receivers: ::std::vec::Vec<
                    ::std::boxed::Box<dyn ::core::any::Any + ::core::marker::Send>,
                >,
            ) -> impl ::core::future::Future<
                Output = ::core::result::Result<Self::Output, ::std::string::String>,
            > + ::core::marker::Send {
                $crate::__extract_and_run::<Self, ($($input,)*)>(self, receivers, |$tuple| $into)
            }
        }
    };
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

/// A user's merge of several outputs into one.
pub(crate) type MergeFn<T> = Arc<dyn Fn(&[&T]) -> T + Send + Sync>;

/// One merge of a reduction (see [`crate::Family`]): a durable task over up to 8 inputs
/// `I`, a tuple of `T`s.
pub(crate) struct Merge<T, I> {
    key: TaskKey,
    /// The keys of its inputs, which its record is checked against.
    inputs: Vec<TaskKey>,
    merge: MergeFn<T>,
    _inputs: std::marker::PhantomData<fn() -> I>,
}

impl<T, I> Merge<T, I> {
    pub(crate) fn new(key: TaskKey, inputs: Vec<TaskKey>, merge: MergeFn<T>) -> Self {
        Merge {
            key,
            inputs,
            merge,
            _inputs: std::marker::PhantomData,
        }
    }

    /// Its key.
    pub(crate) fn merge_key(&self) -> &TaskKey {
        &self.key
    }

    /// The keys of its inputs, in order.
    pub(crate) fn input_keys(&self) -> &[TaskKey] {
        &self.inputs
    }
}

impl<T, I> Clone for Merge<T, I> {
    fn clone(&self) -> Self {
        Merge::new(
            self.key.clone(),
            self.inputs.clone(),
            Arc::clone(&self.merge),
        )
    }
}

/// Tuples of up to 8 `T`s: the inputs of a [`Merge`] as duraflow receives them.
pub(crate) trait MergeInputs<T>: InputTuple + Clone + Sync {
    /// dagx's `Input` of a task over these inputs: the tuple, or the value alone for one.
    type Input: Clone + Send + Sync + 'static;
    /// dagx's `Input` from the tuple.
    fn into_input(self) -> Self::Input;
    /// References to each input of dagx's `Input`, in order.
    fn refs(input: &Self::Input) -> Vec<&T>;
    /// References to each input of the tuple, in order.
    fn values(&self) -> Vec<&T>;
}

macro_rules! merge_inputs {
    ($($T:ident $i:tt),*) => {
        impl<T: Clone + Send + Sync + 'static> MergeInputs<T> for ($($T,)*) {
            type Input = Self;
            fn into_input(self) -> Self {
                self
            }
            fn refs(input: &Self) -> Vec<&T> {
                input.values()
            }
            fn values(&self) -> Vec<&T> {
                vec![$(&self.$i),*]
            }
        }
    };
}

impl<T: Clone + Send + Sync + 'static> MergeInputs<T> for (T,) {
    type Input = T;
    fn into_input(self) -> T {
        self.0
    }
    fn refs(input: &T) -> Vec<&T> {
        vec![input]
    }
    fn values(&self) -> Vec<&T> {
        vec![&self.0]
    }
}

merge_inputs!();
merge_inputs!(T 0, T 1);
merge_inputs!(T 0, T 1, T 2);
merge_inputs!(T 0, T 1, T 2, T 3);
merge_inputs!(T 0, T 1, T 2, T 3, T 4);
merge_inputs!(T 0, T 1, T 2, T 3, T 4, T 5);
merge_inputs!(T 0, T 1, T 2, T 3, T 4, T 5, T 6);
merge_inputs!(T 0, T 1, T 2, T 3, T 4, T 5, T 6, T 7);

impl<T, I> Task for Merge<T, I>
where
    T: Clone + Send + Sync + 'static,
    I: MergeInputs<T>,
{
    type Input = I::Input;
    type Output = T;

    async fn run(self, input: I::Input) -> T {
        (self.merge)(&I::refs(&input))
    }

    fn extract_and_run(
        self,
        receivers: Receivers,
    ) -> impl Future<Output = Result<T, String>> + Send {
        extract_and_run::<Self, I>(self, receivers, I::into_input)
    }
}

/// Adds one merge once its arity is known (implemented where the DAG is).
pub(crate) trait AddMerge<'a, T: Clone + Send + Sync + 'static> {
    /// Adds the merge over inputs `I`.
    fn add<I: MergeInputs<T>>(self) -> TaskBuilder<'a, Durable<Merge<T, I>>, Pending>;
}

/// Adds a merge over `inputs` (at most 8) with `adder` and wires it: the merge's input
/// tuple, and dagx's dependency tuple, follow the number of inputs.
#[track_caller]
pub(crate) fn wire_merge<'a, T, A>(adder: A, inputs: &[TaskHandle<T>]) -> TaskHandle<T>
where
    T: Clone + Send + Sync + 'static,
    A: AddMerge<'a, T>,
{
    match inputs {
        [] => adder.add::<()>().depends_on(()),
        [a] => adder.add::<(T,)>().depends_on(a),
        [a, b] => adder.add::<(T, T)>().depends_on((a, b)),
        [a, b, c] => adder.add::<(T, T, T)>().depends_on((a, b, c)),
        [a, b, c, d] => adder.add::<(T, T, T, T)>().depends_on((a, b, c, d)),
        [a, b, c, d, e] => adder.add::<(T, T, T, T, T)>().depends_on((a, b, c, d, e)),
        [a, b, c, d, e, f] => adder
            .add::<(T, T, T, T, T, T)>()
            .depends_on((a, b, c, d, e, f)),
        [a, b, c, d, e, f, g] => adder
            .add::<(T, T, T, T, T, T, T)>()
            .depends_on((a, b, c, d, e, f, g)),
        [a, b, c, d, e, f, g, h] => adder
            .add::<(T, T, T, T, T, T, T, T)>()
            .depends_on((a, b, c, d, e, f, g, h)),
        more => unreachable!("a merge takes at most 8 inputs, not {}", more.len()),
    }
}
