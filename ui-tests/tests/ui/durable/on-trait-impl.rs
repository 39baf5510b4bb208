use duraflow::durable;

trait Step {
    fn run(&self) -> i32;
}

struct Load(i32);

#[durable(key = "load-{0}")]
impl Step for Load {
    fn run(&self) -> i32 {
        self.0
    }
}

fn main() {}
