//! The key rules, shared by every store and checked again by the macros at compile time.

use crate::DuraflowError;

/// The longest key accepted, in bytes of UTF-8.
pub const MAX_KEY_LEN: usize = 65_536;

/// Checks a key against the rules every store relies on: non-empty, no NUL, at most
/// [`MAX_KEY_LEN`] bytes. Returns which rule is broken.
///
/// ```
/// assert!(duraflow::validate_key("load-5").is_ok());
/// assert!(duraflow::validate_key("").is_err());
/// assert!(duraflow::validate_key("a\0b").is_err());
/// ```
pub fn validate_key(key: &str) -> Result<(), &'static str> {
    if key.is_empty() {
        Err("the key is empty")
    } else if key.len() > MAX_KEY_LEN {
        Err("the key is longer than 65536 bytes")
    } else if key.contains('\0') {
        Err("the key contains a NUL character")
    } else {
        Ok(())
    }
}

/// [`validate_key`] as a [`DuraflowError::InvalidKey`].
pub(crate) fn check_key(key: &str) -> Result<(), DuraflowError> {
    validate_key(key).map_err(|reason| DuraflowError::InvalidKey {
        key: key.chars().take(200).collect(),
        reason,
    })
}
