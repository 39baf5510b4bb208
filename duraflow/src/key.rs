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

/// A task's key as duraflow holds it: a shared string, cloned without copying. Compared,
/// hashed and printed as the string it is; it is the key of a [`crate::TaskRun`].
///
/// ```
/// use duraflow::TaskKey;
/// let key = TaskKey::from("load-5");
/// assert_eq!(key, "load-5");
/// assert_eq!(key.as_str(), "load-5");
/// assert_eq!(format!("{key}"), "load-5");
/// assert_eq!(String::from(key.clone()), "load-5");
/// assert_eq!(key.clone(), key);
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskKey(Arc<str>);

impl TaskKey {
    /// The key as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for TaskKey {
    fn from(key: &str) -> Self {
        TaskKey(Arc::from(key))
    }
}

impl From<Arc<str>> for TaskKey {
    fn from(key: Arc<str>) -> Self {
        TaskKey(key)
    }
}

impl From<String> for TaskKey {
    fn from(key: String) -> Self {
        TaskKey(Arc::from(key))
    }
}

impl From<TaskKey> for String {
    fn from(key: TaskKey) -> Self {
        key.as_str().to_owned()
    }
}

impl serde::Serialize for TaskKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for TaskKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(TaskKey::from)
    }
}

impl std::ops::Deref for TaskKey {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for TaskKey {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// Hashed as the string, so that maps keyed by `TaskKey` are looked up with a `&str`.
impl std::borrow::Borrow<str> for TaskKey {
    fn borrow(&self) -> &str {
        self.as_str()
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
        /// A key is the string it was made from, and compares, orders and hashes as that
        /// string does.
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
}
