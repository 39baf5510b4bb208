//! `#[durable]` and `durable_dag!` at run time: keys from templates, versions, wiring in any
//! order, resuming, and every supported form of `run`.

mod common;

use common::{spawn, Runs};
use dagx::DagRunner;
use duraflow::{
    durable, durable_dag, Context, DurableDag, DurableTask, MemoryStore, Miss, RunReport,
};
use serde::{de::DeserializeOwned, Serialize};
use std::sync::Arc;

fn memory() -> Arc<Context> {
    Arc::new(Context::new(MemoryStore::new()))
}

/// Returns its field, counting its executions.
struct Load {
    value: i32,
    runs: Runs,
}

#[durable(key = "load-{value}")]
impl Load {
    async fn run(&self) -> i32 {
        self.runs.hit();
        self.value
    }
}

/// Multiplies its input by its field.
struct Mul(i32);

#[durable(key = "mul-{0}", version = 2)]
impl Mul {
    async fn run(&self, x: &i32) -> i32 {
        x * self.0
    }
}

/// Adds its inputs, counting its executions.
struct Add {
    runs: Runs,
}

#[durable(key = "add")]
impl Add {
    fn run(&self, a: &i32, b: &i32) -> i32 {
        self.runs.hit();
        a + b
    }
}

struct Person {
    id: u32,
    name: &'static str,
}

#[durable(key = "person-{id}/{name}-{{x}}")]
impl Person {
    fn run(&self) -> String {
        format!("{} #{}", self.name, self.id)
    }
}

#[test]
fn template_keys_fill_in_the_fields() {
    let person = Person { id: 7, name: "ada" };
    assert_eq!(person.key(), "person-7/ada-{x}");
    assert_eq!(Mul(3).key(), "mul-3");
    assert_eq!(<Mul as DurableTask>::VERSION, 2);
    assert_eq!(<Person as DurableTask>::VERSION, 0);
}

#[tokio::test]
async fn outputs_are_stored_under_the_template_key() {
    let ctx = memory();
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    d.task(Person { id: 7, name: "ada" }).depends_on(());
    d.run(spawn).await.unwrap();
    assert_eq!(
        ctx.get::<String>("person-7/ada-{x}"),
        Some("ada #7".to_owned())
    );
}

/// `sum = 5 + 5 * 2`, its nodes written in reverse order, one of them under an explicit key.
async fn sum_dag(ctx: &Arc<Context>, loads: &Runs, adds: &Runs) -> (i32, RunReport) {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    durable_dag! {
        dag: d;
        sum = Add { runs: adds.clone() } <- (five, ten);
        ten @ "mul-ten" = Mul(2) <- five;
        five = Load { value: 5, runs: loads.clone() };
    }
    let report = d.run(spawn).await.unwrap();
    (dag.get(sum).unwrap(), report)
}

#[tokio::test]
async fn dag_nodes_in_any_order_compute_and_then_restore() {
    let ctx = memory();
    let (loads, adds) = (Runs::new(), Runs::new());

    let (sum, report) = sum_dag(&ctx, &loads, &adds).await;
    assert_eq!(sum, 15);
    assert_eq!((report.executed, report.restored), (3, 0));
    assert_eq!(ctx.get::<i32>("load-5"), Some(5));
    assert_eq!(ctx.get::<i32>("mul-ten"), Some(10));
    assert_eq!(ctx.get::<i32>("add"), Some(15));

    let (sum, report) = sum_dag(&ctx, &loads, &adds).await;
    assert_eq!(sum, 15);
    assert_eq!((report.executed, report.restored), (0, 3));
    assert_eq!((loads.count(), adds.count()), (1, 1));
}

/// The same key under two versions of a task.
struct ScoreV1;

#[durable(key = "score", version = 1)]
impl ScoreV1 {
    fn run() -> i32 {
        1
    }
}

struct ScoreV2;

#[durable(key = "score", version = 2)]
impl ScoreV2 {
    fn run() -> i32 {
        2
    }
}

async fn score<T: DurableTask<Input = (), Output = i32> + 'static>(
    ctx: &Arc<Context>,
    task: T,
) -> (i32, RunReport) {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    let score = d.task(task).depends_on(());
    let report = d.run(spawn).await.unwrap();
    (dag.get(score).unwrap(), report)
}

#[tokio::test]
async fn a_version_bump_runs_the_task_again() {
    let ctx = memory();
    assert_eq!(score(&ctx, ScoreV1).await.0, 1);
    assert_eq!(score(&ctx, ScoreV1).await.1.restored, 1);

    let (value, report) = score(&ctx, ScoreV2).await;
    assert_eq!(value, 2);
    assert_eq!(report.executed, 1);
    assert_eq!(
        report.runs[0].reason,
        Miss::VersionChanged {
            stored: 1,
            expected: 2
        }
    );
    assert_eq!(score(&ctx, ScoreV2).await.1.restored, 1);
}

