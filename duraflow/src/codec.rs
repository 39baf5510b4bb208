//! The record format: every value duraflow stores is one self-checking record.
//!
//! All integers are little-endian. `T` = type-name length, `S` = shape length, `K` = key
//! length, `N` = payload length.
//!
//! | offset          | size | field                                                       |
//! |-----------------|------|-------------------------------------------------------------|
//! | 0               | 4    | magic `b"DFLW"`                                             |
//! | 4               | 1    | format version, `3`                                         |
//! | 5               | 1    | flags: bit 0 set = the payload is a zstd frame              |
//! | 6               | 4    | task version (`#[durable(version = N)]`, 0 by default)      |
//! | 10              | 4    | schema version (`#[durable(schema = N)]`, 0 by default)     |
//! | 14              | 16   | schema fingerprint: SHA-256 of the shape (or type name)     |
//! | 30              | 16   | input fingerprint slot (all zero: resume-by-key, no inputs) |
//! | 46              | 8    | written at: milliseconds since the Unix epoch               |
//! | 54              | 2    | `T`                                                         |
//! | 56              | 2    | `S` (0: the type could not be traced, its name is checked)  |
//! | 58              | 4    | `K`                                                         |
//! | 62              | T    | output type name, UTF-8 (`std::any::type_name`)             |
//! | 62+T            | S    | the type's serde shape as text, UTF-8, at most 4 KiB        |
//! | 62+T+S          | K    | the key, UTF-8: a record copied under another key is refused |
//! | 62+T+S+K        | 8    | `N`                                                         |
//! | 70+T+S+K        | N    | payload: the value in postcard (zstd-compressed if flagged) |
//! | 70+T+S+K+N      | 4    | CRC-32 (IEEE) of bytes `0 .. 70+T+S+K+N`                    |
//!
//! Records of format 2 (no flags byte, a 4-byte `N`, every later field one byte earlier)
//! are read as well. Decoding checks, in order: length, magic, format version, every length
//! against the bytes present, the checksum, the key, the schema fingerprint and version (of
//! the type's shape, or of its name when it cannot be traced), the task version (when the
//! caller asks), the input fingerprint (when the caller asks), the record's age against a
//! ttl (when the caller gives one), and that postcard consumes the payload exactly. A record
//! failing any check is a [`Miss`], never a value.

use crate::payload;
use crate::schema::{self, Schema};
use serde::{de::DeserializeOwned, Serialize};

/// First four bytes of every record.
pub const MAGIC: [u8; 4] = *b"DFLW";
/// Version of this byte layout.
pub const FORMAT_VERSION: u8 = 3;

/// The flag of a zstd-compressed payload.
const ZSTD: u8 = 1;
/// Payloads shorter than this are never compressed: a zstd frame would not pay for itself.
const COMPRESS_MIN: usize = 64;
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
    /// The record's format version.
    pub format_version: u8,
    /// Whether the payload is a zstd frame (see [`RecordView::postcard`]).
    pub compressed: bool,
    /// The payload as stored.
    pub payload: &'a [u8],
}

impl RecordView<'_> {
    /// The value in postcard: the payload, decompressed if it is compressed.
    pub fn postcard(&self) -> Result<std::borrow::Cow<'_, [u8]>, String> {
        postcard_of(self.payload, self.compressed)
    }
}

/// The postcard bytes of a payload, decompressed if `compressed`.
fn postcard_of(payload: &[u8], compressed: bool) -> Result<std::borrow::Cow<'_, [u8]>, String> {
    if !compressed {
        return Ok(std::borrow::Cow::Borrowed(payload));
    }
    zstd::stream::decode_all(payload)
        .map(std::borrow::Cow::Owned)
        .map_err(|e| format!("compressed payload does not decompress: {e}"))
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
    /// How long after it was written a record is used (`#[durable(ttl = "7d")]`), or `None`
    /// for as long as it is kept.
    pub ttl: Option<std::time::Duration>,
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
    /// The record is older than the task's ttl (`#[durable(ttl = "7d")]`).
    Expired {
        /// When the record was written, in milliseconds since the Unix epoch.
        written_at_ms: u64,
        /// The task's ttl.
        ttl: std::time::Duration,
    },
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
            Miss::Expired { written_at_ms, ttl } => {
                let written =
                    std::time::UNIX_EPOCH + std::time::Duration::from_millis(*written_at_ms);
                write!(
                    f,
                    "expired: written at {}, older than the ttl of {}",
                    humantime::format_rfc3339_seconds(written),
                    humantime::format_duration(*ttl)
                )
            }
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
    let head = V3.head + type_name.len() + shape.len() + key.len();
    let mut out = Vec::with_capacity(head + 8 + 64 + CHECKSUM_LEN);
    out.extend_from_slice(&MAGIC);
    out.push(FORMAT_VERSION);
    out.push(0);
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
    out.extend_from_slice(&[0; 8]);
    let mut out = payload::encode(value, out)?;
    let payload_len = (out.len() - len_at - 8) as u64;
    out[len_at..len_at + 8].copy_from_slice(&payload_len.to_le_bytes());
    out.reserve_exact(CHECKSUM_LEN);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// `record` with its payload compressed by zstd at `level`, when that makes it shorter;
