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

/// A task's key in a [`crate::TaskRun`]: shared with the task that ran (no copy per task),
/// compared and printed as the string it is.
///
/// ```
/// use duraflow::TaskKey;
/// let key = TaskKey::from("load-5");
/// assert_eq!(key, "load-5");
/// assert_eq!(key.as_str(), "load-5");
/// assert_eq!(format!("{key}"), "load-5");
/// assert_eq!(String::from(key), "load-5");
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskKey(Arc<str>);

impl TaskKey {
    /// The key as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<Arc<str>> for TaskKey {
    fn from(key: Arc<str>) -> Self {
        TaskKey(key)
    }
}

impl From<&str> for TaskKey {
    fn from(key: &str) -> Self {
        TaskKey(Arc::from(key))
    }
}

impl From<TaskKey> for String {
    fn from(key: TaskKey) -> Self {
        key.0.to_string()
    }
}

impl std::ops::Deref for TaskKey {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for TaskKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for TaskKey {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for TaskKey {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for TaskKey {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<String> for TaskKey {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl std::fmt::Display for TaskKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&self.0)
    }
}

impl std::fmt::Debug for TaskKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}
