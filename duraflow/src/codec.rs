//! The record format: every value duraflow stores is one self-checking record.
//!
//! All integers are little-endian. `T` = type-name length, `K` = key length, `N` = payload
//! length.
//!
//! | offset        | size | field                                                         |
//! |---------------|------|---------------------------------------------------------------|
//! | 0             | 4    | magic `b"DFLW"`                                               |
//! | 4             | 1    | format version, `1`                                           |
//! | 5             | 4    | task version (`#[durable(version = N)]`, 0 by default)        |
//! | 9             | 8    | output-type fingerprint: FNV-1a 64 of the type name           |
//! | 17            | 16   | input fingerprint slot (all zero: resume-by-key, no inputs)   |
//! | 33            | 8    | written at: milliseconds since the Unix epoch                 |
//! | 41            | 2    | `T`                                                           |
//! | 43            | 4    | `K`                                                           |
//! | 47            | T    | output type name, UTF-8 (`std::any::type_name`)               |
//! | 47+T          | K    | the key, UTF-8: a record copied under another key is refused  |
//! | 47+T+K        | 4    | `N`                                                           |
//! | 51+T+K        | N    | payload: the value in postcard                                |
//! | 51+T+K+N      | 4    | CRC-32 (IEEE) of bytes `0 .. 51+T+K+N`                        |
//!
//! Decoding checks, in order: length, magic, format version, every length against the bytes
//! present, the checksum, the key, the type fingerprint and name, the task version (when the
//! caller asks), the input fingerprint (when the caller asks), and that postcard consumes the
//! payload exactly. A record failing any check is a [`Miss`], never a value.

use serde::{de::DeserializeOwned, Serialize};

/// First four bytes of every record.
pub const MAGIC: [u8; 4] = *b"DFLW";
/// Version of this byte layout.
pub const FORMAT_VERSION: u8 = 1;

const FIXED_HEAD: usize = 47;
const CHECKSUM_LEN: usize = 4;

/// FNV-1a, 64 bits: small, stable across platforms and releases (unlike `DefaultHasher`).
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The fingerprint stored for an output type.
pub fn type_fingerprint<T: ?Sized>() -> u64 {
    fnv1a64(std::any::type_name::<T>().as_bytes())
}

/// A record's header fields and payload, borrowed from the record bytes; produced by
/// [`parse`] only after the structure and checksum were verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// Task version written with the record.
    pub task_version: u32,
    /// Fingerprint of the output type.
    pub type_fingerprint: u64,
    /// Input fingerprint slot; all zero when unused.
    pub input_fingerprint: [u8; 16],
    /// When the record was written, in milliseconds since the Unix epoch.
    pub written_at_ms: u64,
    /// Name of the output type.
    pub type_name: &'a str,
    /// The key the record was written under.
    pub key: &'a str,
    /// The postcard payload.
    pub payload: &'a [u8],
}

/// What to compare besides the type when decoding.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expect {
    /// Required task version, or `None` to accept any.
    pub task_version: Option<u32>,
    /// Required input fingerprint, or `None` to accept any.
    pub input_fingerprint: Option<[u8; 16]>,
}

/// Why a record was not returned as a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    /// Nothing is stored under the key.
    NoRecord,
    /// The bytes fail a structural or checksum check, or the key inside differs.
    Corrupt(String),
    /// The record holds another output type.
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
#[cfg(target_os = "linux")]
fn now_ms() -> u64 {
    // The coarse clock (a few ms of resolution, which is all the record keeps) costs a fraction
    // of the precise one, and it is read once per stored record.
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec.
    if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut now) } != 0 {
        return precise_now_ms();
    }
    let (secs, nanos) = (u64::try_from(now.tv_sec), u64::try_from(now.tv_nsec));
    match (secs, nanos) {
        (Ok(secs), Ok(nanos)) => secs.saturating_mul(1000).saturating_add(nanos / 1_000_000),
        _ => 0,
    }
}

/// Milliseconds since the Unix epoch, for the record's write time.
#[cfg(not(target_os = "linux"))]
fn now_ms() -> u64 {
    precise_now_ms()
}

fn precise_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Encodes `value` as a record for `key`.
pub fn encode<T: Serialize + ?Sized>(
    key: &str,
    value: &T,
    task_version: u32,
    input_fingerprint: [u8; 16],
) -> Result<Vec<u8>, postcard::Error> {
    let mut out = Vec::new();
    encode_into(&mut out, key, value, task_version, input_fingerprint)?;
    Ok(out)
}

