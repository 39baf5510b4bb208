#![deny(warnings)]
// The generated `DurableTask` items pick what a type can do (autoref specialization):
// a `Serialize` task or input is fingerprinted (its serde bytes), any other gives up (false:
// the runtime then resumes by key); a `Clone` task is copied for retries, any other gives
// `None`. In a generic impl only the bounds count: `T` is not `Serialize` there even when it
// is instantiated with `i32`.
use duraflow::{durable, DurableTask, Fingerprint};
use serde::Serialize;

#[derive(Clone, Serialize)]
struct Plain {
    n: i32,
}

#[durable(key = "plain")]
impl Plain {
    fn run(&self, x: &i32, s: &String) -> String {
        format!("{}{x}{s}", self.n)
    }
}

/// Neither `Serialize` nor `Clone`.
struct Opaque;

/// `Clone` but not `Serialize`: an input no fingerprint can include.
#[derive(Clone)]
struct NotSerialize;

#[durable(key = "opaque")]
impl Opaque {
    fn run(x: &i32, other: &NotSerialize) -> i32 {
        let NotSerialize = other;
        *x
    }
}

#[derive(Clone, Serialize)]
struct Wrap<T>(T);

#[durable(key = "wrap")]
impl<T: Clone + Send + Sync + 'static> Wrap<T> {
    fn run(&self) -> i32 {
        0
    }
}

#[derive(Clone, Serialize)]
struct Bounded<T>(T);

#[durable(key = "bounded")]
impl<T: Clone + Serialize + Send + Sync + 'static> Bounded<T> {
    fn run(&self) -> i32 {
        0
    }
}

/// The fingerprint parts `add` makes, for comparison.
fn parts(add: impl FnOnce(&mut Fingerprint) -> bool) -> Option<String> {
    let mut fingerprint = Fingerprint::new();
    add(&mut fingerprint).then(|| format!("{fingerprint:?}"))
}

fn main() {
    // A `Serialize` task is fingerprinted by its serde bytes: what `part` gives for it.
    let task = Plain { n: 7 };
    let state = parts(|f| task.__fingerprint_state(f));
    assert!(state.is_some());
    assert_eq!(state, parts(|f| f.part(&task)));
    assert_ne!(state, parts(|f| Plain { n: 8 }.__fingerprint_state(f)));
    // ... and so are its inputs, each one a part, in order.
    let inputs = (1, String::from("s"));
    let fingerprinted = parts(|f| Plain::__fingerprint_inputs(&inputs, f));
    assert_eq!(
        fingerprinted,
        parts(|f| f.part(&1i32) && f.part(&String::from("s")))
    );
    assert_ne!(
        fingerprinted,
        parts(|f| Plain::__fingerprint_inputs(&(2, String::from("s")), f))
    );
    // Nothing to fingerprint: no inputs is a complete (empty) fingerprint.
    assert_eq!(
        parts(|f| Wrap::<i32>::__fingerprint_inputs(&(), f)),
        parts(|_| true)
    );

    // A type that is not `Serialize` cannot be fingerprinted; one such input spoils all.
    assert_eq!(parts(|f| Opaque.__fingerprint_state(f)), None);
    assert_eq!(
        parts(|f| Opaque::__fingerprint_inputs(&(1, NotSerialize), f)),
        None
    );

    // A `Clone` task is copied, another is not.
    assert_eq!(task.__clone().map(|copy| copy.n), Some(7));
    assert!(Opaque.__clone().is_none());

    // Generic impls: the bounds decide. `Wrap<T>` is `Clone` here (T: Clone), not `Serialize`.
    assert_eq!(Wrap(5).__clone().map(|copy| copy.0), Some(5));
    assert_eq!(parts(|f| Wrap(5).__fingerprint_state(f)), None);
    assert_eq!(
        parts(|f| Bounded(5).__fingerprint_state(f)),
        parts(|f| f.part(&Bounded(5)))
    );

    // `__input` turns the tuple into dagx's shape.
    let input: <Plain as dagx::Task>::Input = Plain::__input((1, String::from("s")));
    assert_eq!(input, (1, String::from("s")));
    let (): <Wrap<u8> as dagx::Task>::Input = Wrap::<u8>::__input(());
}
