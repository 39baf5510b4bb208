// A ttl is a duration with its unit.
use duraflow::durable;

struct Load(i32);

#[durable(key = "load-{0}", ttl = "7")]
impl Load {
    async fn run(&self) -> i32 {
        self.0
    }
}

fn main() {}