/// [`encode`] into `out`, which is cleared first: a caller that keeps a buffer encodes
/// without allocating.
pub(crate) fn encode_into<T: Serialize + ?Sized>(
    out: &mut Vec<u8>,
    key: &str,
    value: &T,
    task_version: u32,
    input_fingerprint: [u8; 16],
) -> Result<(), postcard::Error> {
    let type_name = std::any::type_name::<T>();
    let type_len =
        u16::try_from(type_name.len()).map_err(|_| postcard::Error::SerializeBufferFull)?;
    let key_len = u32::try_from(key.len()).map_err(|_| postcard::Error::SerializeBufferFull)?;
    // The fixed head is assembled in place, then copied once.
    let mut head = [0u8; FIXED_HEAD];
    head[0..4].copy_from_slice(&MAGIC);
    head[4] = FORMAT_VERSION;
    head[5..9].copy_from_slice(&task_version.to_le_bytes());
    head[9..17].copy_from_slice(&type_fingerprint::<T>().to_le_bytes());
    head[17..33].copy_from_slice(&input_fingerprint);
    head[33..41].copy_from_slice(&now_ms().to_le_bytes());
    head[41..43].copy_from_slice(&type_len.to_le_bytes());
    head[43..47].copy_from_slice(&key_len.to_le_bytes());
    out.clear();
    out.reserve(FIXED_HEAD + type_name.len() + key.len() + 64);
    out.extend_from_slice(&head);
    out.extend_from_slice(type_name.as_bytes());
    out.extend_from_slice(key.as_bytes());
    // The payload is serialized in place, after a length slot filled in afterwards.
    let len_at = out.len();
    out.extend_from_slice(&[0; 4]);
    *out = postcard::to_extend(value, std::mem::take(out))?;
    let payload_len =
        u32::try_from(out.len() - len_at - 4).map_err(|_| postcard::Error::SerializeBufferFull)?;
    out[len_at..len_at + 4].copy_from_slice(&payload_len.to_le_bytes());
    let crc = crc32fast::hash(out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// Reads `N` bytes at `at`, or says the record is too short.
fn take<const N: usize>(bytes: &[u8], at: usize) -> Result<[u8; N], String> {
    bytes
        .get(at..at + N)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| format!("truncated: {} bytes, field at {at} needs {N}", bytes.len()))
}

/// A record's fields with the type name and key still as bytes: what [`decode`] compares,
/// without validating UTF-8 it does not need.
struct Frame<'a> {
    task_version: u32,
    type_fingerprint: u64,
    input_fingerprint: [u8; 16],
    written_at_ms: u64,
    type_name: &'a [u8],
    key: &'a [u8],
    payload: &'a [u8],
}

/// Verifies structure and checksum and returns the fields, names as bytes.
fn frame(bytes: &[u8]) -> Result<Frame<'_>, String> {
    if bytes.len() < FIXED_HEAD + 4 + CHECKSUM_LEN {
        return Err(format!(
            "truncated: {} bytes is shorter than any record",
            bytes.len()
        ));
    }
    if bytes[0..4] != MAGIC {
        return Err("not a duraflow record (bad magic)".into());
    }
    if bytes[4] != FORMAT_VERSION {
        return Err(format!("unknown record format version {}", bytes[4]));
    }
    let task_version = u32::from_le_bytes(take(bytes, 5)?);
    let type_fingerprint = u64::from_le_bytes(take(bytes, 9)?);
    let input_fingerprint = take::<16>(bytes, 17)?;
    let written_at_ms = u64::from_le_bytes(take(bytes, 33)?);
    let type_len = usize::from(u16::from_le_bytes(take(bytes, 41)?));
    let key_len = u32::from_le_bytes(take(bytes, 43)?) as usize;
    let key_at = FIXED_HEAD.checked_add(type_len).ok_or("length overflow")?;
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
        ));
    }
    let stored_crc = u32::from_le_bytes(take(bytes, crc_at)?);
    if crc32fast::hash(&bytes[..crc_at]) != stored_crc {
        return Err("checksum mismatch".into());
    }
    Ok(Frame {
        task_version,
        type_fingerprint,
        input_fingerprint,
        written_at_ms,
        type_name: &bytes[FIXED_HEAD..key_at],
        key: &bytes[key_at..len_at],
        payload: &bytes[payload_at..crc_at],
    })
}

