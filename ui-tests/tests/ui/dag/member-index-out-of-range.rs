mod tasks;

use duraflow::durable_dag;
use tasks::{Double, Load};

fn main() {
    let dag = dagx::DagRunner::new();
    let d = tasks::in_memory(&dag);
    durable_dag! {
        dag: d;
        doc[i in 0..5] = Load(i);
        seventh = Double <- doc[7];
    }
    let _ = seventh;
}
