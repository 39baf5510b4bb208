//! Telling a failed output (`Result::Err`) from a value without specialization.
//!
//! serde serializes `Result::Err(e)` as the newtype variant `Err` of the enum `Result`. A probe
//! serializer that stops at the first call answers "is this a `Result::Err`, and what does it
//! say?" for any `T: Serialize`, serializing nothing but the error itself.

use serde::ser::{self, Impossible, Serialize, Serializer};
use std::fmt;

/// The error's text when `value` serializes as `Result::Err(..)`: such outputs flow
/// downstream but are not persisted, so the next run retries the task.
pub(crate) fn failure_text<T: Serialize + ?Sized>(value: &T) -> Option<String> {
    match value.serialize(Probe) {
        Err(Found::Failure(text)) => Some(text),
        _ => None,
    }
}

/// The error as text: a string as it is, anything else as JSON.
fn text_of<V: Serialize + ?Sized>(error: &V) -> String {
    match serde_json::to_value(error) {
        Ok(serde_json::Value::String(text)) => text,
        Ok(other) => other.to_string(),
        Err(_) => "an error that cannot be shown".to_owned(),
    }
}

/// The probe's only way out: which kind of value it met first.
#[derive(Debug)]
enum Found {
    Failure(String),
    Other,
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("probe stopped")
    }
}

impl std::error::Error for Found {}

impl ser::Error for Found {
    fn custom<M: fmt::Display>(_: M) -> Self {
        Found::Other
    }
}

struct Probe;

macro_rules! other {
    ($($name:ident($($arg:ty),*) -> $ret:ty;)*) => {
        $(fn $name(self, $(_: $arg),*) -> Result<$ret, Found> { Err(Found::Other) })*
    };
}

impl Serializer for Probe {
    type Ok = ();
    type Error = Found;
    type SerializeSeq = Impossible<(), Found>;
    type SerializeTuple = Impossible<(), Found>;
    type SerializeTupleStruct = Impossible<(), Found>;
    type SerializeTupleVariant = Impossible<(), Found>;
    type SerializeMap = Impossible<(), Found>;
    type SerializeStruct = Impossible<(), Found>;
    type SerializeStructVariant = Impossible<(), Found>;

    fn serialize_newtype_variant<V: Serialize + ?Sized>(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &V,
    ) -> Result<(), Found> {
        if name == "Result" && variant == "Err" {
            Err(Found::Failure(text_of(value)))
        } else {
            Err(Found::Other)
        }
    }

    fn serialize_some<V: Serialize + ?Sized>(self, _: &V) -> Result<(), Found> {
        Err(Found::Other)
    }

    fn serialize_newtype_struct<V: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &V,
    ) -> Result<(), Found> {
        Err(Found::Other)
    }

    other! {
        serialize_bool(bool) -> ();
        serialize_i8(i8) -> ();
        serialize_i16(i16) -> ();
        serialize_i32(i32) -> ();
        serialize_i64(i64) -> ();
        serialize_i128(i128) -> ();
        serialize_u8(u8) -> ();
        serialize_u16(u16) -> ();
        serialize_u32(u32) -> ();
        serialize_u64(u64) -> ();
        serialize_u128(u128) -> ();
        serialize_f32(f32) -> ();
        serialize_f64(f64) -> ();
        serialize_char(char) -> ();
        serialize_str(&str) -> ();
        serialize_bytes(&[u8]) -> ();
        serialize_none() -> ();
        serialize_unit() -> ();
        serialize_unit_struct(&'static str) -> ();
        serialize_unit_variant(&'static str, u32, &'static str) -> ();
        serialize_seq(Option<usize>) -> Self::SerializeSeq;
        serialize_tuple(usize) -> Self::SerializeTuple;
        serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
        serialize_map(Option<usize>) -> Self::SerializeMap;
        serialize_struct(&'static str, usize) -> Self::SerializeStruct;
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
    }
}

#[cfg(test)]
mod tests {
    use super::failure_text;

    #[test]
    fn only_result_err_is_a_failure_and_says_what_failed() {
        assert_eq!(
            failure_text(&Err::<i32, String>("boom".into())).as_deref(),
            Some("boom")
        );
        assert_eq!(
            failure_text(&Err::<i32, (u8, bool)>((3, true))).as_deref(),
            Some("[3,true]")
        );
        assert_eq!(failure_text(&Ok::<i32, String>(1)), None);
        assert_eq!(failure_text(&5i32), None);
        assert_eq!(failure_text(&Some(Err::<(), ()>(()))), None);
        assert_eq!(failure_text(&vec![Err::<(), ()>(())]), None);
        assert_eq!(failure_text(&"text"), None);
    }
}
