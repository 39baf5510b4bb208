//! Collects every error of one macro invocation so the user sees them all at once.

use proc_macro2::Span;
use quote::ToTokens;
use std::fmt::Display;

/// The errors found so far; `finish` combines them into one `syn::Error`.
#[derive(Default)]
#[must_use = "errors are reported only through `finish`"]
pub(crate) struct Errors {
    errors: Vec<syn::Error>,
}

impl Errors {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// An error at `span`.
    pub(crate) fn at(&mut self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    /// An error spanning all the tokens of `tokens`.
    pub(crate) fn spanned(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens.into_token_stream(), message));
    }

    pub(crate) fn push(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    /// `Ok` when no error was found, else all of them combined, in the order found.
    pub(crate) fn finish(self) -> syn::Result<()> {
        let mut errors = self.errors.into_iter();
        match errors.next() {
            None => Ok(()),
            Some(mut combined) => {
                combined.extend(errors);
                Err(combined)
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    /// The messages of a (possibly combined) error, in order.
    pub(crate) fn messages(error: syn::Error) -> Vec<String> {
        error.into_iter().map(|e| e.to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::messages;
    use super::*;

    #[test]
    fn no_errors_finish_ok() {
        assert!(Errors::new().finish().is_ok());
    }

    #[test]
    fn errors_are_combined_in_order() {
        let mut errors = Errors::new();
        errors.at(Span::call_site(), "first");
        errors.spanned(quote::quote!(x), "second");
        let combined = errors.finish().unwrap_err();
        assert_eq!(messages(combined), ["first", "second"]);
    }
}
