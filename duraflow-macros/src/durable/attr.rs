//! The options of `#[durable(...)]`.

use super::template::KeyTemplate;
use crate::errors::Errors;
use proc_macro2::{Span, TokenStream};
use std::collections::BTreeSet;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, Lit, Meta, Token};

/// Every option `#[durable]` accepts, in the order error messages list them. An option is
/// added here and in [`Config::set`], nowhere else.
const OPTIONS: &[&str] = &["key", "version"];

/// The options of one `#[durable(...)]`. A field is left at its default when its option is
/// missing or invalid; the error is recorded instead.
pub(crate) struct Config {
    pub(crate) key: Option<KeyTemplate>,
    pub(crate) version: u32,
}

/// Parses the attribute's arguments, recording every problem in `errors`.
pub(crate) fn parse(args: TokenStream, errors: &mut Errors) -> Config {
    let mut config = Config {
        key: None,
        version: 0,
    };
    let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args) {
        Ok(metas) => metas,
        Err(error) => {
            errors.push(syn::Error::new(
                error.span(),
                format!("{error}; write the options as #[durable(key = \"...\", version = N)]"),
            ));
            return config;
        }
    };
    let mut seen = BTreeSet::new();
    for meta in &metas {
        let path = meta.path();
        let name = path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_else(|| quote::quote!(#path).to_string().replace(' ', ""));
        if !OPTIONS.contains(&name.as_str()) {
            errors.spanned(
                path,
                format!(
                    "unknown option `{name}` for #[durable]; the options are {}",
                    option_list()
                ),
            );
        } else if !seen.insert(name.clone()) {
            errors.spanned(path, format!("`{name}` is given twice: keep one"));
        } else if let Err(error) = config.set(&name, meta) {
            errors.push(error);
        }
    }
    if !seen.contains("key") {
        errors.at(
            Span::call_site(),
            "#[durable] needs a key: write #[durable(key = \"...\")], e.g. key = \"load-{0}\"",
        );
    }
    config
}

impl Config {
    /// Sets the option `name` (one of [`OPTIONS`]) from `meta`.
    fn set(&mut self, name: &str, meta: &Meta) -> syn::Result<()> {
        match name {
            "key" => {
                let key = string_value(meta, "key = \"load-{0}\"")?;
                self.key = Some(KeyTemplate::parse(key)?);
            }
            "version" => self.version = u32_value(meta, "version = 2")?,
            _ => unreachable!("`{name}` is listed in OPTIONS but has no setter"),
        }
        Ok(())
    }
}

fn option_list() -> String {
    let quoted: Vec<String> = OPTIONS.iter().map(|o| format!("`{o}`")).collect();
    quoted.join(", ")
}

/// The value of `name = value`; `example` shows the right form in the error.
fn value<'m>(meta: &'m Meta, example: &str) -> syn::Result<&'m Expr> {
    match meta {
        Meta::NameValue(name_value) => Ok(&name_value.value),
        _ => Err(syn::Error::new_spanned(
            meta,
            format!("this option takes a value: write {example}"),
        )),
    }
}

fn literal<'m>(meta: &'m Meta, example: &str) -> syn::Result<Option<&'m Lit>> {
    Ok(match value(meta, example)? {
        Expr::Lit(ExprLit { lit, attrs }) if attrs.is_empty() => Some(lit),
        _ => None,
    })
}

fn string_value<'m>(meta: &'m Meta, example: &str) -> syn::Result<&'m syn::LitStr> {
    match literal(meta, example)? {
        Some(Lit::Str(lit)) => Ok(lit),
        _ => Err(syn::Error::new_spanned(
            value(meta, example)?,
            format!("expected a string literal: write {example}"),
        )),
    }
}

fn u32_value(meta: &Meta, example: &str) -> syn::Result<u32> {
    let Some(Lit::Int(lit)) = literal(meta, example)? else {
        return Err(syn::Error::new_spanned(
            value(meta, example)?,
            format!("expected an integer literal: write {example}"),
        ));
    };
    match (lit.suffix(), lit.base10_parse::<u32>()) {
        ("" | "u32", Ok(number)) => Ok(number),
        _ => Err(syn::Error::new_spanned(
            lit,
            format!("expected a u32 (0 to {}): write {example}", u32::MAX),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::test_support::messages;
    use quote::quote;

    fn parse_ok(args: TokenStream) -> Config {
        let mut errors = Errors::new();
        let config = parse(args, &mut errors);
        errors.finish().unwrap();
        config
    }

    fn parse_err(args: TokenStream) -> Vec<String> {
        let mut errors = Errors::new();
        let _ = parse(args, &mut errors);
        messages(errors.finish().unwrap_err())
    }

    #[test]
    fn key_and_version() {
        let config = parse_ok(quote!(key = "mul", version = 2));
        assert_eq!(config.key.unwrap().format_string(), "mul");
        assert_eq!(config.version, 2);
    }

    #[test]
    fn version_defaults_to_zero_and_accepts_u32_suffix() {
        assert_eq!(parse_ok(quote!(key = "k")).version, 0);
        assert_eq!(parse_ok(quote!(key = "k", version = 7u32)).version, 7);
    }

    #[test]
    fn missing_key() {
        let messages = parse_err(quote!());
        assert_eq!(messages.len(), 1);
        assert!(messages[0].contains("needs a key"), "{messages:?}");
        assert!(parse_err(quote!(version = 1))[0].contains("needs a key"));
    }

    #[test]
    fn unknown_option_lists_the_valid_ones() {
        let messages = parse_err(quote!(key = "k", retry = 3));
        assert_eq!(
            messages,
            ["unknown option `retry` for #[durable]; the options are `key`, `version`"]
        );
    }

    #[test]
    fn repeated_option() {
        let messages = parse_err(quote!(key = "a", version = 1, key = "b"));
        assert_eq!(messages, ["`key` is given twice: keep one"]);
    }

    #[test]
    fn every_error_is_reported() {
        let messages = parse_err(quote!(key = 5, version = "x", cache));
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(messages[0].starts_with("expected a string literal"));
        assert!(messages[1].starts_with("expected an integer literal"));
        assert!(messages[2].starts_with("unknown option `cache`"));
    }

    #[test]
    fn option_without_value() {
        let messages = parse_err(quote!(key));
        assert_eq!(
            messages,
            ["this option takes a value: write key = \"load-{0}\""]
        );
    }

    #[test]
    fn version_out_of_range() {
        let messages = parse_err(quote!(key = "k", version = 4294967296));
        assert!(messages[0].starts_with("expected a u32"), "{messages:?}");
        let messages = parse_err(quote!(key = "k", version = 1u8));
        assert!(messages[0].starts_with("expected a u32"), "{messages:?}");
    }

    #[test]
    fn syntax_error_is_reported_once() {
        let messages = parse_err(quote!(key: "k"));
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(messages[0].contains("#[durable(key = \"...\", version = N)]"));
    }
}
