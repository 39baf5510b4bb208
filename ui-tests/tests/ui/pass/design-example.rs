// The Macros section of DESIGN.md, verbatim, run twice against one store.
#![deny(warnings)]
use dagx::DagRunner;
use duraflow::{durable, durable_dag, Context, DurableDag, MemoryStore};
use std::sync::Arc;

struct Load(i32);
#[durable(key = "load-{0}")]
impl Load {
    async fn run(&self) -> i32 {
        self.0
    }
}

struct Mul(i32);
#[durable(key = "mul", version = 2)]
impl Mul {
    async fn run(&self, x: &i32) -> i32 {
        x * self.0
    }
}

struct Add;
#[durable(key = "add")]
impl Add {
    async fn run(a: &i32, b: &i32) -> i32 {
        a + b
    }
}

#[tokio::main]
async fn main() {
    let ctx = Arc::new(Context::new(MemoryStore::new()));
    for executed in [3, 0] {
        let dag = DagRunner::new();
        let d = DurableDag::new(&dag, ctx.clone());
        durable_dag! {
            dag: d;
            sum = Add <- (five, ten);
            five = Load(5);
            ten @ "mul-ten" = Mul(2) <- five;
        }
        let report = d
            .run(|f| {
                tokio::spawn(f);
            })
            .await
            .unwrap();
        assert_eq!(report.executed, executed);
        assert_eq!(dag.get(sum).unwrap(), 15);
        assert_eq!(dag.get(five).unwrap(), 5);
        assert_eq!(dag.get(ten).unwrap(), 10);
    }
    assert_eq!(ctx.get::<i32>("load-5"), Some(5));
    assert_eq!(ctx.get::<i32>("mul-ten"), Some(10));
    assert_eq!(ctx.get::<i32>("add"), Some(15));
}
