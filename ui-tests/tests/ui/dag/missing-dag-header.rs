mod tasks;

use duraflow::durable_dag;
use tasks::{Double, Load};

fn main() {
    let dag = dagx::DagRunner::new();
    let d = tasks::in_memory(&dag);
    durable_dag! {
        five = Load(5);
        ten = Double <- five;
    }
    let _ = (d, ten);
}
