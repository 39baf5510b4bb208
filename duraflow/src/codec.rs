//! The record format: every value duraflow stores is one self-checking record.
//!
//! All integers are little-endian. `T` = type-name length, `S` = shape length, `K` = key
//! length, `N` = payload length.
//!
//! | offset          | size | field                                                       |
//! |-----------------|------|-------------------------------------------------------------|
//! | 0               | 4    | magic `b"DFLW"`                                             |
//! | 4               | 1    | format version, `2`                                         |
//! | 5               | 4    | task version (`#[durable(version = N)]`, 0 by default)      |
//! | 9               | 4    | schema version (`#[durable(schema = N)]`, 0 by default)     |
//! | 13              | 16   | schema fingerprint: SHA-256 of the shape (or type name)     |
//! | 29              | 16   | input fingerprint slot (all zero: resume-by-key, no inputs) |
//! | 45              | 8    | written at: milliseconds since the Unix epoch               |
//! | 53              | 2    | `T`                                                         |
//! | 55              | 2    | `S` (0: the type could not be traced, its name is checked)  |
//! | 57              | 4    | `K`                                                         |
//! | 61              | T    | output type name, UTF-8 (`std::any::type_name`)             |
//! | 61+T            | S    | the type's serde shape as text, UTF-8, at most 4 KiB        |
//! | 61+T+S          | K    | the key, UTF-8: a record copied under another key is refused |
//! | 61+T+S+K        | 4    | `N`                                                         |
//! | 65+T+S+K        | N    | payload: the value in postcard                              |
//! | 65+T+S+K+N      | 4    | CRC-32 (IEEE) of bytes `0 .. 65+T+S+K+N`                    |
//!
//! Decoding checks, in order: length, magic, format version, every length against the bytes
//! present, the checksum, the key, the schema fingerprint and version (of the type's shape,
//! or of its name when it cannot be traced), the task
//! version (when the caller asks), the input fingerprint (when the caller asks), and that
//! postcard consumes the payload exactly. A record failing any check is a [`Miss`], never a
//! value.

use crate::schema::{self, Schema};
use serde::{de::DeserializeOwned, Serialize};

/// First four bytes of every record.
pub const MAGIC: [u8; 4] = *b"DFLW";
/// Version of this byte layout.
pub const FORMAT_VERSION: u8 = 2;

const FIXED_HEAD: usize = 61;
const CHECKSUM_LEN: usize = 4;
/// The longest shape text a record keeps (its fingerprint covers all of it).
const SHAPE_MAX: usize = 4096;

/// A record's header fields and payload, borrowed from the record bytes; produced by
/// [`parse`] only after the structure and checksum were verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// Task version written with the record.
    pub task_version: u32,
    /// Schema version written with the record.
    pub schema_version: u32,
    /// Fingerprint of the output type's shape (or of its name, without a shape).
    pub schema_fingerprint: [u8; 16],
    /// Input fingerprint slot; all zero when unused.
    pub input_fingerprint: [u8; 16],
    /// When the record was written, in milliseconds since the Unix epoch.
    pub written_at_ms: u64,
    /// Name of the output type.
    pub type_name: &'a str,
    /// The output type's serde shape (empty when it could not be traced).
    pub shape: &'a str,
    /// The key the record was written under.
    pub key: &'a str,
    /// The postcard payload.
    pub payload: &'a [u8],
}

/// What a record is written with besides its value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stamp {
    /// The task version.
    pub task_version: u32,
    /// The schema version, bumped by hand when a type's meaning changes but not its shape.
    pub schema_version: u32,
    /// The input fingerprint, all zero when unused.
    pub input_fingerprint: [u8; 16],
}

/// What to compare besides the schema when decoding.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expect {
    /// Required schema version (0 unless bumped by hand).
    pub schema_version: u32,
    /// Required task version, or `None` to accept any.
    pub task_version: Option<u32>,
    /// Required input fingerprint, or `None` to accept any.
    pub input_fingerprint: Option<[u8; 16]>,
}

/// Why a record was not returned as a value.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Miss {
    /// Nothing is stored under the key.
    NoRecord,
    /// The bytes fail a structural or checksum check, or the key inside differs.
    Corrupt(String),
    /// The record holds a value of another shape: fields reordered, renamed, added or
    /// removed, a field's type changed, enum variants changed, or the schema version bumped.
    SchemaChanged {
        /// The shape in the record.
        stored: String,
        /// The shape of the type now.
        expected: String,
    },
    /// The record holds another output type (for types whose shape cannot be traced, the
    /// check is by type name).
    TypeChanged {
        /// Type name in the record.
        stored: String,
        /// Type name asked for.
        expected: String,
    },
    /// The record was written by another task version.
    VersionChanged {
        /// Version in the record.
        stored: u32,
        /// Version of the task now.
        expected: u32,
    },
    /// The inputs differ from those the record was computed from.
    InputsChanged,
    /// A refresh was asked for (`DurableDag::refresh`): the record was not looked at.
    Forced,
}