/// Verifies structure and checksum and returns the fields. Does not look at the key or type.
pub fn parse(bytes: &[u8]) -> Result<RecordView<'_>, String> {
    let frame = frame(bytes)?;
    let type_name =
        std::str::from_utf8(frame.type_name).map_err(|_| "type name is not UTF-8".to_string())?;
    let key = std::str::from_utf8(frame.key).map_err(|_| "key is not UTF-8".to_string())?;
    Ok(RecordView {
        task_version: frame.task_version,
        type_fingerprint: frame.type_fingerprint,
        input_fingerprint: frame.input_fingerprint,
        written_at_ms: frame.written_at_ms,
        type_name,
        key,
        payload: frame.payload,
    })
}

/// Decodes the record `bytes` stored under `key` as a `T`, checking everything.
///
/// The key and type name are compared as bytes: equal to a `str`, they are valid UTF-8, and
/// an equal type name implies an equal type fingerprint (the checksum vouches that the record
/// is as written).
pub fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8], expect: Expect) -> Result<T, Miss> {
    let record = frame(bytes).map_err(Miss::Corrupt)?;
    if record.key != key.as_bytes() {
        return Err(Miss::Corrupt(format!(
            "the record belongs to key {:?}, not to this key",
            String::from_utf8_lossy(record.key)
        )));
    }
    let expected = std::any::type_name::<T>();
    // Both must match: a header whose name and fingerprint disagree was not written by us.
    if record.type_name != expected.as_bytes() || record.type_fingerprint != type_fingerprint::<T>()
    {
        return Err(Miss::TypeChanged {
            stored: String::from_utf8_lossy(record.type_name).into_owned(),
            expected: expected.to_string(),
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

    #[test]
    fn the_write_time_is_the_wall_clock_within_its_resolution() {
        let before = precise_now_ms();
        let now = now_ms();
        let after = precise_now_ms();
        // The coarse clock lags by at most a tick (a few ms), and never runs ahead.
        assert!(now + 50 >= before && now <= after, "{before} {now} {after}");
    }

    #[test]
    fn a_reused_buffer_holds_only_the_new_record() {
        let mut buffer = encode(
            "a much longer key than the next",
            &vec![5u64; 300],
            1,
            [3; 16],
        )
        .unwrap();
        encode_into(&mut buffer, "k", &7u8, 3, [9; 16]).unwrap();
        let fresh = encode("k", &7u8, 3, [9; 16]).unwrap();
        assert_eq!(buffer.len(), fresh.len());
        // Equal but for the write time, and so the checksum.
        assert_eq!(buffer[..33], fresh[..33]);
        assert_eq!(buffer[41..buffer.len() - 4], fresh[41..fresh.len() - 4]);
        let expect = Expect {
            task_version: Some(3),
            input_fingerprint: Some([9; 16]),
        };
        assert_eq!(decode::<u8>("k", &buffer, expect), Ok(7));
    }

    #[test]
    fn layout_matches_the_table() {
        let rec = encode("k", &7u8, 3, [9; 16]).unwrap();
        assert_eq!(&rec[0..4], b"DFLW");
        assert_eq!(rec[4], 1);
        assert_eq!(u32::from_le_bytes(rec[5..9].try_into().unwrap()), 3);
        assert_eq!(&rec[17..33], &[9; 16]);
        let written = u64::from_le_bytes(rec[33..41].try_into().unwrap());
        assert!(written > 1_700_000_000_000, "a plausible clock: {written}");
        assert_eq!(u16::from_le_bytes(rec[41..43].try_into().unwrap()), 2); // "u8"
        assert_eq!(u32::from_le_bytes(rec[43..47].try_into().unwrap()), 1);
        assert_eq!(&rec[47..49], b"u8");
        assert_eq!(&rec[49..50], b"k");
        assert_eq!(u32::from_le_bytes(rec[50..54].try_into().unwrap()), 1);
        assert_eq!(rec[54], 7);
        assert_eq!(rec.len(), 59);
        let view = parse(&rec).unwrap();
        assert_eq!(
            (view.key, view.type_name, view.payload),
            ("k", "u8", &[7u8][..])
        );
        assert_eq!(view.written_at_ms, written);
    }
}
