use duraflow::durable;

struct Fetch {
    url: String,
}

#[durable(key = "fetch-{ulr}")]
impl Fetch {
    async fn run(&self) -> String {
        self.url.clone()
    }
}

fn main() {}
