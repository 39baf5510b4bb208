//! The schema of an output type: its serde shape (container and field names in order, their
//! types, enum variants, recursively; not the module path), traced with `serde-reflection`
//! once per type per process.
//!
//! postcard is not self-describing: a record written by `struct Price { net: f64, gross:
//! f64 }` decodes as `struct Price { gross: f64, net: f64 }` with the values swapped. A
//! record therefore carries the fingerprint of its type's shape, and a record of another
//! shape is a miss. A type the tracer cannot describe (a hand-written `Deserialize`, an
//! untagged or flattened serde enum, `deserialize_any`) is checked by its type name instead.

use serde::de::DeserializeOwned;
use serde_reflection::{
    ContainerFormat, Format, Named, Registry, Tracer, TracerConfig, VariantFormat,
};
use sha2::{Digest, Sha256};
use std::any::TypeId;
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;
use std::sync::{Arc, OnceLock, RwLock};

/// What a record says of the type of its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Schema {
    /// `std::any::type_name` of the type.
    pub(crate) type_name: &'static str,
    /// The shape as text (`Price { net: f64, gross: f64 }`), or `None` when the type could
    /// not be traced and is checked by its name.
    pub(crate) shape: Option<String>,
    /// SHA-256 (first 16 bytes) of the shape, or of the type name without one.
    pub(crate) fingerprint: [u8; 16],
}

/// The schema of `T`, traced on first use.
pub(crate) fn of<T: DeserializeOwned + 'static>() -> Arc<Schema> {
    static KNOWN: OnceLock<RwLock<HashMap<TypeId, Arc<Schema>>>> = OnceLock::new();
    let known = KNOWN.get_or_init(RwLock::default);
    let id = TypeId::of::<T>();
    if let Some(schema) = known.read().unwrap_or_else(|e| e.into_inner()).get(&id) {
        return Arc::clone(schema);
    }
    let type_name = std::any::type_name::<T>();
    let shape = trace::<T>();
    let fingerprint = digest(match &shape {
        Some(shape) => shape.as_bytes(),
        None => type_name.as_bytes(),
    });
    let schema = Arc::new(Schema {
        type_name,
        shape,
        fingerprint,
    });
    let mut known = known.write().unwrap_or_else(|e| e.into_inner());
    Arc::clone(known.entry(id).or_insert(schema))
}

fn digest(bytes: &[u8]) -> [u8; 16] {
    let hash = Sha256::digest(bytes);
    let mut out = [0; 16];
    out.copy_from_slice(&hash[..16]);
    out
}

/// The most passes over a type while enum variants remain to be found.
const MAX_PASSES: usize = 512;

/// The shape of `T` as text, or `None` when the tracer cannot describe it.
///
/// The tracer explores one variant of each enum nested in `T` per pass, and names the enums
/// it has not finished when asked for the registry: those are reopened after each pass of
/// the next round, with twice as many passes, until every variant is known.
fn trace<T: DeserializeOwned>() -> Option<String> {
    let mut unfinished: BTreeSet<String> = BTreeSet::new();
    let mut passes = 4;
    loop {
        let mut tracer = Tracer::new(TracerConfig::default());
        let mut root = None;
        for _ in 0..passes {
            let traced = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                tracer.trace_simple_type::<T>()
            }));
            root = Some(traced.ok()?.ok()?.0);
            for name in &unfinished {
                tracer.check_incomplete_enum(name);
            }
        }
        match tracer.registry() {
            Ok(registry) => return root.map(|root| render(&root, &registry)),
            Err(serde_reflection::Error::MissingVariants(names)) if passes < MAX_PASSES => {
                unfinished.extend(names);
                passes *= 2;
            }
            Err(_) => return None,
        }
    }
}

