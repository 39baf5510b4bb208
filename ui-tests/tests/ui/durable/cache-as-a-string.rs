// `cache` takes a bare identifier, like the variant it stands for.
use duraflow::durable;

struct Load(i32);

#[durable(key = "load-{0}", cache = "inputs")]
impl Load {
    async fn run(&self) -> i32 {
        self.0
    }
}

fn main() {}
