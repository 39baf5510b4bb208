mod tasks;

use duraflow::durable_dag;
use tasks::{Double, Load};

fn main() {
    let dag = dagx::DagRunner::new();
    let d = tasks::in_memory(&dag);
    durable_dag! {
        dag: d;
        raw[i in 0..5] = Load(i as i32);
        twice[i in 0..=5] @ "twice-{i}" = Double <- raw[i];
    }
    let _ = twice.len();
}
