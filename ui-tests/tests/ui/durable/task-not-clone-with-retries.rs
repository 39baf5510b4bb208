// Each retry runs a fresh copy of the task: with `retries`, the task type must be `Clone`.
// The error is on the type in the impl header.
use duraflow::durable;

struct Fetch {
    url: String,
}

#[durable(key = "fetch-{url}", retries = 3, backoff = "250ms")]
impl Fetch {
    async fn run(&self) -> usize {
        self.url.len()
    }
}

fn main() {}
