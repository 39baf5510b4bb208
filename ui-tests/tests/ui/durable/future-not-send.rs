use duraflow::durable;
use std::rc::Rc;

struct Load(i32);

#[durable(key = "load-{0}")]
impl Load {
    async fn run(&self) -> i32 {
        let shared = Rc::new(self.0);
        std::future::ready(()).await;
        *shared
    }
}

fn main() {}
