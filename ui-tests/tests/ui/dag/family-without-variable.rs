mod tasks;

use duraflow::durable_dag;
use tasks::{Double, Load};

fn main() {
    let dag = dagx::DagRunner::new();
    let d = tasks::in_memory(&dag);
    durable_dag! {
        dag: d;
        doc[3] = Load(3);
        twice = Double <- doc[0];
    }
    let _ = (doc.len(), twice);
}
