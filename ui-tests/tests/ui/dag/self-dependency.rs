mod tasks;

use duraflow::durable_dag;
use tasks::{Add, Load};

fn main() {
    let dag = dagx::DagRunner::new();
    let d = tasks::in_memory(&dag);
    durable_dag! {
        dag: d;
        five = Load(5);
        sum = Add <- (five, sum);
    }
    let _ = sum;
}
