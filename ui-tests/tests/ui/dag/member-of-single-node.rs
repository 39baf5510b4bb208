mod tasks;

use duraflow::durable_dag;
use tasks::{Double, Load};

fn sum(parts: &[&i32]) -> i32 {
    parts.iter().copied().sum()
}

fn main() {
    let dag = dagx::DagRunner::new();
    let d = tasks::in_memory(&dag);
    durable_dag! {
        dag: d;
        five = Load(5);
        twice = Double <- five[0];
        total @ "total" = sum <- five[..];
    }
    let _ = (twice, total);
}
