#![deny(warnings)]
// Dependencies on handles made outside the macro, a plain dagx task under an explicit key,
// and `dag:` given as a reference.
use dagx::{task, DagRunner, Task};
use duraflow::{durable, durable_dag, Context, DurableDag, MemoryStore};
use std::sync::Arc;

struct Load(i32);
#[durable(key = "load-{0}")]
impl Load {
    async fn run(&self) -> i32 {
        self.0
    }
}

struct Plain;
#[task]
impl Plain {
    async fn run() -> i32 {
        2
    }
}

struct Product;
#[durable(key = "product")]
impl Product {
    async fn run(a: &i32, b: &i32, c: &i32) -> i32 {
        a * b * c
    }
}

#[tokio::main]
async fn main() {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, Arc::new(Context::new(MemoryStore::new())));
    let outside = d.task(Load(3)).depends_on(());
    let handles = [d.add("seven", Load(7)).depends_on(())];
    durable_dag! {
        dag: &d;
        product = Product <- (outside, handles[0], two);
        two @ "two" = Plain;
    }
    d.run(|f| {
        tokio::spawn(f);
    })
    .await
    .unwrap();
    assert_eq!(dag.get(product).unwrap(), 42);
    assert_eq!(d.context().get::<i32>("two"), Some(2));
}
