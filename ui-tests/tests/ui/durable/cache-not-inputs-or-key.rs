// `cache` is `inputs` or `key`; anything else is an error listing the two.
use duraflow::durable;

struct Load(i32);

#[durable(key = "load-{0}", cache = always)]
impl Load {
    async fn run(&self) -> i32 {
        self.0
    }
}

fn main() {}
