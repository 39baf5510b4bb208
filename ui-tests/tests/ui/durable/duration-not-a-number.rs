// A duration starts with a whole number.
use duraflow::durable;

struct Load(i32);

#[durable(key = "load-{0}", timeout = "fast")]
impl Load {
    async fn run(&self) -> i32 {
        self.0
    }
}

fn main() {}