/// otherwise (or if it is not a record of this format, or compressed already) unchanged.
pub fn compress(record: Vec<u8>, level: i32) -> Vec<u8> {
    let Ok(frame) = frame(&record) else {
        return record;
    };
    if frame.compressed || frame.payload.len() < COMPRESS_MIN || frame.layout != &V3 {
        return record;
    }
    let Ok(packed) = zstd::bulk::compress(frame.payload, level) else {
        return record;
    };
    if packed.len() >= frame.payload.len() {
        return record;
    }
    let payload_at = frame.payload.as_ptr() as usize - record.as_ptr() as usize;
    let len_at = payload_at - 8;
    let mut out = Vec::with_capacity(payload_at + packed.len() + CHECKSUM_LEN);
    out.extend_from_slice(&record[..len_at]);
    out[5] |= ZSTD;
    out.extend_from_slice(&(packed.len() as u64).to_le_bytes());
    out.extend_from_slice(&packed);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
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

/// Where the fields of one format version are.
#[derive(Debug, PartialEq, Eq)]
struct Layout {
    version: u8,
    /// Offset of the flags byte, if the format has one.
    flags: Option<usize>,
    /// Offset of the task version; the fixed fields follow it as in the table.
    fields: usize,
    /// Length of the fixed head, before the type name.
    head: usize,
    /// Bytes of the payload length.
    len_size: usize,
}

const V3: Layout = Layout {
    version: 3,
    flags: Some(5),
    fields: 6,
    head: 62,
    len_size: 8,
};

const V2: Layout = Layout {
    version: 2,
    flags: None,
    fields: 5,
    head: 61,
    len_size: 4,
};

/// A record's fields with the names and key still as bytes: what [`decode`] compares,
/// without validating UTF-8 it does not need.
struct Frame<'a> {
    layout: &'static Layout,
    compressed: bool,
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
    let layout = match bytes[4] {
        3 => &V3,
        2 => &V2,
        1 => return Err(Unreadable::OldFormat(1)),
        other => return Err(format!("unknown record format version {other}").into()),
    };
    if bytes.len() < layout.head + layout.len_size + CHECKSUM_LEN {
        return Err(format!(
            "truncated: {} bytes is shorter than any record",
            bytes.len()
        )
        .into());
    }
    let flags = layout.flags.map_or(0, |at| bytes[at]);
    if flags & !ZSTD != 0 {
        return Err(format!("unknown flags {flags:#04x}").into());
    }
    let at = layout.fields;
    let type_len = usize::from(u16::from_le_bytes(take(bytes, at + 48)?));
    let shape_len = usize::from(u16::from_le_bytes(take(bytes, at + 50)?));
    let key_len = u32::from_le_bytes(take(bytes, at + 52)?) as usize;
    let shape_at = layout.head + type_len;
    let key_at = shape_at + shape_len;
    let len_at = key_at.checked_add(key_len).ok_or("length overflow")?;
    let payload_len = match layout.len_size {
        4 => u64::from(u32::from_le_bytes(take(bytes, len_at)?)),
        _ => u64::from_le_bytes(take(bytes, len_at)?),
    };
    let payload_at = len_at + layout.len_size;
    let crc_at = usize::try_from(payload_len)
        .ok()
        .and_then(|len| payload_at.checked_add(len))
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
        layout,
        compressed: flags & ZSTD != 0,
        task_version: u32::from_le_bytes(take(bytes, at)?),
        schema_version: u32::from_le_bytes(take(bytes, at + 4)?),
        schema_fingerprint: take::<16>(bytes, at + 8)?,
        input_fingerprint: take::<16>(bytes, at + 24)?,
        written_at_ms: u64::from_le_bytes(take(bytes, at + 40)?),
        type_name: &bytes[layout.head..shape_at],
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
        format_version: frame.layout.version,
        compressed: frame.compressed,
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
    let record = checked::<T>(key, bytes, expect)?;
    let postcard = postcard_of(record.payload, record.compressed).map_err(Miss::Corrupt)?;
    payload::decode(&postcard).map_err(Miss::Corrupt)
}

