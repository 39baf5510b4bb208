//! The syntax of `durable_dag!`, one type per syntax node, each with its `Parse` impl
//! (the dependencies after `<-` are in `deps`):
//!
//! ```text
//! dag: EXPR;
//! name [[VAR in ITER]] [@ "key"] = TASK [<- dep | <- (dep, ...)];
//! ```

pub(crate) use super::deps::{Dep, Deps};
use proc_macro2::{Spacing, TokenStream, TokenTree};
use syn::parse::{Parse, ParseStream};
use syn::{Expr, Ident, LitStr, Token};

/// The whole macro input.
pub(crate) struct DagInput {
    /// The `DurableDag` (or a reference to it) the nodes are added to.
    pub(crate) dag: Expr,
    pub(crate) nodes: Vec<Node>,
}

/// `name [[VAR in ITER]] [@ "key"] = TASK [<- DEPS];`
pub(crate) struct Node {
    pub(crate) name: Ident,
    /// `[i in 0..n]`: the node is a family, one member per item.
    pub(crate) over: Option<Over>,
    /// A plain key, or for a family a `format!` string over its variable.
    pub(crate) key: Option<LitStr>,
    pub(crate) task: Expr,
    pub(crate) deps: Option<Deps>,
}

/// `[VAR in ITER]` after a family's name: a member for each item of `ITER`, bound to `VAR`.
pub(crate) struct Over {
    pub(crate) var: Ident,
    pub(crate) iter: Expr,
}

/// The name a node is bound to after the macro, and whether it is a family.
pub(crate) struct Binding {
    pub(crate) name: Ident,
    pub(crate) family: bool,
}

impl Parse for DagInput {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let has_header = {
            let fork = input.fork();
            fork.parse::<Ident>().is_ok_and(|ident| ident == "dag") && fork.peek(Token![:])
        };
        if !has_header {
            return Err(syn::Error::new(
                input.span(),
                "durable_dag! starts with a `dag: EXPR;` header naming the DurableDag to add \
                 the nodes to, e.g. `dag: d;`",
            ));
        }
        input.parse::<Ident>()?;
        input.parse::<Token![:]>()?;
        let dag = input.parse()?;
        input.parse::<Token![;]>()?;
        let mut nodes = Vec::new();
        while !input.is_empty() {
            nodes.push(input.parse()?);
        }
        Ok(DagInput { dag, nodes })
    }
}

impl Parse for Node {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let name = input.parse()?;
        let over = if input.peek(syn::token::Bracket) {
            Some(input.parse()?)
        } else {
            None
        };
        let key = if input.peek(Token![@]) {
            input.parse::<Token![@]>()?;
            Some(input.parse().map_err(|error| {
                syn::Error::new(
                    error.span(),
                    "expected the node's key as a string literal after `@`, e.g. `ten @ \"mul-ten\" = Mul(2)`",
                )
            })?)
        } else {
            None
        };
        let eq = input.parse::<Token![=]>()?;
        let task_tokens = tokens_before_arrow(input)?;
        if task_tokens.is_empty() {
            return Err(syn::Error::new(
                eq.span,
                "expected the node's task after `=`, e.g. `five = Load(5);`",
            ));
        }
        let task = syn::parse2(task_tokens)?;
        let deps = if input.peek(Token![<]) && input.peek2(Token![-]) {
            input.parse::<Token![<]>()?;
            input.parse::<Token![-]>()?;
            Some(input.parse()?)
        } else {
            None
        };
        if !input.is_empty() {
            input.parse::<Token![;]>()?;
        }
        Ok(Node {
            name,
            over,
            key,
            task,
            deps,
        })
    }
}

impl Parse for Over {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let content;
        syn::bracketed!(content in input);
        let header = |span| {
            syn::Error::new(
                span,
                "expected a family's variable and range in brackets, e.g. \
                 `doc[i in 0..n] = Parse(i);` (a member, `doc[3]`, is written only as a dependency)",
            )
        };
        let var = content.parse().map_err(|error| header(error.span()))?;
        let in_token = content
            .parse::<Token![in]>()
            .map_err(|error| header(error.span()))?;
        if content.is_empty() {
            return Err(syn::Error::new(
                in_token.span,
                "expected the family's range or iterator after `in`, e.g. `doc[i in 0..n]`",
            ));
        }
        let iter = content.parse()?;
        Ok(Over { var, iter })
    }
}

/// The task expression: every token up to a top-level `<-` or `;`. (A plain `Expr` parse
/// would read `Mul(2) <- five` as the comparison `Mul(2) < -five`.)
pub(crate) fn tokens_before_arrow(input: ParseStream) -> syn::Result<TokenStream> {
    input.step(|cursor| {
        let mut rest = *cursor;
        let mut tokens = TokenStream::new();
        while let Some((tree, next)) = rest.token_tree() {
            if let TokenTree::Punct(punct) = &tree {
                let arrow = punct.as_char() == '<'
                    && punct.spacing() == Spacing::Joint
                    && next
                        .punct()
                        .is_some_and(|(minus, _)| minus.as_char() == '-');
                if punct.as_char() == ';' || arrow {
                    break;
                }
            }
            tokens.extend([tree]);
            rest = next;
        }
        Ok((tokens, rest))
    })
}

impl Node {
    /// The dependency a reduction reduces: its only one, written `FAMILY[..]`.
    pub(crate) fn reduces(&self) -> Option<&Expr> {
        match self.deps.as_ref()?.list.as_slice() {
            [dep] => match Dep::of(dep) {
                Dep::All { family } => Some(family),
                _ => None,
            },
            _ => None,
        }
    }