impl std::fmt::Display for Miss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Miss::NoRecord => f.write_str("no record"),
            Miss::Corrupt(why) => write!(f, "corrupt record: {why}"),
            Miss::SchemaChanged { stored, expected } => {
                write!(
                    f,
                    "schema changed: stored `{stored}`, the type is now `{expected}`"
                )
            }
            Miss::TypeChanged { stored, expected } => {
                write!(
                    f,
                    "type changed: stored `{stored}`, task returns `{expected}`"
                )
            }
            Miss::VersionChanged { stored, expected } => {
                write!(
                    f,
                    "version changed: stored {stored}, task is version {expected}"
                )
            }
            Miss::InputsChanged => f.write_str("inputs changed"),
            Miss::Forced => f.write_str("refresh forced"),
        }
    }
}

/// Milliseconds since the Unix epoch, for the record's write time.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Encodes `value` as a record for `key`.
pub fn encode<T: Serialize + DeserializeOwned + 'static>(
    key: &str,
    value: &T,
    stamp: Stamp,
) -> Result<Vec<u8>, postcard::Error> {
    let schema = schema::of::<T>();
    let type_name = schema.type_name;
    let shape = schema
        .shape
        .as_deref()
        .map_or("", |shape| truncated(shape, SHAPE_MAX));
    let too_long = |_| postcard::Error::SerializeBufferFull;
    let type_len = u16::try_from(type_name.len()).map_err(too_long)?;
    let shape_len = u16::try_from(shape.len()).map_err(too_long)?;
    let key_len = u32::try_from(key.len()).map_err(too_long)?;
    let mut out = Vec::with_capacity(FIXED_HEAD + type_name.len() + shape.len() + key.len() + 64);
    out.extend_from_slice(&MAGIC);
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&stamp.task_version.to_le_bytes());
    out.extend_from_slice(&stamp.schema_version.to_le_bytes());
    out.extend_from_slice(&schema.fingerprint);
    out.extend_from_slice(&stamp.input_fingerprint);
    out.extend_from_slice(&now_ms().to_le_bytes());
    out.extend_from_slice(&type_len.to_le_bytes());
    out.extend_from_slice(&shape_len.to_le_bytes());
    out.extend_from_slice(&key_len.to_le_bytes());
    out.extend_from_slice(type_name.as_bytes());
    out.extend_from_slice(shape.as_bytes());
    out.extend_from_slice(key.as_bytes());
    // The payload is serialized in place, after a length slot filled in afterwards.
    let len_at = out.len();
    out.extend_from_slice(&[0; 4]);
    let mut out = postcard::to_extend(value, out)?;
    let payload_len = u32::try_from(out.len() - len_at - 4).map_err(too_long)?;
    out[len_at..len_at + 4].copy_from_slice(&payload_len.to_le_bytes());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn truncated(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Reads `N` bytes at `at`, or says the record is too short.
fn take<const N: usize>(bytes: &[u8], at: usize) -> Result<[u8; N], String> {
    bytes
        .get(at..at + N)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| format!("truncated: {} bytes, field at {at} needs {N}", bytes.len()))
}

/// A record's fields with the names and key still as bytes: what [`decode`] compares,
/// without validating UTF-8 it does not need.
struct Frame<'a> {
    task_version: u32,
    schema_version: u32,
    schema_fingerprint: [u8; 16],
    input_fingerprint: [u8; 16],
    written_at_ms: u64,
    type_name: &'a [u8],
    shape: &'a [u8],
    key: &'a [u8],
    payload: &'a [u8],
}

/// Why a record's bytes are not a record of this format.
enum Unreadable {
    /// Written in an earlier format version, which this version does not read.
    OldFormat(u8),
    /// Anything else.
    Corrupt(String),
}

impl From<String> for Unreadable {
    fn from(why: String) -> Self {
        Unreadable::Corrupt(why)
    }
}

impl From<&str> for Unreadable {
    fn from(why: &str) -> Self {
        Unreadable::Corrupt(why.to_owned())
    }
}

