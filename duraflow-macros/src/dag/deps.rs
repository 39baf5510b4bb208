//! What follows a node's `<-`, one dependency or a tuple of them, each read as a [`Dep`]:
//!
//! ```text
//! dep: name | name[INDEX] | FAMILY[..] | any TaskHandle expression
//! ```

use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, ExprRange, Ident, RangeLimits};

/// What follows `<-`: one dependency, or a parenthesized list of them.
pub(crate) struct Deps {
    /// The tokens as written, for spans.
    pub(crate) written: Expr,
    /// The dependencies in order (see [`Dep`]).
    pub(crate) list: Vec<Expr>,
}

/// What one dependency refers to, read from its syntax alone: whether a name is a node of
/// the macro is for the graph to say.
pub(crate) enum Dep<'a> {
    /// `a`: a node, or a `TaskHandle` in scope.
    Name(&'a Ident),
    /// `a[INDEX]`: one member of a family (by position, as `Family` indexes), or an
    /// element of an array of handles in scope.
    Member { family: &'a Ident, index: &'a Expr },
    /// `x[..]`: every member of a family, to reduce.
    All { family: &'a Expr },
    /// Any other `TaskHandle` expression.
    Other,
}

impl Parse for Deps {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let written: Expr = input.parse()?;
        let list = match &written {
            Expr::Tuple(tuple) if tuple.elems.is_empty() => {
                return Err(syn::Error::new_spanned(
                    &written,
                    "empty dependency list: name the dependencies, as in `<- (a, b)`, or remove `<- ()`",
                ))
            }
            Expr::Tuple(tuple) => tuple.elems.iter().cloned().collect(),
            Expr::Paren(paren) => vec![(*paren.expr).clone()],
            single => vec![single.clone()],
        };
        Ok(Deps { written, list })
    }
}

impl Deps {
    /// The dependency as passed to `wire`: itself when alone, else a tuple.
    pub(crate) fn argument(&self) -> TokenStream {
        match self.list.as_slice() {
            [single] => quote::quote!(#single),
            list => quote::quote!((#(#list),*)),
        }
    }
}

impl<'a> Dep<'a> {
    pub(crate) fn of(dep: &'a Expr) -> Self {
        if let Some(name) = bare_name(dep) {
            return Dep::Name(name);
        }
        let Expr::Index(indexed) = dep else {
            return Dep::Other;
        };
        match (&*indexed.index, bare_name(&indexed.expr)) {
            (
                Expr::Range(ExprRange {
                    start: None,
                    end: None,
                    limits: RangeLimits::HalfOpen(_),
                    ..
                }),
                _,
            ) => Dep::All {
                family: &indexed.expr,
            },
            (index, Some(family)) => Dep::Member { family, index },
            (_, None) => Dep::Other,
        }
    }

    /// The node name it refers to, if it names one: `a`, `a[i]`, `a[..]`.
    pub(crate) fn name(&self) -> Option<&'a Ident> {
        match self {
            Dep::Name(name) | Dep::Member { family: name, .. } => Some(name),
            Dep::All { family } => bare_name(family),
            Dep::Other => None,
        }
    }
}

fn bare_name(expr: &Expr) -> Option<&Ident> {
    match expr {
        Expr::Path(path) if path.attrs.is_empty() && path.qself.is_none() => path.path.get_ident(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dag::parse::DagInput;
    use quote::ToTokens;

    fn parse(source: &str) -> syn::Result<DagInput> {
        syn::parse_str(source)
    }

    fn text(tokens: impl ToTokens) -> String {
        tokens.to_token_stream().to_string()
    }

    #[test]
    fn dependency_kinds() {
        let input = parse(
            "dag: d; a = T <- (b, self::c, h[0], x, raw[i + 1], doc[..], s.f[..], s.f[0], h[1..]);",
        )
        .unwrap();
        let deps = &input.nodes[0].deps.as_ref().unwrap().list;
        let kinds: Vec<String> = deps
            .iter()
            .map(|dep| match Dep::of(dep) {
                Dep::Name(name) => format!("name {name}"),
                Dep::Member { family, index } => format!("member {family} {}", text(index)),
                Dep::All { family } => format!("all {}", text(family)),
                Dep::Other => "other".to_owned(),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "name b",
                "other",
                "member h 0",
                "name x",
                "member raw i + 1",
                "all doc",
                "all s . f",
                "other",
                "member h 1 ..",
            ]
        );
        let names: Vec<Option<String>> = deps
            .iter()
            .map(|dep| Dep::of(dep).name().map(ToString::to_string))
            .collect();
        let expected = [
            Some("b"),
            None,
            Some("h"),
            Some("x"),
            Some("raw"),
            Some("doc"),
        ];
        let expected = expected.into_iter().chain([None, None, Some("h")]);
        assert_eq!(
            names,
            expected.map(|n| n.map(String::from)).collect::<Vec<_>>()
        );
    }
}