    pub(crate) fn binding(&self) -> Binding {
        Binding {
            name: self.name.clone(),
            family: self.over.is_some(),
        }
    }

    /// The node's task and dependencies as one expression (inside a loop over a family's
    /// items), for code that only needs them to be type-checked whatever the node's kind.
    pub(crate) fn expressions(&self) -> TokenStream {
        let task = &self.task;
        let deps = self
            .deps
            .iter()
            .flat_map(|deps| &deps.list)
            .map(|dep| match Dep::of(dep) {
                Dep::Member { family, index } => quote::quote!((&#family, #index)),
                Dep::All { family } => quote::quote!(&#family),
                Dep::Name(_) | Dep::Other => quote::quote!(#dep),
            });
        let both = quote::quote!((#task, #(#deps),*));
        match &self.over {
            None => both,
            Some(Over { var, iter }) => quote::quote! {
                for #var in ::core::iter::IntoIterator::into_iter(#iter) { let _ = #both; }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::ToTokens;

    fn parse(source: &str) -> syn::Result<DagInput> {
        syn::parse_str(source)
    }

    fn text(tokens: impl ToTokens) -> String {
        tokens.to_token_stream().to_string()
    }

    #[test]
    fn design_example() {
        let input = parse(
            r#"
            dag: d;
            sum = Add <- (five, ten);
            five = Load(5);
            ten @ "mul-ten" = Mul(2) <- five;
            "#,
        )
        .unwrap();
        assert_eq!(text(&input.dag), "d");
        let names: Vec<String> = input.nodes.iter().map(|n| n.name.to_string()).collect();
        assert_eq!(names, ["sum", "five", "ten"]);

        let sum = &input.nodes[0];
        assert_eq!(text(&sum.task), "Add");
        let deps = sum.deps.as_ref().unwrap();
        assert_eq!(text(deps.argument()), "(five , ten)");

        let five = &input.nodes[1];
        assert_eq!(text(&five.task), "Load (5)");
        assert!(five.key.is_none() && five.deps.is_none());

        let ten = &input.nodes[2];
        assert_eq!(ten.key.as_ref().unwrap().value(), "mul-ten");
        assert_eq!(text(&ten.task), "Mul (2)");
        assert_eq!(text(ten.deps.as_ref().unwrap().argument()), "five");
    }

    #[test]
    fn the_arrow_ends_the_task_but_generics_do_not() {
        let input =
            parse("dag: &d; a = Parse::<Vec<u8>>::new(x < y) <- (h.0); b = Keep { v: 1 }").unwrap();
        assert_eq!(
            text(&input.nodes[0].task),
            "Parse :: < Vec < u8 > > :: new (x < y)"
        );
        assert_eq!(
            text(input.nodes[0].deps.as_ref().unwrap().argument()),
            "h . 0"
        );
        assert_eq!(text(&input.nodes[1].task), "Keep { v : 1 }");
    }

    #[test]
    fn families_and_reductions() {
        let input = parse(
            r#"
            dag: d;
            doc[i in 0..n] @ "doc-{i}" = Load(i) <- raw[i];
            word[w in words.iter()] = Count(w);
            index @ "index" = |parts: &[&u64]| parts.len() as u64 <- doc[..];
            "#,
        )
        .unwrap();
        let doc = &input.nodes[0];
        let over = doc.over.as_ref().unwrap();
        assert_eq!(
            (text(&over.var), text(&over.iter)),
            ("i".into(), "0 .. n".into())
        );
        assert_eq!(doc.key.as_ref().unwrap().value(), "doc-{i}");
        assert_eq!(text(&doc.task), "Load (i)");
        assert_eq!(text(doc.deps.as_ref().unwrap().argument()), "raw [i]");
        assert!(doc.reduces().is_none());

        let word = &input.nodes[1];
        assert_eq!(text(&word.over.as_ref().unwrap().iter), "words . iter ()");
        assert!(word.key.is_none() && word.deps.is_none());

        let index = &input.nodes[2];
        assert!(index.over.is_none());
        assert_eq!(
            text(&index.task),
            "| parts : & [& u64] | parts . len () as u64"
        );
        assert_eq!(text(index.reduces().unwrap()), "doc");
        assert!(!index.binding().family && doc.binding().family);
    }

    #[test]
    fn missing_header() {
        for source in ["", "a = Load(5);", "dag = Load(5);", "d: x;"] {
            let error = parse(source).err().unwrap().to_string();
            assert!(
                error.starts_with("durable_dag! starts with a `dag: EXPR;` header"),
                "{source}: {error}"
            );
        }
    }

    #[test]
    fn syntax_errors() {
        let cases = [
            ("dag: d; a = ;", "expected the node's task after `=`"),
            (
                "dag: d; a @ k = T;",
                "expected the node's key as a string literal after `@`",
            ),
            ("dag: d; a = T <- ();", "empty dependency list"),
            ("dag: d; a = T b = U;", "unexpected token"),
            ("dag: d; a = T <- b c = U;", "expected `;`"),
            (
                "dag: d; doc[3] = T;",
                "expected a family's variable and range in brackets, e.g. `doc[i in 0..n]",
            ),
            (
                "dag: d; doc[i] = T;",
                "expected a family's variable and range",
            ),
            (
                "dag: d; doc[] = T;",
                "expected a family's variable and range",
            ),
            (
                "dag: d; doc[i in] = T;",
                "expected the family's range or iterator after `in`",
            ),
            ("dag: d; doc[i in 0..n x] = T;", "unexpected token"),
        ];
        for (source, expected) in cases {
            let error = parse(source).err().unwrap().to_string();
            assert!(error.starts_with(expected), "{source}: {error}");
        }
    }
}
