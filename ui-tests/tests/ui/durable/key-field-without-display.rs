use duraflow::durable;

struct Count {
    items: Vec<String>,
}

#[durable(key = "count-{items}")]
impl Count {
    async fn run(&self) -> usize {
        self.items.len()
    }
}

fn main() {}
