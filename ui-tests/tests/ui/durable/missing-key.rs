use duraflow::durable;

struct Load(i32);

#[durable]
impl Load {
    async fn run(&self) -> i32 {
        self.0
    }
}

fn main() {}