/// `root`, then each container it reaches, as in Rust source: `Price { net: f64, gross:
/// f64 }; Side { Buy, Sell }`. Field and variant order is part of the text.
fn render(root: &Format, registry: &Registry) -> String {
    let mut out = String::new();
    format(&mut out, root);
    for (name, container) in registry {
        out.push_str("; ");
        out.push_str(name);
        match container {
            ContainerFormat::UnitStruct => {}
            ContainerFormat::NewTypeStruct(inner) => tuple(&mut out, std::slice::from_ref(inner)),
            ContainerFormat::TupleStruct(items) => tuple(&mut out, items),
            ContainerFormat::Struct(fields) => named(&mut out, fields),
            ContainerFormat::Enum(variants) => {
                out.push_str(" { ");
                for (i, variant) in variants.values().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&variant.name);
                    match &variant.value {
                        VariantFormat::NewType(inner) => {
                            tuple(&mut out, std::slice::from_ref(inner))
                        }
                        VariantFormat::Tuple(items) => tuple(&mut out, items),
                        VariantFormat::Struct(fields) => named(&mut out, fields),
                        VariantFormat::Unit | VariantFormat::Variable(_) => {}
                    }
                }
                out.push_str(" }");
            }
        }
    }
    out
}

fn tuple(out: &mut String, items: &[Format]) {
    out.push('(');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        format(out, item);
    }
    out.push(')');
}

fn named(out: &mut String, fields: &[Named<Format>]) {
    out.push_str(" { ");
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{}: ", field.name);
        format(out, &field.value);
    }
    out.push_str(" }");
}

fn format(out: &mut String, format_: &Format) {
    let primitive = match format_ {
        Format::Unit => "()",
        Format::Bool => "bool",
        Format::I8 => "i8",
        Format::I16 => "i16",
        Format::I32 => "i32",
        Format::I64 => "i64",
        Format::I128 => "i128",
        Format::U8 => "u8",
        Format::U16 => "u16",
        Format::U32 => "u32",
        Format::U64 => "u64",
        Format::U128 => "u128",
        Format::F32 => "f32",
        Format::F64 => "f64",
        Format::Char => "char",
        Format::Str => "str",
        Format::Bytes => "bytes",
        Format::Variable(_) => "?",
        Format::TypeName(name) => name,
        Format::Option(inner) => {
            out.push_str("Option<");
            format(out, inner);
            out.push('>');
            return;
        }
        Format::Seq(inner) => {
            out.push('[');
            format(out, inner);
            out.push(']');
            return;
        }
        Format::Map { key, value } => {
            out.push('{');
            format(out, key);
            out.push_str(": ");
            format(out, value);
            out.push('}');
            return;
        }
        Format::Tuple(items) => return tuple(out, items),
        Format::TupleArray { content, size } => {
            out.push('[');
            format(out, content);
            let _ = write!(out, "; {size}]");
            return;
        }
    };
    out.push_str(primitive);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[allow(dead_code)]
    #[derive(Deserialize)]
    struct Price {
        net: f64,
        gross: f64,
        side: Side,
    }

    #[allow(dead_code)]
    #[derive(Deserialize)]
    enum Side {
        Buy,
        Sell { limit: Option<u32> },
        Hold(Vec<u8>, (i8, char)),
    }

    #[allow(dead_code)]
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Loose {
        A(u8),
        B(String),
    }

    #[test]
    fn a_struct_is_its_fields_in_order_and_its_nested_enum_every_variant() {
        assert_eq!(
            of::<Price>().shape.as_deref(),
            Some(
                "Price; Price { net: f64, gross: f64, side: Side }; \
                 Side { Buy, Sell { limit: Option<u32> }, Hold([u8], (i8, char)) }"
            )
        );
        assert_eq!(
            of::<Vec<(u8, String)>>().shape.as_deref(),
            Some("[(u8, str)]")
        );
    }

    #[test]
    fn a_type_the_tracer_cannot_describe_is_known_by_its_name() {
        let schema = of::<Loose>();
        assert_eq!(schema.shape, None);
        assert_eq!(
            schema.fingerprint,
            digest(std::any::type_name::<Loose>().as_bytes())
        );
    }

    #[test]
    fn shapes_differ_in_their_fingerprints() {
        assert_ne!(of::<Price>().fingerprint, of::<Side>().fingerprint);
        assert_eq!(of::<Price>(), of::<Price>());
    }
}
