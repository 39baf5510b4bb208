use duraflow::durable;

struct Push;

#[durable(key = "push")]
impl Push {
    fn run(items: &mut Vec<u8>) -> usize {
        items.push(0);
        items.len()
    }
}

fn main() {}
