use duraflow::durable;

struct Log(String);

#[durable(key = "log")]
impl Log {
    async fn run(&self) {
        println!("{}", self.0);
    }
}

fn main() {}
