use duraflow::durable;

const KEY: &str = "load";

struct Load(i32);

#[durable(key = KEY)]
impl Load {
    async fn run(&self) -> i32 {
        self.0
    }
}

fn main() {}
