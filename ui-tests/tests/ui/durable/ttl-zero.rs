// A ttl of zero would never restore a record.
use duraflow::durable;

struct Load(i32);

#[durable(key = "load-{0}", ttl = "0s")]
impl Load {
    async fn run(&self) -> i32 {
        self.0
    }
}

fn main() {}
