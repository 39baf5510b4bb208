//! The key rules, shared by every store and checked again by the macros at compile time.

use crate::DuraflowError;
use std::sync::Arc;

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

/// A task's key as duraflow holds it: keys of up to 30 bytes inline (no allocation, and no
/// pointer to follow when a store compares keys), longer ones shared. Compared, hashed and
/// printed as the string it is; it is the key of a [`crate::TaskRun`] and what
/// [`crate::Storage::put_shared`] hands to stores.
///
/// ```
/// use duraflow::TaskKey;
/// let key = TaskKey::from("load-5");
/// assert_eq!(key, "load-5");
/// assert_eq!(key.as_str(), "load-5");
/// assert_eq!(format!("{key}"), "load-5");
/// assert_eq!(String::from(key), "load-5");
/// let long = TaskKey::from("a key longer than thirty bytes, shared");
/// assert_eq!(long.clone(), long);
/// ```
#[derive(Clone)]
pub struct TaskKey(Repr);

/// The longest key held inline.
const INLINE: usize = 30;

#[derive(Clone)]
enum Repr {
    /// `bytes[..len]` is the key (valid UTF-8: it was copied from a `&str`).
    Inline {
        len: u8,
        bytes: [u8; INLINE],
    },
    Shared(Arc<str>),
}

impl TaskKey {
    /// The key as a string slice.
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { len, bytes } => {
                let bytes = &bytes[..usize::from(*len)];
                // SAFETY: `bytes` is a copy of a whole `&str` (see `From<&str>`).
                unsafe { std::str::from_utf8_unchecked(bytes) }
            }
            Repr::Shared(key) => key,
        }
    }
}

impl From<&str> for TaskKey {
    fn from(key: &str) -> Self {
        if key.len() > INLINE {
            return TaskKey(Repr::Shared(Arc::from(key)));
        }
        let mut bytes = [0; INLINE];
        bytes[..key.len()].copy_from_slice(key.as_bytes());
        TaskKey(Repr::Inline {
            len: key.len() as u8,
            bytes,
        })
    }
}

impl From<Arc<str>> for TaskKey {
    fn from(key: Arc<str>) -> Self {
        TaskKey(Repr::Shared(key))
    }
}

impl From<String> for TaskKey {
    fn from(key: String) -> Self {
        TaskKey::from(key.as_str())
    }
}

impl From<TaskKey> for String {
    fn from(key: TaskKey) -> Self {
        key.as_str().to_owned()
    }
}

impl std::ops::Deref for TaskKey {
    type Target = str;

    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for TaskKey {
    #[inline]
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// Hashed as the string, so that maps keyed by `TaskKey` are looked up with a `&str`.
impl std::borrow::Borrow<str> for TaskKey {
    #[inline]
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl std::hash::Hash for TaskKey {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq for TaskKey {
    #[inline]
    fn eq(&self, other: &TaskKey) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for TaskKey {}

impl PartialOrd for TaskKey {
    fn partial_cmp(&self, other: &TaskKey) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TaskKey {
    fn cmp(&self, other: &TaskKey) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialEq<str> for TaskKey {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for TaskKey {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for TaskKey {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl std::fmt::Display for TaskKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::fmt::Debug for TaskKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Inline or shared, a key is the string it was made from, and compares, orders and
        /// hashes as that string does.
        #[test]
        fn a_task_key_is_its_string(a in ".{0,40}", b in ".{0,40}") {
            let (ka, kb) = (TaskKey::from(a.as_str()), TaskKey::from(b.as_str()));
            prop_assert_eq!(ka.as_str(), a.as_str());
            prop_assert_eq!(&*String::from(ka.clone()), a.as_str());
            prop_assert_eq!(ka == kb, a == b);
            prop_assert_eq!(ka.cmp(&kb), a.cmp(&b));
            let hash = |value: &dyn Fn(&mut std::collections::hash_map::DefaultHasher)| {
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                value(&mut hasher);
                std::hash::Hasher::finish(&hasher)
            };
            use std::hash::Hash;
            prop_assert_eq!(hash(&|h| ka.hash(h)), hash(&|h| a.as_str().hash(h)));
            prop_assert_eq!(TaskKey::from(Arc::<str>::from(a.as_str())), ka);
        }
    }

    #[test]
    fn keys_up_to_thirty_bytes_are_inline() {
        assert!(matches!(
            TaskKey::from("é".repeat(15).as_str()).0,
            Repr::Inline { len: 30, .. }
        ));
        assert!(matches!(
            TaskKey::from("x".repeat(31).as_str()).0,
            Repr::Shared(_)
        ));
        assert_eq!(std::mem::size_of::<TaskKey>(), 32);
    }
}
