//! Tasks the `dag/` cases share; a case uses some of them.
#![allow(dead_code)]

use dagx::DagRunner;
use duraflow::{durable, Context, DurableDag, MemoryStore};
use std::sync::Arc;

pub struct Load(pub i32);

#[durable(key = "load-{0}")]
impl Load {
    async fn run(&self) -> i32 {
        self.0
    }
}

pub struct Add;

#[durable(key = "add")]
impl Add {
    async fn run(a: &i32, b: &i32) -> i32 {
        a + b
    }
}

pub struct Double;

#[durable(key = "double")]
impl Double {
    fn run(x: &i32) -> i32 {
        x * 2
    }
}

/// A DurableDag over `dag`, storing in memory.
pub fn in_memory(dag: &DagRunner) -> DurableDag<'_> {
    DurableDag::new(dag, Arc::new(Context::new(MemoryStore::new())))
}
