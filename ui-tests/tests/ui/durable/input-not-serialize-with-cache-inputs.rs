// `cache = inputs` fingerprints each input: every input type must be `Serialize`. The error
// is on the input's type. (Such an input comes from a plain dagx task, whose output need
// not be stored.)
use duraflow::durable;

#[derive(serde::Serialize)]
struct Render;

#[derive(Clone)]
struct Page {
    lines: Vec<String>,
}

#[durable(key = "render", cache = inputs)]
impl Render {
    fn run(title: &String, page: &Page) -> String {
        format!("{title}: {} lines", page.lines.len())
    }
}

fn main() {}
