mod tasks;

use duraflow::durable_dag;
use tasks::{Double, Load};

fn main() {
    let dag = dagx::DagRunner::new();
    let d = tasks::in_memory(&dag);
    durable_dag! {
        dag: d;
        first = Load(1);
        doubled[i in 1..4] @ "doubled-{i}" = Double <- doubled[i - 1];
    }
    let _ = (first, doubled.len());
}