/// Verifies structure and checksum and returns the fields, names as bytes.
fn frame(bytes: &[u8]) -> Result<Frame<'_>, Unreadable> {
    if bytes.len() < 5 || bytes[0..4] != MAGIC {
        return Err("not a duraflow record (bad magic)".into());
    }
    match bytes[4] {
        FORMAT_VERSION => {}
        old @ 1..FORMAT_VERSION => return Err(Unreadable::OldFormat(old)),
        other => return Err(format!("unknown record format version {other}").into()),
    }
    if bytes.len() < FIXED_HEAD + 4 + CHECKSUM_LEN {
        return Err(format!(
            "truncated: {} bytes is shorter than any record",
            bytes.len()
        )
        .into());
    }
    let type_len = usize::from(u16::from_le_bytes(take(bytes, 53)?));
    let shape_len = usize::from(u16::from_le_bytes(take(bytes, 55)?));
    let key_len = u32::from_le_bytes(take(bytes, 57)?) as usize;
    let shape_at = FIXED_HEAD + type_len;
    let key_at = shape_at + shape_len;
    let len_at = key_at.checked_add(key_len).ok_or("length overflow")?;
    let payload_len = u32::from_le_bytes(take(bytes, len_at)?) as usize;
    let payload_at = len_at + 4;
    let crc_at = payload_at
        .checked_add(payload_len)
        .ok_or("length overflow")?;
    if crc_at.checked_add(CHECKSUM_LEN) != Some(bytes.len()) {
        return Err(format!(
            "length mismatch: header announces {} bytes, record has {}",
            crc_at.saturating_add(CHECKSUM_LEN),
            bytes.len()
        )
        .into());
    }
    let stored_crc = u32::from_le_bytes(take(bytes, crc_at)?);
    if crc32fast::hash(&bytes[..crc_at]) != stored_crc {
        return Err("checksum mismatch".into());
    }
    Ok(Frame {
        task_version: u32::from_le_bytes(take(bytes, 5)?),
        schema_version: u32::from_le_bytes(take(bytes, 9)?),
        schema_fingerprint: take::<16>(bytes, 13)?,
        input_fingerprint: take::<16>(bytes, 29)?,
        written_at_ms: u64::from_le_bytes(take(bytes, 45)?),
        type_name: &bytes[FIXED_HEAD..shape_at],
        shape: &bytes[shape_at..key_at],
        key: &bytes[key_at..len_at],
        payload: &bytes[payload_at..crc_at],
    })
}

/// Verifies structure and checksum and returns the fields. Does not look at the key or type.
pub fn parse(bytes: &[u8]) -> Result<RecordView<'_>, String> {
    let frame = frame(bytes).map_err(|unreadable| match unreadable {
        Unreadable::OldFormat(version) => format!(
            "written in record format {version}, which this version of duraflow does not read"
        ),
        Unreadable::Corrupt(why) => why,
    })?;
    let text =
        |bytes, what: &str| std::str::from_utf8(bytes).map_err(|_| format!("{what} is not UTF-8"));
    Ok(RecordView {
        task_version: frame.task_version,
        schema_version: frame.schema_version,
        schema_fingerprint: frame.schema_fingerprint,
        input_fingerprint: frame.input_fingerprint,
        written_at_ms: frame.written_at_ms,
        type_name: text(frame.type_name, "type name")?,
        shape: text(frame.shape, "shape")?,
        key: text(frame.key, "key")?,
        payload: frame.payload,
    })
}

/// A schema as a miss names it: the shape (or the type name when it has none), with its
/// schema version when bumped.
fn describe(type_name: &str, shape: &str, schema_version: u32) -> String {
    let shape = match shape {
        "" => format!("{type_name} (not traced: checked by name)"),
        shape => shape.to_owned(),
    };
    match schema_version {
        0 => shape,
        version => format!("{shape} (schema {version})"),
    }
}

