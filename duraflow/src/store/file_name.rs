//! Key ↔ file name mapping of `FileStore`.
//!
//! Bytes `a-z`, `0-9` and `-` stand for themselves; every other byte of the key's UTF-8 is
//! written `_xx` (two lowercase hex digits). So the mapping is injective and reversible, names
//! contain no `/`, `.` or upper-case letter (keys differing only in case stay apart on
//! case-insensitive file systems), and no name starts with `.`, which is kept for temp files.
//!
//! A name longer than [`MAX_DIRECT`] bytes would hit file-system limits (255 bytes), so such a
//! key is stored as a readable prefix, `~`, and the SHA-256 of the key; the record itself holds
//! the full key (see [`crate::codec`]), which is how such a name is reversed.

use sha2::{Digest, Sha256};

/// Longest encoded key used directly as a file name.
pub const MAX_DIRECT: usize = 200;
/// Length of the readable prefix kept in hashed names.
const HASHED_PREFIX: usize = 120;
/// Prefix of temporary files; never produced by [`file_name`].
pub const TEMP_PREFIX: &str = ".tmp-";

fn is_plain(byte: u8) -> bool {
    byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-'
}

fn escape(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for &byte in key.as_bytes() {
        if is_plain(byte) {
            out.push(char::from(byte));
        } else {
            out.push('_');
            out.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
            out.push(char::from_digit(u32::from(byte & 0xf), 16).unwrap_or('0'));
        }
    }
    out
}

/// How a store names records: the escaped key when it is at most `max_direct` bytes, else
/// `hashed_prefix` bytes of it, `mark` and the key's SHA-256 in hex.
pub struct Naming {
    max_direct: usize,
    hashed_prefix: usize,
    mark: char,
}

/// `FileStore`'s file names: at most 185 bytes, within every file system's 255.
pub const FILES: Naming = Naming {
    max_direct: MAX_DIRECT,
    hashed_prefix: HASHED_PREFIX,
    mark: '~',
};

/// `ObjectStore`'s object names: at most 100 bytes (S3-compatible servers that keep objects
/// as files encode a name into longer file names of their own), marked with `.`, as S3
/// advises against `~` in object names.
pub const OBJECTS: Naming = Naming {
    max_direct: 100,
    hashed_prefix: 30,
    mark: '.',
};

/// The file name of `key`.
pub fn file_name(key: &str) -> String {
    FILES.name(key)
}

/// Whether `name` is a hashed file name, whose key is read from the record.
pub fn is_hashed(name: &str) -> bool {
    FILES.is_hashed(name)
}

/// The key of a direct (not hashed) file name, or `None` when `name` is not one.
pub fn key_of(name: &str) -> Option<String> {
    FILES.key_of(name)
}

impl Naming {
    /// The name of `key`.
    pub fn name(&self, key: &str) -> String {
        let escaped = escape(key);
        if escaped.len() <= self.max_direct {
            return escaped;
        }
        // Cut the readable prefix on an escape boundary (an escape is `_xx`).
        let bytes = escaped.as_bytes();
        let prefix = self.hashed_prefix;
        let cut = if bytes[prefix - 1] == b'_' {
            prefix - 1
        } else if bytes[prefix - 2] == b'_' {
            prefix - 2
        } else {
            prefix
        };
        let digest = Sha256::digest(key.as_bytes());
        let mut name = String::with_capacity(cut + 1 + 64);
        name.push_str(&escaped[..cut]);
        name.push(self.mark);
        for byte in digest {
            name.push_str(&format!("{byte:02x}"));
        }
        name
    }

    /// Whether `name` is a hashed name, whose key is read from the record.
    pub fn is_hashed(&self, name: &str) -> bool {
        name.contains(self.mark)
    }

    /// The key of a direct (not hashed) name, or `None` when `name` is not one.
    pub fn key_of(&self, name: &str) -> Option<String> {
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes.len() > self.max_direct {
            return None;
        }
        decode(name)
    }
}

/// The key whose escaped form is `name`, if `name` is one (canonical: plain bytes never
/// escaped).
fn decode(name: &str) -> Option<String> {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let byte = bytes[at];
        if is_plain(byte) {
            out.push(byte);
            at += 1;
        } else if byte == b'_' {
            let hex = name.get(at + 1..at + 3)?;
            if hex.bytes().any(|b| b.is_ascii_uppercase()) {
                return None;
            }
            let decoded = u8::from_str_radix(hex, 16).ok()?;
            if is_plain(decoded) {
                return None; // not canonical: would have been written plain
            }
            out.push(decoded);
            at += 3;
        } else {
            return None;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples() {
        assert_eq!(file_name("load-5"), "load-5");
        assert_eq!(file_name("a.b"), "a_2eb");
        assert_eq!(file_name("a_b"), "a_5fb");
        assert_eq!(file_name("A"), "_41");
        assert_eq!(file_name(".."), "_2e_2e");
        assert_eq!(file_name("a/b"), "a_2fb");
        assert_eq!(key_of("a_2eb").as_deref(), Some("a.b"));
        assert_eq!(key_of("_61"), None);
        assert_eq!(key_of("_4G"), None);
    }

    #[test]
    fn long_keys_are_hashed_and_short_enough() {
        let key = "é".repeat(2500);
        let name = file_name(&key);
        assert!(is_hashed(&name));
        assert!(name.len() < 255);
        assert_ne!(name, file_name(&"é".repeat(2499)));
    }
}
