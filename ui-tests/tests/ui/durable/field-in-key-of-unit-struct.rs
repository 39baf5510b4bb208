use duraflow::durable;

struct Add;

#[durable(key = "add-{0}")]
impl Add {
    async fn run(a: &i32, b: &i32) -> i32 {
        a + b
    }
}

fn main() {}
