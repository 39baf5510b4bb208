//! The error that stops a command (exit status 2).

use duraflow::DuraflowError;
use std::fmt;
use std::io;

/// A store that cannot be opened or read, or output that cannot be written.
#[derive(Debug)]
pub struct Fatal(String);

impl Fatal {
    /// An error with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<DuraflowError> for Fatal {
    fn from(error: DuraflowError) -> Self {
        Self(error.to_string())
    }
}

/// Writing the output failed.
impl From<io::Error> for Fatal {
    fn from(error: io::Error) -> Self {
        Self(format!("could not write the output: {error}"))
    }
}
