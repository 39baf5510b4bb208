//! The options of `#[durable(...)]`.

use super::template::KeyTemplate;
use crate::errors::Errors;
use proc_macro2::{Span, TokenStream};
use std::collections::BTreeSet;
use std::time::Duration;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ExprUnary, Lit, LitStr, Meta, Token, UnOp};

/// Every option `#[durable]` accepts, in the order error messages list them. An option is
/// added here and in [`Config::set`], nowhere else.
const OPTIONS: &[&str] = &[
    "key", "version", "schema", "cache", "ttl", "retries", "backoff", "timeout", "blocking",
];

/// The options of one `#[durable(...)]`. A field is left at its default when its option is
/// missing or invalid; the error is recorded instead.
#[derive(Default)]
pub(crate) struct Config {
    pub(crate) key: Option<KeyTemplate>,
    pub(crate) version: u32,
    /// `schema = N`: bumped by hand when the output's meaning changes but not its shape.
    pub(crate) schema: Option<u32>,
    /// `cache = inputs` / `cache = key`; `None` keeps the runtime's default (by key).
    pub(crate) cache: Option<Cache>,
    /// `ttl = "7d"`: how long after it was written a record is restored.
    pub(crate) ttl: Option<Duration>,
    /// `retries = N`: attempts after the first.
    pub(crate) retries: Option<u32>,
    /// `backoff = "100ms"`, with the span of the option's name.
    pub(crate) backoff: Option<(Duration, Span)>,
    /// `timeout = "30s"`.
    pub(crate) timeout: Option<Duration>,
    /// `blocking`: an `async` run that blocks its thread runs on the blocking pool too.
    pub(crate) blocking: bool,
}

/// When a stored record is reused: the macro's mirror of `duraflow::Cache`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Cache {
    /// Resume by key: any valid record under the key.
    Key,
    /// Only a record computed from the same task fields and inputs.
    Inputs,
}

/// Parses the attribute's arguments, recording every problem in `errors`.
pub(crate) fn parse(args: TokenStream, errors: &mut Errors) -> Config {
    let mut config = Config::default();
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
    backoff_needs_retries(&config, &seen, errors);
    config
}

/// A backoff is the pause between attempts, so without retries it would silently do nothing.
/// (Not reported when `retries` was given but invalid: that error says enough.)
fn backoff_needs_retries(config: &Config, seen: &BTreeSet<String>, errors: &mut Errors) {
    if let Some((_, span)) = config.backoff {
        if !seen.contains("retries") || config.retries == Some(0) {
            errors.at(
                span,
                "backoff has no effect without retries: add `retries = N` (N > 0), \
                 or remove `backoff`",
            );
        }
    }
}

impl Config {
    /// Whether `cache = inputs` was given: the task and its inputs must be `Serialize`.
    pub(crate) fn fingerprints(&self) -> bool {
        self.cache == Some(Cache::Inputs)
    }

    /// Whether `retries = N` with N > 0 was given: the task must be `Clone`.
    pub(crate) fn retries_enabled(&self) -> bool {
        self.retries.is_some_and(|n| n > 0)
    }

    /// Sets the option `name` (one of [`OPTIONS`]) from `meta`.
    fn set(&mut self, name: &str, meta: &Meta) -> syn::Result<()> {
        match name {
            "key" => {
                let key = string_value(meta, "key = \"load-{0}\"")?;
                self.key = Some(KeyTemplate::parse(key)?);
            }
            "version" => self.version = u32_value(meta, "version = 2")?,
            "schema" => self.schema = Some(u32_value(meta, "schema = 2")?),
            "cache" => self.cache = Some(cache_value(meta)?),
            "ttl" => self.ttl = Some(ttl_value(meta)?),
            "retries" => self.retries = Some(u32_value(meta, "retries = 3")?),
            "backoff" => {
                let backoff = duration_value(meta, name, "backoff = \"100ms\"")?;
                self.backoff = Some((backoff, meta.path().span()));
            }
            "timeout" => self.timeout = Some(duration_value(meta, name, "timeout = \"30s\"")?),
            "blocking" => self.blocking = flag(meta, "blocking")?,
            _ => unreachable!("`{name}` is listed in OPTIONS but has no setter"),
        }
        Ok(())
    }
}

