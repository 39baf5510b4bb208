//! How a task's output is stored, chosen from its type when the task is added: a value is
//! stored whole, and for a `#[durable]` task returning `Result<T, E>` whose `E` serde cannot
//! store, only its `Ok` value (an `Err` is never stored, so `E` needs only `Display`: a
//! `thiserror` enum without serde works as it is). dagx passes every output on by `Clone`,
//! so an `E` that is not `Clone` (`anyhow::Error`, `Box<dyn Error + Send + Sync>`) goes in an
//! `Arc`.

use crate::codec::{self, Expect, Miss, Stamp};
use crate::outcome;
use serde::{de::DeserializeOwned, Serialize};
use std::fmt::Display;

/// What the output type needs to be stored whole: serde both ways, plus what dagx needs.
#[diagnostic::on_unimplemented(
    message = "the output type `{Self}` of a durable task cannot be stored",
    label = "this output is not serde-serializable (or not Clone + Send + Sync)",
    note = "durable outputs are stored with serde: add `#[derive(Clone, serde::Serialize, serde::Deserialize)]` to `{Self}`"
)]
pub trait Persistable: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}

impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> Persistable for T {}

/// A decoded output, or why the record is not one, with its buffer.
pub(crate) type Decoded<O> = Result<O, (Miss, Vec<u8>)>;

/// How one output type is checked for failure, encoded and decoded.
#[doc(hidden)]
pub struct Storing<O> {
    /// The error's text when the output is a failure (`Result::Err`), which is not stored.
    pub(crate) failure: fn(&O) -> Option<String>,
    pub(crate) encode: fn(&str, &O, Stamp) -> Result<Vec<u8>, postcard::Error>,
    /// Takes the record's buffer, which a `Vec<u8>` output becomes; gives it back on a miss.
    pub(crate) decode: fn(&str, Vec<u8>, Expect) -> Decoded<O>,
}

impl<O> Clone for Storing<O> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<O> Copy for Storing<O> {}

impl<O: Persistable> Storing<O> {
    /// The output stored whole; a `Result::Err` is found by its serde form.
    pub fn whole() -> Self {
        Storing {
            failure: outcome::failure_text::<O>,
            encode: |key, output, stamp| codec::encode(key, output, stamp),
            decode: codec::decode_owned::<O>,
        }
    }
}

impl<T: Persistable, E: Display + Send + Sync + 'static> Storing<Result<T, E>> {
    /// Only the `Ok` value is stored; an `Err` is shown with `Display`.
    pub fn ok_only() -> Self {
        Storing {
            failure: |output| output.as_ref().err().map(ToString::to_string),
            // Never called for an `Err`, which is not stored.
            encode: |key, output, stamp| match output {
                Ok(value) => codec::encode(key, value, stamp),
                Err(_) => Err(postcard::Error::NotYetImplemented),
            },
            decode: |key, bytes, expect| codec::decode_owned::<T>(key, bytes, expect).map(Ok),
        }
    }
}

/// Autoref specialization for the generated `DurableTask::__storing`:
/// `(&&Chooser::<O>::new()).storing()` picks [`Storing::whole`] for an output serde can
/// store, and [`Storing::ok_only`] for a `Result` whose `Err` serde cannot store (its `Ok`
/// can, and its `Err` can be shown).
#[doc(hidden)]
pub struct Chooser<O>(std::marker::PhantomData<fn() -> O>);

impl<O> Chooser<O> {
    /// The chooser for `O`.
    pub fn new() -> Self {
        Chooser(std::marker::PhantomData)
    }
}

impl<O> Default for Chooser<O> {
    fn default() -> Self {
        Self::new()
    }
}

/// Picked otherwise: a `Result` with a storable `Ok`.
#[doc(hidden)]
pub trait StoreOk<O> {
    /// How to store `O`.
    fn storing(&self) -> Storing<O>;
}

impl<T: Persistable, E: Display + Send + Sync + 'static> StoreOk<Result<T, E>>
    for Chooser<Result<T, E>>
{
    fn storing(&self) -> Storing<Result<T, E>> {
        Storing::ok_only()
    }
}

/// Picked first: the output stored whole.
#[doc(hidden)]
pub trait StoreWhole<O> {
    /// How to store `O`.
    fn storing(&self) -> Storing<O>;
}

impl<O: Persistable> StoreWhole<O> for &Chooser<O> {
    fn storing(&self) -> Storing<O> {
        Storing::whole()
    }
}
