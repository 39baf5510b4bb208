//! Key templates: `"load-{0}"`, `"user-{id}"`, with `{{` and `}}` for literal braces.

use crate::key_rules;
use proc_macro2::Span;
use syn::{Ident, Index, LitStr, Member};

/// A parsed key template: literal text and the fields whose `Display` fills the gaps.
pub(crate) struct KeyTemplate {
    segments: Vec<Segment>,
    /// The key's string literal: errors about its fields point here.
    span: Span,
}

enum Segment {
    Literal(String),
    Field(Member),
}

impl KeyTemplate {
    /// Parses and checks the key literal; errors are spanned on it.
    pub(crate) fn parse(lit: &LitStr) -> syn::Result<Self> {
        let span = lit.span();
        let segments = split(&lit.value()).map_err(|message| syn::Error::new(span, message))?;
        let mut template = KeyTemplate {
            segments: Vec::new(),
            span,
        };
        // Fields carry the key's own span: for a missing field rustc then names it and
        // lists the fields that exist (a span marked as generated would hide that list).
        for segment in segments {
            template.segments.push(match segment {
                Piece::Literal(text) => Segment::Literal(text),
                Piece::Field(name) => Segment::Field(
                    member(&name, span).map_err(|message| syn::Error::new(span, message))?,
                ),
            });
        }
        key_rules::check_literal(&template.literal_text(), !template.fields().is_empty())
            .map_err(|message| syn::Error::new(span, message))?;
        Ok(template)
    }

    pub(crate) fn span(&self) -> Span {
        self.span
    }

    /// The fields the template reads, in order.
    pub(crate) fn fields(&self) -> Vec<&Member> {
        self.segments
            .iter()
            .filter_map(|segment| match segment {
                Segment::Field(member) => Some(member),
                Segment::Literal(_) => None,
            })
            .collect()
    }

    /// A `format!` string: the literal text with braces escaped, `{}` for each field.
    pub(crate) fn format_string(&self) -> String {
        self.segments
            .iter()
            .map(|segment| match segment {
                Segment::Literal(text) => text.replace('{', "{{").replace('}', "}}"),
                Segment::Field(_) => "{}".to_owned(),
            })
            .collect()
    }

    fn literal_text(&self) -> String {
        self.segments
            .iter()
            .filter_map(|segment| match segment {
                Segment::Literal(text) => Some(text.as_str()),
                Segment::Field(_) => None,
            })
            .collect()
    }
}

/// A piece of the key before field names are checked.
#[derive(Debug, PartialEq)]
enum Piece {
    Literal(String),
    Field(String),
}

const BRACE_HELP: &str = "write `{{` or `}}` for a literal brace";

/// Splits a template into literal text (escapes resolved) and `{field}` names.
fn split(template: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                literal.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                literal.push('}');
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some(c) => name.push(c),
                        None => {
                            return Err(format!(
                                "unclosed `{{` in the key template: close it as in `{{field}}`, or {BRACE_HELP}"
                            ))
                        }
                    }
                }
                if name.is_empty() {
                    return Err(format!(
                        "empty `{{}}` in the key template: name a field, as in `{{0}}` or `{{id}}`, or {BRACE_HELP}"
                    ));
                }
                if !literal.is_empty() {
                    pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Field(name));
            }
            '}' => {
                return Err(format!("unmatched `}}` in the key template: {BRACE_HELP}"));
            }
            c => literal.push(c),
        }
    }
    if !literal.is_empty() || pieces.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    Ok(pieces)
}

/// The field `name` refers to: a tuple index (`0`) or a field name (`id`).
fn member(name: &str, span: Span) -> Result<Member, String> {
    if name.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(index) = name.parse::<u32>() {
            return Ok(Member::Unnamed(Index { index, span }));
        }
    } else if let Ok(mut ident) = syn::parse_str::<Ident>(name) {
        ident.set_span(span);
        return Ok(Member::Named(ident));
    }
    Err(format!(
        "`{{{name}}}` in the key template is not a field: write a field name or index, \
         as in `{{id}}` or `{{0}}` (formatting options are not supported)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(value: &str) -> LitStr {
        LitStr::new(value, Span::call_site())
    }

    fn error(value: &str) -> String {
        match KeyTemplate::parse(&lit(value)) {
            Ok(_) => panic!("{value:?} should be rejected"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn literal_only() {
        let template = KeyTemplate::parse(&lit("mul")).unwrap();
        assert!(template.fields().is_empty());
        assert_eq!(template.format_string(), "mul");
    }

    #[test]
    fn fields_by_index_and_name() {
        let template = KeyTemplate::parse(&lit("load-{0}-{id}")).unwrap();
        let fields: Vec<String> = template
            .fields()
            .iter()
            .map(|m| quote::quote!(#m).to_string())
            .collect();
        assert_eq!(fields, ["0", "id"]);
        assert_eq!(template.format_string(), "load-{}-{}");
    }

    #[test]
    fn escaped_braces_stay_literal() {
        let template = KeyTemplate::parse(&lit("{{x}}-{0}")).unwrap();
        assert_eq!(template.fields().len(), 1);
        assert_eq!(template.format_string(), "{{x}}-{}");
        assert_eq!(template.literal_text(), "{x}-");
    }

    #[test]
    fn split_pieces() {
        assert_eq!(
            split("a{b}c").unwrap(),
            [
                Piece::Literal("a".into()),
                Piece::Field("b".into()),
                Piece::Literal("c".into())
            ]
        );
        assert_eq!(split("").unwrap(), [Piece::Literal(String::new())]);
        assert_eq!(split("{0}").unwrap(), [Piece::Field("0".into())]);
    }

    #[test]
    fn a_key_made_only_of_fields_may_have_no_literal_text() {
        assert!(KeyTemplate::parse(&lit("{0}")).is_ok());
    }

    #[test]
    fn rejects_bad_templates() {
        assert!(error("").contains("cannot be empty"));
        assert!(error("a\0{0}").contains("NUL"));
        assert!(error("load-{0").starts_with("unclosed `{`"));
        assert!(error("load-}").starts_with("unmatched `}`"));
        assert!(error("load-{}").starts_with("empty `{}`"));
        assert!(error("load-{a.b}").starts_with("`{a.b}` in the key template is not a field"));
        assert!(error("load-{0:>3}").contains("not a field"));
        assert!(error("load-{type}").contains("not a field"));
        assert!(error(&format!(
            "{}{{0}}",
            "k".repeat(key_rules::MAX_KEY_BYTES + 1)
        ))
        .contains("at most 65536 bytes"));
    }

    #[test]
    fn raw_identifiers_name_fields() {
        let template = KeyTemplate::parse(&lit("{r#type}")).unwrap();
        assert_eq!(template.fields().len(), 1);
    }
}
