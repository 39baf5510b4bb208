#![deny(warnings)]
// A generic task type: the generated impls reuse the impl block's generics and bounds.
use dagx::DagRunner;
use duraflow::{durable, durable_dag, Context, DurableDag, MemoryStore};
use serde::{de::DeserializeOwned, Serialize};
use std::fmt::Display;
use std::sync::Arc;

struct Constant<T> {
    name: &'static str,
    value: T,
}

#[durable(key = "const-{name}")]
impl<T> Constant<T>
where
    T: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    fn run(&self) -> T {
        self.value.clone()
    }
}

struct Pair<A, B>(std::marker::PhantomData<(A, B)>);

#[durable(key = "pair")]
impl<A: Display + Sync + Send + Clone + 'static, B: Display + Send + Sync + Clone + 'static>
    Pair<A, B>
{
    async fn run(a: &A, b: &B) -> String {
        format!("{a}/{b}")
    }
}

#[tokio::main]
async fn main() {
    let dag = DagRunner::new();
    let d = DurableDag::new(&dag, Arc::new(Context::new(MemoryStore::new())));
    durable_dag! {
        dag: d;
        pair = Pair::<u8, String>(std::marker::PhantomData) <- (n, s);
        n = Constant { name: "n", value: 7u8 };
        s = Constant { name: "s", value: String::from("x") };
    }
    d.run(|f| {
        tokio::spawn(f);
    })
    .await
    .unwrap();
    assert_eq!(dag.get(pair).unwrap(), "7/x");
    assert_eq!(d.context().get::<u8>("const-n"), Some(7));
}
