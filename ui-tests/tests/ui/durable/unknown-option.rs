use duraflow::durable;

struct Load(i32);

#[durable(key = "load-{0}", retry = 3)]
impl Load {
    async fn run(&self) -> i32 {
        self.0
    }
}

fn main() {}
