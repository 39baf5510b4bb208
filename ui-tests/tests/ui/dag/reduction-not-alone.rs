mod tasks;

use duraflow::durable_dag;
use tasks::{Add, Load};

fn main() {
    let dag = dagx::DagRunner::new();
    let d = tasks::in_memory(&dag);
    durable_dag! {
        dag: d;
        doc[i in 0..3] = Load(i);
        ten = Load(10);
        total = Add <- (doc[..], ten);
    }
    let _ = total;
}
