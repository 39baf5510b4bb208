// A unit humantime does not know.
use duraflow::durable;

struct Load(i32);

#[durable(key = "load-{0}", retries = 2, backoff = "1 fortnight")]
impl Load {
    async fn run(&self) -> i32 {
        self.0
    }
}

fn main() {}
