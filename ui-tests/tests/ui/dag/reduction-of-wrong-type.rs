mod tasks;

use duraflow::durable_dag;
use tasks::Load;

fn concat(parts: &[&String]) -> String {
    parts.iter().map(|part| part.as_str()).collect()
}

fn main() {
    let dag = dagx::DagRunner::new();
    let d = tasks::in_memory(&dag);
    durable_dag! {
        dag: d;
        doc[i in 0..3] = Load(i);
        text @ "text" = concat <- doc[..];
    }
    let _ = text;
}
