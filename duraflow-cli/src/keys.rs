//! Which keys a command acts on: a prefix, a glob, or one key.

use crate::error::Fatal;
use duraflow::JOURNAL_PREFIX;

/// A pattern of keys.
pub enum Pattern {
    /// Every key that starts with this.
    Prefix(String),
    /// Every key the glob matches (`*` and `?` match any character, `/` too).
    Glob(glob::Pattern),
    /// This key.
    Exact(String),
}

/// Whether `arg` holds a glob's special characters.
fn is_glob(arg: &str) -> bool {
    arg.contains(['*', '?', '['])
}

fn glob(arg: &str) -> Result<Pattern, Fatal> {
    glob::Pattern::new(arg)
        .map(Pattern::Glob)
        .map_err(|e| Fatal::new(format!("invalid glob `{arg}`: {e}")))
}

impl Pattern {
    /// `ls`'s argument: a glob when it holds `*`, `?` or `[`, else a prefix.
    pub fn listing(arg: &str) -> Result<Self, Fatal> {
        match is_glob(arg) {
            true => glob(arg),
            false => Ok(Pattern::Prefix(arg.to_owned())),
        }
    }

    /// `rm`'s argument: the key it names when there is one (`exists`), else a glob when it
    /// holds `*`, `?` or `[`, else that key (which has no record).
    pub fn removal(arg: &str, exists: impl Fn(&str) -> bool) -> Result<Self, Fatal> {
        match !exists(arg) && is_glob(arg) {
            true => glob(arg),
            false => Ok(Pattern::Exact(arg.to_owned())),
        }
    }

    /// Whether `key` is one the pattern stands for. A prefix or a glob reaches duraflow's own
    /// keys (the run journal, the last-used entries) only when it starts with their prefix.
    pub fn matches(&self, key: &str) -> bool {
        let own = key.starts_with(JOURNAL_PREFIX);
        match self {
            Pattern::Exact(exact) => key == exact,
            Pattern::Prefix(prefix) => {
                key.starts_with(prefix.as_str()) && (!own || prefix.starts_with(JOURNAL_PREFIX))
            }
            Pattern::Glob(glob) => {
                glob.matches(key) && (!own || glob.as_str().starts_with(JOURNAL_PREFIX))
            }
        }
    }

    /// The pattern as the user wrote it.
    pub fn as_str(&self) -> &str {
        match self {
            Pattern::Prefix(text) | Pattern::Exact(text) => text,
            Pattern::Glob(glob) => glob.as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_globs_and_keys() {
        let listing = |arg| Pattern::listing(arg).unwrap();
        assert!(listing("load-").matches("load-5"));
        assert!(!listing("load-").matches("mul-5"));
        assert!(listing("*-5").matches("load-5") && listing("a/*").matches("a/b/c"));
        assert!(listing("").matches("x"));
        assert!(
            !listing("").matches("__duraflow/runs"),
            "own keys need their prefix"
        );
        assert!(listing("__duraflow/").matches("__duraflow/runs"));
        assert!(!listing("*").matches("__duraflow/runs"));
        let removal = |arg| Pattern::removal(arg, |key| key == "odd*key").unwrap();
        assert!(matches!(removal("odd*key"), Pattern::Exact(_)));
        assert!(matches!(removal("load-*"), Pattern::Glob(_)));
        assert!(matches!(removal("load-5"), Pattern::Exact(_)));
        assert!(Pattern::listing("[").is_err());
    }
}
