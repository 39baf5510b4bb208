// A duration is a string with its unit: there is no default unit to assume.
use duraflow::durable;

struct Load(i32);

#[durable(key = "load-{0}", timeout = 30)]
impl Load {
    async fn run(&self) -> i32 {
        self.0
    }
}

fn main() {}