/// As [`decode`], taking the record's buffer: a `Vec<u8>` value is then the buffer itself,
/// its header cut off, so restoring a large byte buffer neither copies it nor holds it twice.
/// On a miss the buffer comes back with it.
pub fn decode_owned<T: DeserializeOwned + 'static>(
    key: &str,
    bytes: Vec<u8>,
    expect: Expect,
) -> Result<T, (Miss, Vec<u8>)> {
    let (payload, compressed) = match checked::<T>(key, &bytes, expect) {
        Ok(record) => {
            let at = record.payload.as_ptr() as usize - bytes.as_ptr() as usize;
            (at..at + record.payload.len(), record.compressed)
        }
        Err(miss) => return Err((miss, bytes)),
    };
    let decoded = match compressed {
        false => {
            return payload::decode_owned(bytes, payload)
                .map_err(|(why, bytes)| (Miss::Corrupt(why), bytes))
        }
        true => postcard_of(&bytes[payload], true).and_then(|postcard| payload::decode(&postcard)),
    };
    decoded.map_err(|why| (Miss::Corrupt(why), bytes))
}

/// The frame of `bytes` after every check that [`decode`] makes before postcard's.
fn checked<'a, T: DeserializeOwned + 'static>(
    key: &str,
    bytes: &'a [u8],
    expect: Expect,
) -> Result<Frame<'a>, Miss> {
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
    if let Some(ttl) = expect.ttl {
        let age = now_ms().saturating_sub(record.written_at_ms);
        if u128::from(age) > ttl.as_millis() {
            return Err(Miss::Expired {
                written_at_ms: record.written_at_ms,
                ttl,
            });
        }
    }
    Ok(record)
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
        assert_eq!((rec[4], rec[5]), (3, 0));
        assert_eq!(u32::from_le_bytes(rec[6..10].try_into().unwrap()), 3);
        assert_eq!(u32::from_le_bytes(rec[10..14].try_into().unwrap()), 0);
        assert_eq!(&rec[14..30], &schema::of::<u8>().fingerprint);
        assert_eq!(&rec[30..46], &[9; 16]);
        let written = u64::from_le_bytes(rec[46..54].try_into().unwrap());
        assert!(written > 1_700_000_000_000, "a plausible clock: {written}");
        assert_eq!(u16::from_le_bytes(rec[54..56].try_into().unwrap()), 2); // "u8"
        assert_eq!(u16::from_le_bytes(rec[56..58].try_into().unwrap()), 2); // "u8"
        assert_eq!(u32::from_le_bytes(rec[58..62].try_into().unwrap()), 1);
        assert_eq!(&rec[62..64], b"u8");
        assert_eq!(&rec[64..66], b"u8");
        assert_eq!(&rec[66..67], b"k");
        assert_eq!(u64::from_le_bytes(rec[67..75].try_into().unwrap()), 1);
        assert_eq!(rec[75], 7);
        assert_eq!(rec.len(), 80);
        let crc = u32::from_le_bytes(rec[76..80].try_into().unwrap());
        assert_eq!(crc, crc32fast::hash(&rec[..76]));
        let view = parse(&rec).unwrap();
        assert_eq!(
            (view.key, view.type_name, view.shape, view.payload),
            ("k", "u8", "u8", &[7u8][..])
        );
        assert_eq!((view.written_at_ms, view.format_version), (written, 3));
        let expect = Expect {
            task_version: Some(3),
            input_fingerprint: Some([9; 16]),
            ..Expect::default()
        };
        assert_eq!(decode::<u8>("k", &rec, expect), Ok(7));
    }

    /// The same record in format 2: no flags byte, a four-byte payload length.
    fn as_format_2(rec: &[u8]) -> Vec<u8> {
        let payload_len_at = rec.len() - 4 - 1 - 8;
        let mut old = Vec::new();
        old.extend_from_slice(&rec[..4]);
        old.push(2);
        old.extend_from_slice(&rec[6..payload_len_at]);
        old.extend_from_slice(&1u32.to_le_bytes());
        old.push(rec[rec.len() - 5]);
        let crc = crc32fast::hash(&old);
        old.extend_from_slice(&crc.to_le_bytes());
        old
    }

    #[test]
    fn records_of_format_2_are_read() {
        let rec = encode("k", &7u8, STAMP).unwrap();
        let old = as_format_2(&rec);
        assert_eq!(old.len(), rec.len() - 5);
        let view = parse(&old).unwrap();
        assert_eq!(
            (view.key, view.format_version, view.payload),
            ("k", 2, &[7u8][..])
        );
        assert_eq!(view.input_fingerprint, [9; 16]);
        assert_eq!(decode::<u8>("k", &old, Expect::default()), Ok(7));
        let mut flipped = old.clone();
        flipped[10] ^= 1;
        assert!(matches!(
            decode::<u8>("k", &flipped, Expect::default()),
            Err(Miss::Corrupt(why)) if why.contains("checksum")
        ));
    }

    #[test]
    fn compressed_records_decode_to_the_same_value() {
        let value: Vec<u64> = (0..4_000).map(|i| i % 7).collect();
        let rec = encode("k", &value, STAMP).unwrap();
        let packed = compress(rec.clone(), 3);
        assert!(
            packed.len() * 4 < rec.len(),
            "{} vs {}",
            packed.len(),
            rec.len()
        );
        let view = parse(&packed).unwrap();
        assert!(view.compressed);
        assert_eq!(
            view.postcard().unwrap().as_ref(),
            parse(&rec).unwrap().payload
        );
        assert_eq!(
            decode::<Vec<u64>>("k", &packed, Expect::default()),
            Ok(value)
        );
        // Compressing again, or a payload too short to gain, leaves the record as it is.
        assert_eq!(compress(packed.clone(), 3), packed);
        let small = encode("k", &7u8, STAMP).unwrap();
        assert_eq!(compress(small.clone(), 3), small);
    }

    #[test]
    fn a_corrupt_compressed_payload_is_a_miss() {
        let value = vec![5u8; 10_000];
        let packed = compress(encode("k", &value, STAMP).unwrap(), 3);
        let view = parse(&packed).unwrap();
        let at = view.payload.as_ptr() as usize - packed.as_ptr() as usize;
        // Garbage inside the frame with a checksum that matches it.
        let mut bad = packed.clone();
        bad[at + 4] ^= 0xff;
        let end = bad.len() - 4;
        let crc = crc32fast::hash(&bad[..end]);
        bad[end..].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(
            decode::<Vec<u8>>("k", &bad, Expect::default()),
            Err(Miss::Corrupt(_))
        ));
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

    /// `rec` as if written at `ms`, its checksum recomputed.
    fn written_at(rec: &[u8], ms: u64) -> Vec<u8> {
        let mut old = rec.to_vec();
        old[46..54].copy_from_slice(&ms.to_le_bytes());
        let end = old.len() - 4;
        let crc = crc32fast::hash(&old[..end]);
        old[end..].copy_from_slice(&crc.to_le_bytes());
        old
    }

    #[test]
    fn a_record_older_than_its_ttl_is_expired() {
        let ttl = std::time::Duration::from_secs(3600);
        let expect = Expect {
            ttl: Some(ttl),
            ..Expect::default()
        };
        let fresh = encode("k", &7u8, STAMP).unwrap();
        assert_eq!(decode::<u8>("k", &fresh, expect), Ok(7));
        let written = now_ms() - 3_601_000;
        let old = written_at(&fresh, written);
        assert_eq!(
            decode::<u8>("k", &old, expect),
            Err(Miss::Expired {
                written_at_ms: written,
                ttl
            })
        );
        assert_eq!(decode::<u8>("k", &old, Expect::default()), Ok(7), "no ttl");
        let message = decode::<u8>("k", &old, expect).unwrap_err().to_string();
        assert!(message.contains("older than the ttl of 1h"), "{message}");
        // A record from the future (another machine's clock) is not expired.
        let ahead = written_at(&fresh, now_ms() + 60_000);
        assert_eq!(decode::<u8>("k", &ahead, expect), Ok(7));
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
