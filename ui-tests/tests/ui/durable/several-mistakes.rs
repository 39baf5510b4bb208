// Every mistake is reported at once, and the impl block is still emitted: `Load::run`
// stays callable and the task can still be used, so nothing else errors.
use duraflow::durable;

struct Load(i32);

#[durable(key = "", cache = true)]
impl Load {
    async fn run(&self, extra: i32) -> i32 {
        self.0 + extra
    }
}

fn main() {
    let _ = Load(1).run(2);
}
