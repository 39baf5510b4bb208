// `retries` is a u32.
use duraflow::durable;

struct Load(i32);

#[durable(key = "load-{0}", retries = -1)]
impl Load {
    async fn run(&self) -> i32 {
        self.0
    }
}

fn main() {}
