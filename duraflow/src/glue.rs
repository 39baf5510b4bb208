//! Everything that touches dagx 0.3.1's hidden `Task::extract_and_run` and its channel
//! types lives here, so porting to dagx's `Task<Input>` / `TaskInput` is a change to this
//! file only.
//!
//! dagx hands a task one erased `futures::channel::oneshot::Receiver<Arc<Output>>` per
//! dependency, in the order of `depends_on`, and turns any `Err` from `extract_and_run` into
//! `DagError::InvalidDependency`. Durable tasks therefore keep their real error in the run
//! log of their `DurableDag` and give dagx only a message.

use crate::durable::{Durable, ErasedInputs};
use dagx::{Pending, Task, TaskBuilder, TaskHandle};
use futures::channel::oneshot;
use futures::future::BoxFuture;
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
    /// `InvalidDependency`, gets its message.
    async fn extract_and_run(self, receivers: Receivers) -> Result<Self::Output, String> {
        {
            let shared = Arc::clone(self.shared());
            let result = match self.receive() {
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
                    self.execute(prepare).await
                }
                // A plain dagx task receives its own inputs, once.
                None => {
                    let mut receivers = Some(receivers);
                    let start = move |task: T| {
                        let receivers = receivers.take();
                        async move {
                            match receivers {
                                Some(receivers) => task.extract_and_run(receivers).await,
                                None => Err("the inputs were already taken by an earlier attempt"
                                    .to_owned()),
                            }
                        }
                    };
                    self.execute(std::future::ready((None, start))).await
                }
            };
            result.map_err(|error| {
                let message = error.to_string();
                if let Some(run) = &shared.run {
                    run.fail(error);
                }
                message
            })
        }
    }
}

/// Receives a `#[durable]` task's inputs as a tuple and runs it (the body of the
/// `extract_and_run` that [`__dagx_task!`] writes).
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