#[tokio::test]
async fn an_explicit_key_keeps_the_task_version() {
    let ctx = memory();
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    durable_dag! {
        dag: d;
        ten @ "ten" = Mul(2) <- five;
        five @ "five" = ScoreV2;
    }
    d.run(spawn).await.unwrap();
    assert_eq!(dag.get(ten).unwrap(), 4);

    // Read back with version 0: the records were written with the tasks' versions.
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx);
    let five = d.add("five", ScoreV2).depends_on(());
    d.add("ten", Mul(2)).depends_on(five);
    let report = d.run(spawn).await.unwrap();
    let mut reasons: Vec<_> = report
        .runs
        .iter()
        .map(|r| (r.key.as_str(), &r.reason))
        .collect();
    reasons.sort_by_key(|(key, _)| *key);
    let changed = |stored| Miss::VersionChanged {
        stored,
        expected: 0,
    };
    assert_eq!(reasons, [("five", &changed(2)), ("ten", &changed(2))]);
}

#[tokio::test]
#[should_panic(expected = "\"load-1\"")]
async fn a_template_key_used_twice_panics_naming_it() {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, memory());
    let runs = Runs::new();
    durable_dag! {
        dag: d;
        a = Load { value: 1, runs: runs.clone() };
        b = Load { value: 1, runs: runs.clone() };
    }
}

/// A generic task: the bounds its output needs are on the impl block.
struct Constant<T> {
    name: &'static str,
    value: T,
}

#[durable(key = "constant-{name}")]
impl<T> Constant<T>
where
    T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    async fn run(&self) -> T {
        self.value.clone()
    }
}

struct Describe<T>(std::marker::PhantomData<T>);

#[durable(key = "describe")]
impl<T: std::fmt::Debug + Clone + Send + Sync + 'static> Describe<T> {
    fn run(value: &T) -> String {
        format!("{value:?}")
    }
}

#[tokio::test]
async fn generic_tasks() {
    let ctx = memory();
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, ctx.clone());
    durable_dag! {
        dag: d;
        words = Constant { name: "words", value: vec!["a".to_owned(), "b".to_owned()] };
        shown = Describe::<Vec<String>>(std::marker::PhantomData) <- words;
    }
    d.run(spawn).await.unwrap();
    assert_eq!(dag.get(shown).unwrap(), r#"["a", "b"]"#);
    assert_eq!(
        ctx.get::<Vec<String>>("constant-words"),
        Some(vec!["a".to_owned(), "b".to_owned()])
    );
}

/// Updates its state through `&mut self`.
struct Accumulate {
    total: i32,
}

#[durable(key = "accumulate")]
impl Accumulate {
    async fn run(&mut self, a: &i32, b: &i32) -> i32 {
        self.total = self.total * a + b;
        self.total
    }
}

/// No receiver, plain `fn`.
struct Negate;

#[durable(key = "negate")]
impl Negate {
    fn run(x: &i32) -> i32 {
        -x
    }
}

/// Takes `self` by value.
struct Label(String);

#[durable(key = "label")]
impl Label {
    fn run(self, x: &i32) -> String {
        format!("{}{x}", self.0)
    }
}

#[tokio::test]
async fn every_form_of_run() {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, memory());
    let runs = Runs::new();
    durable_dag! {
        dag: d;
        three = Load { value: 3, runs: runs.clone() };
        minus = Negate <- three;
        total = Accumulate { total: 100 } <- (three, minus);
        label = Label("total=".to_owned()) <- total;
    }
    d.run(spawn).await.unwrap();
    assert_eq!(dag.get(minus).unwrap(), -3);
    assert_eq!(dag.get(total).unwrap(), 297);
    assert_eq!(dag.get(label).unwrap(), "total=297");
    // `run` stays an ordinary method of the type.
    assert_eq!(Accumulate { total: 1 }.run(&2, &3).await, 5);
    assert_eq!(Negate::run(&4), -4);
}

struct Digit(u64);

#[durable(key = "digit-{0}")]
impl Digit {
    fn run(&self) -> u64 {
        self.0
    }
}

/// The most inputs a task can take, in dependency order.
struct Join;

#[durable(key = "join")]
impl Join {
    fn run(a: &u64, b: &u64, c: &u64, d: &u64, e: &u64, f: &u64, g: &u64, h: &u64) -> u64 {
        [a, b, c, d, e, f, g, h]
            .into_iter()
            .fold(0, |number, digit| number * 10 + digit)
    }
}

#[tokio::test]
async fn eight_inputs_arrive_in_order() {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, memory());
    durable_dag! {
        dag: d;
        joined = Join <- (d8, d7, d6, d5, d4, d3, d2, d1);
        d1 = Digit(1); d2 = Digit(2); d3 = Digit(3); d4 = Digit(4);
        d5 = Digit(5); d6 = Digit(6); d7 = Digit(7); d8 = Digit(8);
    }
    d.run(spawn).await.unwrap();
    assert_eq!(dag.get(joined).unwrap(), 87_654_321);
}
