use duraflow::durable;

struct Parse;

#[durable(key = "parse")]
impl Parse {
    fn run<T: std::str::FromStr + Default>(text: &String) -> T {
        text.parse().unwrap_or_default()
    }
}

fn main() {}
