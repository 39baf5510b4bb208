//! Procedural macros for [duraflow](https://docs.rs/duraflow): `#[durable]` and `durable_dag!`.
//!
//! Use them through `duraflow` (`use duraflow::{durable, durable_dag};`): the generated code
//! names the runtime by absolute path (`::duraflow::__private`), so this crate is not useful
//! on its own.
//!
//! Each macro parses into a typed AST, validates it (collecting every error), and only then
//! generates code. All of that works on `proc_macro2` types, so it is unit-tested here; the
//! compile errors users see are pinned by the trybuild cases in `ui-tests/`.
#![warn(missing_docs)]

mod dag;
mod durable;
mod errors;
mod key_rules;

use proc_macro::TokenStream;

/// Makes a dagx task durable: its output is stored under a key and restored on the next run.
///
/// Put it on the inherent `impl` block that holds the task's `run` method, in place of dagx's
/// `#[task]`. It emits the dagx `Task` impl (so `use dagx::Task` is not needed) and an impl of
/// `duraflow::DurableTask` carrying the key, the version and the options. Add the task with
/// `DurableDag::task`, or as a node of [`durable_dag!`].
///
/// ```
/// use dagx::DagRunner;
/// use duraflow::{durable, Context, DurableDag, DurableTask, MemoryStore};
/// use std::sync::Arc;
///
/// struct Load(i32);
///
/// #[durable(key = "load-{0}")] // field 0's Display: Load(5) is stored under "load-5"
/// impl Load {
///     async fn run(&self) -> i32 {
///         self.0
///     }
/// }
///
/// struct Scale {
///     factor: i32,
/// }
///
/// #[durable(key = "scale-by-{factor}", version = 2)] // records of other versions are not reused
/// impl Scale {
///     fn run(&mut self, x: &i32) -> i32 {
///         x * self.factor
///     }
/// }
///
/// # #[tokio::main] async fn main() {
/// assert_eq!(Scale { factor: 3 }.key(), "scale-by-3");
///
/// let ctx = Arc::new(Context::new(MemoryStore::new()));
/// let dag = DagRunner::new();
/// let d = DurableDag::new(&dag, ctx.clone());
/// let five = d.task(Load(5)).depends_on(());
/// let fifteen = d.task(Scale { factor: 3 }).depends_on(five);
/// d.run(|f| { tokio::spawn(f); }).await.unwrap();
/// assert_eq!(dag.get(fifteen).unwrap(), 15);
/// assert_eq!(ctx.get::<i32>("load-5"), Some(5));
/// # }
/// ```
///
/// # Options
///
/// - `key = "..."` (required): the key the output is stored under. `{field}` or `{0}` insert
///   that field's `Display`; `{{` and `}}` are literal braces. The literal text must follow
///   the runtime's key rules (non-empty, no NUL character, at most 65,536 bytes), which are
///   checked at compile time. A task without fields has a fixed key.
/// - `version = N` (a `u32`, default `0`): stored in each record; a record written under
///   another version is not reused, so bump it when `run` computes something different.
/// - `cache = inputs` or `cache = key` (default `key`): with `key`, any valid record under
///   the key is reused whatever the task's fields and inputs are now (resume by key). With
///   `inputs`, a record is reused only if it was computed from the same version, the same
///   task fields and the same inputs (compared by a fingerprint of their serde bytes), so an
///   edited field or a changed input runs the task again; an upstream task that runs again
///   but produces the same output leaves this one restored (early cutoff). The task type and
///   every input type must then implement `serde::Serialize` (checked at compile time, so
///   the crate needs `serde` as a dependency); mark fields that do not change the output,
///   such as counters or clients, `#[serde(skip)]`.
/// - `ttl = "7d"` (default: none): a record is restored for this long after it was written;
///   an older one is not, the task runs again (its reason is `Miss::Expired`). `duraflow gc
///   STORE --expired` removes expired records.
/// - `retries = N` (a `u32`, default `0`): attempts after the first when an attempt panics,
///   returns `Result::Err` or times out. Each attempt runs a fresh copy of the task, so the
///   task type must be `Clone` (checked at compile time).
/// - `backoff = "100ms"` (default `"100ms"`): the pause before the first retry, doubled for
///   each further one (plus jitter). Needs `retries`.
/// - `timeout = "30s"` (default: none): the longest one attempt may run.
///
/// Durations are a whole number and a unit, `ms`, `s`, `m`, `h` or `d` (`"250ms"`, `"2m"`),
/// checked at compile time. The options become the task's `DurableTask::OPTIONS`;
/// `DurableDag::task_with` overrides them and `DurableDag::with_cache` sets the cache mode
/// of a whole DAG.
///
/// ```
/// use duraflow::durable;
///
/// #[derive(Clone, serde::Serialize)]
/// struct Fetch {
///     url: String,
/// }
///
/// #[durable(key = "fetch-{url}", cache = inputs, retries = 3, backoff = "250ms", timeout = "30s")]
/// impl Fetch {
///     async fn run(&self) -> usize {
///         self.url.len()
///     }
/// }
/// # fn main() {}
/// ```
///
/// Without `cache = inputs` the same abilities are used when they exist, for a DAG-wide
/// `with_cache(Cache::Inputs)` or `task_with`: a task or input type that is `Serialize` is
/// fingerprinted, a task type that is `Clone` can be retried; otherwise the task resumes by
/// key and runs once. This is decided where the impl is generated, so for a generic task
/// type only the bounds of the impl block count: `impl<T: Clone> Wrap<T>` can be retried,
/// but is fingerprinted only if the bounds also make it `Serialize`
/// (`impl<T: Clone + serde::Serialize> Wrap<T>`).
///
/// # `run`
///
/// The impl block holds one `run` method, `async fn` or plain `fn`, which:
/// - takes no receiver, `self`, `&self` or `&mut self`;
/// - takes each input by reference (`x: &i32`), at most 8 of them, in the order the
///   dependencies are given;
/// - names its return type: the output, which is stored, so it must be serde-serializable
///   and deserializable, `Clone`, `Send`, `Sync` and `'static`.
///
/// `run` stays an ordinary method of the type (exempt from clippy's `ptr_arg` and
/// `too_many_arguments`, which its required shape trips), so it can be called directly in
/// tests. Generic task types work: the generated impls reuse the impl block's generics and
/// where-clause, so put the bounds the output needs there.
///
/// # Errors
///
/// Every misuse is a compile error on the offending token that says the fix: a missing,
/// empty or invalid key, an unknown template field, an unknown or repeated option, an
/// invalid `cache`, `retries` or duration, a `backoff` without `retries`, a missing `run`, an
/// input not taken by reference, more than 8 inputs, an output that cannot be stored, a task
/// or input that is not `Serialize` under `cache = inputs`, a task that is not `Clone` with
/// `retries`. The impl block is still emitted, so one mistake does not cascade into others.
#[proc_macro_attribute]
pub fn durable(args: TokenStream, item: TokenStream) -> TokenStream {
    durable::expand(args.into(), item.into()).into()
}

