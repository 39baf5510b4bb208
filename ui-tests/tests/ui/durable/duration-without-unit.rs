// Durations are checked at compile time with the runtime's grammar: a number, then a unit.
use duraflow::durable;

struct Load(i32);

#[durable(key = "load-{0}", timeout = "30")]
impl Load {
    async fn run(&self) -> i32 {
        self.0
    }
}

fn main() {}