/// Decodes the record `bytes` stored under `key` as a `T`, checking everything.
pub fn decode<T: DeserializeOwned + 'static>(
    key: &str,
    bytes: &[u8],
    expect: Expect,
) -> Result<T, Miss> {
    let schema = schema::of::<T>();
    let describe_expected = |schema: &Schema| {
        let shape = schema.shape.as_deref().unwrap_or_default();
        describe(
            schema.type_name,
            truncated(shape, SHAPE_MAX),
            expect.schema_version,
        )
    };
    let record = match frame(bytes) {
        Ok(record) => record,
        Err(Unreadable::OldFormat(version)) => {
            return Err(Miss::SchemaChanged {
                stored: format!("unknown: written in record format {version}"),
                expected: describe_expected(&schema),
            })
        }
        Err(Unreadable::Corrupt(why)) => return Err(Miss::Corrupt(why)),
    };
    if record.key != key.as_bytes() {
        return Err(Miss::Corrupt(format!(
            "the record belongs to key {:?}, not to this key",
            String::from_utf8_lossy(record.key)
        )));
    }
    if record.schema_fingerprint != schema.fingerprint
        || record.schema_version != expect.schema_version
    {
        let stored_name = String::from_utf8_lossy(record.type_name);
        let untraced = record.shape.is_empty() && schema.shape.is_none();
        if untraced && record.schema_version == expect.schema_version {
            return Err(Miss::TypeChanged {
                stored: stored_name.into_owned(),
                expected: schema.type_name.to_owned(),
            });
        }
        return Err(Miss::SchemaChanged {
            stored: describe(
                &stored_name,
                &String::from_utf8_lossy(record.shape),
                record.schema_version,
            ),
            expected: describe_expected(&schema),
        });
    }
    if let Some(want) = expect.task_version {
        if record.task_version != want {
            return Err(Miss::VersionChanged {
                stored: record.task_version,
                expected: want,
            });
        }
    }
    if let Some(want) = expect.input_fingerprint {
        if record.input_fingerprint != want {
            return Err(Miss::InputsChanged);
        }
    }
    match postcard::take_from_bytes::<T>(record.payload) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(Miss::Corrupt(format!(
            "payload has {} trailing bytes",
            rest.len()
        ))),
        Err(e) => Err(Miss::Corrupt(format!("payload does not decode: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAMP: Stamp = Stamp {
        task_version: 3,
        schema_version: 0,
        input_fingerprint: [9; 16],
    };

    #[test]
    fn layout_matches_the_table() {
        let rec = encode("k", &7u8, STAMP).unwrap();
        assert_eq!(&rec[0..4], b"DFLW");
        assert_eq!(rec[4], 2);
        assert_eq!(u32::from_le_bytes(rec[5..9].try_into().unwrap()), 3);
        assert_eq!(u32::from_le_bytes(rec[9..13].try_into().unwrap()), 0);
        assert_eq!(&rec[13..29], &schema::of::<u8>().fingerprint);
        assert_eq!(&rec[29..45], &[9; 16]);
        let written = u64::from_le_bytes(rec[45..53].try_into().unwrap());
        assert!(written > 1_700_000_000_000, "a plausible clock: {written}");
        assert_eq!(u16::from_le_bytes(rec[53..55].try_into().unwrap()), 2); // "u8"
        assert_eq!(u16::from_le_bytes(rec[55..57].try_into().unwrap()), 2); // "u8"
        assert_eq!(u32::from_le_bytes(rec[57..61].try_into().unwrap()), 1);
        assert_eq!(&rec[61..63], b"u8");
        assert_eq!(&rec[63..65], b"u8");
        assert_eq!(&rec[65..66], b"k");
        assert_eq!(u32::from_le_bytes(rec[66..70].try_into().unwrap()), 1);
        assert_eq!(rec[70], 7);
        assert_eq!(rec.len(), 75);
        let view = parse(&rec).unwrap();
        assert_eq!(
            (view.key, view.type_name, view.shape, view.payload),
            ("k", "u8", "u8", &[7u8][..])
        );
        assert_eq!(view.written_at_ms, written);
        let expect = Expect {
            task_version: Some(3),
            input_fingerprint: Some([9; 16]),
            ..Expect::default()
        };
        assert_eq!(decode::<u8>("k", &rec, expect), Ok(7));
    }

    #[test]
    fn a_record_of_the_first_format_is_a_schema_change_not_corruption() {
        let mut rec = encode("k", &7u8, STAMP).unwrap();
        rec[4] = 1;
        assert!(matches!(
            decode::<u8>("k", &rec, Expect::default()),
            Err(Miss::SchemaChanged { stored, .. }) if stored.contains("record format 1")
        ));
    }

    #[test]
    fn a_bumped_schema_version_is_a_schema_change_naming_both_versions() {
        let rec = encode("k", &7u8, STAMP).unwrap();
        let expect = Expect {
            schema_version: 2,
            ..Expect::default()
        };
        assert_eq!(
            decode::<u8>("k", &rec, expect),
            Err(Miss::SchemaChanged {
                stored: "u8".into(),
                expected: "u8 (schema 2)".into()
            })
        );
    }
}
