use duraflow::durable;

struct Scale(i32);

#[durable(key = "scale-{0}")]
impl Scale {
    async fn run(&self, x: i32) -> i32 {
        x * self.0
    }
}

fn main() {}
