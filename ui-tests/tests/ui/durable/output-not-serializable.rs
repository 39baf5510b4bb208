use duraflow::durable;

#[derive(Clone)]
struct Report {
    lines: Vec<String>,
}

struct Render;

#[durable(key = "render")]
impl Render {
    async fn run() -> Report {
        Report { lines: Vec::new() }
    }
}

fn main() {}
