//! The runtime's key rules, applied at compile time to the parts of a key the macro can see.
//!
//! The runtime (`duraflow::__private::validate_key`) checks every key again when a node is
//! added; these checks only move the errors a macro can already detect to compile time.

/// The longest key the runtime accepts, in bytes of UTF-8.
pub(crate) const MAX_KEY_BYTES: usize = 65_536;

/// Checks the literal text of a key. `has_placeholders` says whether template fields are
/// filled in at run time, in which case an empty literal part is fine.
pub(crate) fn check_literal(literal: &str, has_placeholders: bool) -> Result<(), String> {
    if literal.is_empty() && !has_placeholders {
        return Err("a durable key cannot be empty: write a name, e.g. \"load-{0}\"".into());
    }
    if literal.contains('\0') {
        return Err("a durable key cannot contain a NUL character (`\\0`): remove it".into());
    }
    if literal.len() > MAX_KEY_BYTES {
        return Err(format!(
            "this key is {} bytes long, but a durable key is at most {MAX_KEY_BYTES} bytes: shorten it",
            literal.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_keys() {
        assert_eq!(check_literal("load-5", false), Ok(()));
        assert_eq!(check_literal(&"k".repeat(MAX_KEY_BYTES), false), Ok(()));
    }

    #[test]
    fn empty_is_fine_only_with_placeholders() {
        assert!(check_literal("", false)
            .unwrap_err()
            .contains("cannot be empty"));
        assert_eq!(check_literal("", true), Ok(()));
    }

    #[test]
    fn rejects_nul() {
        assert!(check_literal("a\0b", true).unwrap_err().contains("NUL"));
    }

    #[test]
    fn rejects_long_keys_counting_bytes() {
        let long = "é".repeat(MAX_KEY_BYTES / 2 + 1);
        let message = check_literal(&long, false).unwrap_err();
        assert!(
            message.contains(&format!("{} bytes", MAX_KEY_BYTES + 2)),
            "{message}"
        );
    }

    #[test]
    fn agrees_with_the_runtime() {
        assert_eq!(MAX_KEY_BYTES, duraflow::MAX_KEY_LEN);
        let long = "k".repeat(MAX_KEY_BYTES);
        for key in ["", "a", "a\0", "\0", "é", &long, &format!("{long}k")] {
            assert_eq!(
                check_literal(key, false).is_ok(),
                duraflow::validate_key(key).is_ok(),
                "{:?}",
                key.get(..8)
            );
        }
    }
}
