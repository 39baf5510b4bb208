// A backoff is the pause between attempts: without retries it would silently do nothing.
use duraflow::durable;

struct Load(i32);

#[durable(key = "load-{0}", backoff = "100ms")]
impl Load {
    async fn run(&self) -> i32 {
        self.0
    }
}

fn main() {}