/// Declares a whole durable DAG: its nodes, their keys and their dependencies.
///
/// ```
/// use dagx::DagRunner;
/// use duraflow::{durable, durable_dag, Context, DurableDag, MemoryStore};
/// use std::sync::Arc;
///
/// struct Load(i32);
/// #[durable(key = "load-{0}")]
/// impl Load { async fn run(&self) -> i32 { self.0 } }
///
/// struct Mul(i32);
/// #[durable(key = "mul", version = 2)]
/// impl Mul { async fn run(&self, x: &i32) -> i32 { x * self.0 } }
///
/// struct Add;
/// #[durable(key = "add")]
/// impl Add { async fn run(a: &i32, b: &i32) -> i32 { a + b } }
///
/// # #[tokio::main] async fn main() {
/// let dag = DagRunner::new();
/// let d = DurableDag::new(&dag, Arc::new(Context::new(MemoryStore::new())));
/// durable_dag! {
///     dag: d;                              // any expression giving the DurableDag (or a reference)
///     sum = Add <- (five, ten);            // nodes in any order: the macro sorts them
///     five = Load(5);                      // key from the attribute: "load-5"
///     ten @ "mul-ten" = Mul(2) <- five;    // `@ "..."`: explicit key for this node
/// }
/// // five, ten and sum are now dagx `TaskHandle`s in scope
/// d.run(|f| { tokio::spawn(f); }).await.unwrap();
/// assert_eq!(dag.get(sum).unwrap(), 15);
/// # }
/// ```
///
/// - The block starts with `dag: EXPR;`, the `duraflow::DurableDag` to add the nodes to.
/// - Each node is `name [@ "key"] = TASK [<- dep | <- (dep, ...)];`. A dependency is another
///   node's name or any `TaskHandle` expression in scope; they are passed to `run` in the
///   order given. A top-level `<-` ends the task expression, so write a comparison with a
///   negative number inside a task expression in parentheses: `(a < -b)`.
/// - A node's key is its `@ "..."` literal if given (then the task needs no `#[durable]`,
///   any dagx task works, and a `#[durable]` task keeps its version), else its task's
///   `#[durable]` key.
/// - The macro expands to `let` statements, so use it where statements go; each node name
///   is a `dagx::TaskHandle` of the task's output after the macro (a family's name is a
///   `duraflow::Family`, see below).
///
/// # Families and reductions
///
/// ```
/// use dagx::DagRunner;
/// use duraflow::{durable, durable_dag, Context, DurableDag, MemoryStore};
/// use std::sync::Arc;
///
/// struct Fetch(usize);
/// #[durable(key = "page-{0}")]
/// impl Fetch { async fn run(&self) -> String { "word ".repeat(self.0) } }
///
/// struct Count;
/// #[durable(key = "count")]
/// impl Count { async fn run(text: &String) -> u64 { text.split_whitespace().count() as u64 } }
///
/// fn sum(parts: &[&u64]) -> u64 { parts.iter().copied().sum() }
///
/// # #[tokio::main] async fn main() {
/// let dag = DagRunner::new();
/// let d = DurableDag::new(&dag, Arc::new(Context::new(MemoryStore::new())));
/// let n = 20;
/// durable_dag! {
///     dag: d;
///     page[i in 0..n] = Fetch(i);                          // keys from the attribute: "page-0", ...
///     count[i in 0..n] @ "count-{i}" = Count <- page[i];   // a format! key; member i of `page`
///     total @ "total" = sum <- count[..];                  // reduces the whole family
///     third @ "count-third" = Count <- page[3];            // one member as a dependency
/// }
/// // page and count are `duraflow::Family`s, total and third `TaskHandle`s
/// d.run(|f| { tokio::spawn(f); }).await.unwrap();
/// assert_eq!(dag.get(total).unwrap(), (0..20).sum::<u64>());
/// assert_eq!((dag.get(count[5]).unwrap(), dag.get(third).unwrap()), (5, 3));
/// # }
/// ```
///
/// - `name[VAR in ITER] [@ "key"] = TASK [<- DEPS];` declares a family: a member for each
///   item of `ITER` (a range or any `IntoIterator`), with the item bound to `VAR` in the
///   task and its dependencies. Without `@`, each member's key is its task's `#[durable]`
///   key, so the template must tell members apart (`"page-{0}"`). With `@`, the key is a
///   `format!` string that captures `VAR` (and any other name in scope) and must mention
///   `VAR`: `@ "count-{i}"`. After the macro the name is a `duraflow::Family` of the members
///   in item order.
/// - `fam[INDEX]` as a dependency is one member, alone or in a tuple; `INDEX` is its
///   position from 0, as `Family` indexes (an index past the family panics, naming both).
///   Inside another family `fam[i]` is the member at the same position: an element-wise
///   dependency.
/// - `name @ "key" = MERGE <- fam[..];` is a reduction: `DurableDag::reduce(dag, "key",
///   &fam, MERGE)`, a tree of durable merges of at most 8 inputs each, its root stored
///   under `key` and its inner merges under `key/…`. `MERGE` is any expression of a
///   `Fn(&[&T]) -> T`, which must give the same result however the inputs are grouped
///   (associative and commutative); `fam` is a family of this macro or any `Family` in
///   scope. The name is a `TaskHandle` of the result.
/// - Members and reductions are dependencies on their family, so nodes still sort by them.
///
/// # Errors
///
/// Compile errors on the offending token for: a missing `dag:` header, a repeated node name,
/// two nodes with the same literal key, a node depending on itself, a dependency cycle (the
/// message lists it, e.g. `a -> b -> a`), and an invalid literal key. For families: a family
/// where one task is expected (`<- doc`: reduce it with `<- doc[..]` or use a member
/// `doc[i]`), `x[i]` or `x[..]` where `x` is a single node, `fam[..]` beside other
/// dependencies or in a family, a reduction without `@ "key"`, a literal index outside a
/// literal range (`doc[i in 0..5]`, then `doc[7]`, or `doc[i]` in a family over `0..=5`),
/// and a family key that does not mention its variable. A task without a key, dependencies
/// that do not match `run`'s inputs, or a merge of the wrong type are reported on that
/// node's tokens. Keys the macro cannot see (templates) are checked when the node is added:
/// a duplicate key in one `DurableDag` panics, naming the key.
#[proc_macro]
pub fn durable_dag(input: TokenStream) -> TokenStream {
    dag::expand(input.into()).into()
}
