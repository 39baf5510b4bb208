// `cache = inputs` fingerprints the task's fields: the task type must be `Serialize`. The
// error is on the type in the impl header.
use duraflow::durable;

struct Scale {
    factor: i32,
}

#[durable(key = "scale", cache = inputs)]
impl Scale {
    async fn run(&self, x: &i32) -> i32 {
        x * self.factor
    }
}

fn main() {}