/// A flag: `blocking` alone, or `blocking = true` / `false`.
fn flag(meta: &Meta, example: &str) -> syn::Result<bool> {
    match meta {
        Meta::Path(_) => Ok(true),
        _ => match literal(meta, example)? {
            Some(Lit::Bool(value)) => Ok(value.value),
            _ => Err(syn::Error::new_spanned(
                meta,
                format!("`{example}` is a flag: write {example}, or {example} = false"),
            )),
        },
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
    let out_of_range = |tokens: &dyn quote::ToTokens| {
        syn::Error::new_spanned(
            tokens,
            format!("expected a u32 (0 to {}): write {example}", u32::MAX),
        )
    };
    match value(meta, example)? {
        Expr::Lit(ExprLit {
            lit: Lit::Int(lit),
            attrs,
        }) if attrs.is_empty() => match (lit.suffix(), lit.base10_parse::<u32>()) {
            ("" | "u32", Ok(number)) => Ok(number),
            _ => Err(out_of_range(lit)),
        },
        negative @ Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) if matches!(
            &**expr,
            Expr::Lit(ExprLit {
                lit: Lit::Int(_),
                ..
            })
        ) =>
        {
            Err(out_of_range(negative))
        }
        other => Err(syn::Error::new_spanned(
            other,
            format!("expected an integer literal: write {example}"),
        )),
    }
}

/// `cache = inputs` or `cache = key`: bare identifiers, like the variants they stand for.
fn cache_value(meta: &Meta) -> syn::Result<Cache> {
    const HELP: &str = "write `cache = inputs` (reuse a record only if the task's fields and \
                        inputs are unchanged) or `cache = key` (resume by key, the default)";
    let value = value(meta, "cache = inputs")?;
    if let Expr::Path(path) = value {
        if path.attrs.is_empty() && path.qself.is_none() {
            if let Some(ident) = path.path.get_ident() {
                if ident == "inputs" {
                    return Ok(Cache::Inputs);
                }
                if ident == "key" {
                    return Ok(Cache::Key);
                }
            }
        }
    }
    let message = match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) if matches!(lit.value().as_str(), "inputs" | "key") => format!(
            "`cache` takes a bare identifier, not a string: write `cache = {}`",
            lit.value()
        ),
        _ => format!("expected `inputs` or `key`: {HELP}"),
    };
    Err(syn::Error::new_spanned(value, message))
}

/// `ttl = "7d"`: a duration longer than zero (a zero ttl would never restore a record).
fn ttl_value(meta: &Meta) -> syn::Result<Duration> {
    let ttl = duration_value(meta, "ttl", "ttl = \"7d\"")?;
    if ttl.is_zero() {
        return Err(syn::Error::new_spanned(
            value(meta, "ttl = \"7d\"")?,
            "a ttl of zero would never restore a record: give a longer one, e.g. \
             ttl = \"7d\", or remove `ttl` to keep records for as long as they are stored",
        ));
    }
    Ok(ttl)
}

