use duraflow::durable;

struct Fetch {
    url: String,
    retries: u32,
}

#[durable(key = "fetch-{path}")]
impl Fetch {
    async fn run(&self) -> String {
        format!("{} ({} retries)", self.url, self.retries)
    }
}

fn main() {}
