use duraflow::durable;

#[durable(key = "load-{0}")]
struct Load(i32);

fn main() {}