/// A duration string checked with the runtime's grammar; errors point at the literal.
fn duration_value(meta: &Meta, name: &str, example: &str) -> syn::Result<Duration> {
    if let Some(Lit::Int(number)) = literal(meta, example)? {
        return Err(syn::Error::new_spanned(
            number,
            format!(
                "a duration is a string with its unit (ms, s, m, h, d): write \
                 {name} = \"{n}s\" for seconds, {name} = \"{n}ms\" for milliseconds",
                n = number.base10_digits()
            ),
        ));
    }
    let lit: &LitStr = string_value(meta, example)?;
    humantime::parse_duration(&lit.value()).map_err(|reason| {
        syn::Error::new_spanned(
            lit,
            format!("invalid `{name}`: {reason}: write e.g. {example}"),
        )
    })
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
            [
                "unknown option `retry` for #[durable]; the options are `key`, `version`, \
                 `schema`, `cache`, `ttl`, `retries`, `backoff`, `timeout`, `blocking`"
            ]
        );
    }

    #[test]
    fn repeated_option() {
        let messages = parse_err(quote!(key = "a", version = 1, key = "b"));
        assert_eq!(messages, ["`key` is given twice: keep one"]);
    }

    #[test]
    fn every_error_is_reported() {
        let messages = parse_err(quote!(key = 5, version = "x", cache, tries = 1));
        assert_eq!(messages.len(), 4, "{messages:?}");
        assert!(messages[0].starts_with("expected a string literal"));
        assert!(messages[1].starts_with("expected an integer literal"));
        assert_eq!(
            messages[2],
            "this option takes a value: write cache = inputs"
        );
        assert!(messages[3].starts_with("unknown option `tries`"));
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

    #[test]
    fn options_default_to_the_runtime_defaults() {
        let config = parse_ok(quote!(key = "k"));
        assert_eq!(config.cache, None);
        assert_eq!(config.retries, None);
        assert!(config.backoff.is_none());
        assert_eq!(config.timeout, None);
        assert_eq!(config.ttl, None);
        assert!(!config.fingerprints() && !config.retries_enabled());
    }

    #[test]
    fn every_option() {
        let config = parse_ok(quote!(
            key = "k",
            cache = inputs,
            retries = 3,
            backoff = "250ms",
            timeout = "2m",
            ttl = "7d"
        ));
        assert_eq!(config.cache, Some(Cache::Inputs));
        assert_eq!(config.retries, Some(3));
        assert_eq!(config.backoff.unwrap().0, Duration::from_millis(250));
        assert_eq!(config.timeout, Some(Duration::from_secs(120)));
        assert_eq!(config.ttl, Some(Duration::from_secs(7 * 86_400)));
        assert!(config.fingerprints() && config.retries_enabled());
        let config = parse_ok(quote!(key = "k", cache = key, retries = 0));
        assert_eq!(config.cache, Some(Cache::Key));
        assert!(!config.fingerprints() && !config.retries_enabled());
    }

    #[test]
    fn cache_takes_one_of_two_identifiers() {
        for value in [
            quote!(true),
            quote!(Inputs),
            quote!(cache::inputs),
            quote!(1),
        ] {
            let messages = parse_err(quote!(key = "k", cache = #value));
            assert_eq!(messages.len(), 1, "{messages:?}");
            assert!(
                messages[0].starts_with("expected `inputs` or `key`: write `cache = inputs`"),
                "{messages:?}"
            );
        }
        assert_eq!(
            parse_err(quote!(key = "k", cache = "inputs")),
            ["`cache` takes a bare identifier, not a string: write `cache = inputs`"]
        );
    }

    #[test]
    fn retries_is_a_u32() {
        assert!(parse_err(quote!(key = "k", retries = "3"))[0]
            .starts_with("expected an integer literal: write retries = 3"));
        assert!(parse_err(quote!(key = "k", retries = -1))[0]
            .starts_with("expected a u32 (0 to 4294967295): write retries = 3"));
        assert!(parse_err(quote!(key = "k", retries = 1.5))[0]
            .starts_with("expected an integer literal"));
    }

    #[test]
    fn durations_are_checked_at_compile_time() {
        assert_eq!(
            parse_err(quote!(key = "k", timeout = "30")),
            ["invalid `timeout`: time unit needed, for example 30sec or 30ms: write e.g. timeout = \"30s\""]
        );
        assert!(
            parse_err(quote!(key = "k", retries = 1, backoff = "5 parsecs"))[0]
                .starts_with("invalid `backoff`: unknown time unit \"parsecs\"")
        );
        assert_eq!(
            parse_err(quote!(key = "k", timeout = 30)),
            [
                "a duration is a string with its unit (ms, s, m, h, d): write timeout = \"30s\" \
              for seconds, timeout = \"30ms\" for milliseconds"
            ]
        );
        assert_eq!(
            parse_err(quote!(key = "k", timeout = 1.5)),
            ["expected a string literal: write timeout = \"30s\""]
        );
    }

    #[test]
    fn a_ttl_is_a_duration_longer_than_zero() {
        assert_eq!(
            parse_err(quote!(key = "k", ttl = "7")),
            ["invalid `ttl`: time unit needed, for example 7sec or 7ms: write e.g. ttl = \"7d\""]
        );
        assert!(parse_err(quote!(key = "k", ttl = 7))[0].starts_with("a duration is a string"));
        assert_eq!(
            parse_err(quote!(key = "k", ttl = "0s")),
            ["a ttl of zero would never restore a record: give a longer one, e.g. ttl = \"7d\", \
              or remove `ttl` to keep records for as long as they are stored"]
        );
    }

    #[test]
    fn backoff_without_retries() {
        const MESSAGE: &str =
            "backoff has no effect without retries: add `retries = N` (N > 0), or remove `backoff`";
        assert_eq!(parse_err(quote!(key = "k", backoff = "1s")), [MESSAGE]);
        assert_eq!(
            parse_err(quote!(key = "k", retries = 0, backoff = "1s")),
            [MESSAGE]
        );
        // An invalid `retries` is reported once, not again through `backoff`.
        let messages = parse_err(quote!(key = "k", retries = "x", backoff = "1s"));
        assert_eq!(messages.len(), 1, "{messages:?}");
        // Order does not matter.
        assert_eq!(
            parse_ok(quote!(backoff = "1s", key = "k", retries = 2)).retries,
            Some(2)
        );
    }
}
