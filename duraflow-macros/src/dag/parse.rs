//! The syntax of `durable_dag!`, one type per syntax node, each with its `Parse` impl:
//!
//! ```text
//! dag: EXPR;
//! name [@ "key"] = TASK [<- dep | <- (dep, ...)];
//! ```

use proc_macro2::{Punct, Spacing, TokenStream, TokenTree};
use syn::parse::{Parse, ParseStream, Parser};
use syn::{Expr, Ident, LitStr, Token};

/// The whole macro input.
pub(crate) struct DagInput {
    /// The `DurableDag` (or a reference to it) the nodes are added to.
    pub(crate) dag: Expr,
    pub(crate) nodes: Vec<Node>,
}

/// `name [@ "key"] = TASK [<- DEPS];`
pub(crate) struct Node {
    pub(crate) name: Ident,
    pub(crate) key: Option<LitStr>,
    pub(crate) task: Expr,
    pub(crate) deps: Option<Deps>,
}

/// What follows `<-`: one dependency, or a parenthesized list of them.
pub(crate) struct Deps {
    /// The tokens as written, for spans.
    pub(crate) written: Expr,
    /// The dependencies in order, each a node name or any `TaskHandle` expression.
    pub(crate) list: Vec<Expr>,
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
            key,
            task,
            deps,
        })
    }
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

/// The task expression: every token up to a top-level `<-` or `;`. (A plain `Expr` parse
/// would read `Mul(2) <- five` as the comparison `Mul(2) < -five`.)
fn tokens_before_arrow(input: ParseStream) -> syn::Result<TokenStream> {
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
    /// The node's task and dependencies as one tuple expression, for code that only needs
    /// them to be type-checked.
    pub(crate) fn expressions(&self) -> TokenStream {
        let task = &self.task;
        let deps = self.deps.as_ref().map(Deps::argument);
        quote::quote!((#task, #deps))
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

/// The node name a dependency refers to, if it is a bare identifier.
pub(crate) fn dependency_name(dep: &Expr) -> Option<&Ident> {
    match dep {
        Expr::Path(path) if path.attrs.is_empty() && path.qself.is_none() => path.path.get_ident(),
        _ => None,
    }
}

/// What a malformed input still shows: the node names it seems to declare (the first token
/// of each `;`-separated statement when `=` or `@` follows it), and the expressions of those
/// statements that parse (see [`Node::expressions`]). Emitting them keeps one syntax error
/// from turning every later use of a node, or of a name used only inside the macro, into a
/// diagnostic of its own.
pub(crate) fn recover(input: TokenStream) -> (Vec<Ident>, Vec<TokenStream>) {
    let mut names = Vec::new();
    let mut expressions = Vec::new();
    let mut statement = Vec::new();
    for tree in input
        .into_iter()
        .chain([TokenTree::Punct(Punct::new(';', Spacing::Alone))])
    {
        if !matches!(&tree, TokenTree::Punct(p) if p.as_char() == ';') {
            statement.push(tree);
            continue;
        }
        if let [TokenTree::Ident(name), TokenTree::Punct(next), ..] = statement.as_slice() {
            let assigns = next.as_char() == '=' && next.spacing() == Spacing::Alone;
            if assigns || next.as_char() == '@' {
                names.push(name.clone());
                let tokens: TokenStream = statement.drain(..).collect();
                match syn::parse2::<Node>(tokens.clone()) {
                    Ok(node) => expressions.push(node.expressions()),
                    Err(_) => expressions.extend(task_after_eq.parse2(tokens).ok()),
                }
            }
        }
        statement.clear();
    }
    (names, expressions)
}

/// The task expression of a statement that is not a whole node: what follows its `=`.
fn task_after_eq(input: ParseStream) -> syn::Result<TokenStream> {
    while !input.peek(Token![=]) || input.peek(Token![==]) {
        input.parse::<TokenTree>()?;
    }
    input.parse::<Token![=]>()?;
    let task: Expr = syn::parse2(tokens_before_arrow(input)?)?;
    input.parse::<TokenStream>()?;
    Ok(quote::quote!(#task))
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
    fn dependency_names() {
        let input = parse("dag: d; a = T <- (b, self::c, h[0], x);").unwrap();
        let deps = &input.nodes[0].deps.as_ref().unwrap().list;
        let names: Vec<Option<String>> = deps
            .iter()
            .map(|d| dependency_name(d).map(ToString::to_string))
            .collect();
        assert_eq!(names, [Some("b".into()), None, None, Some("x".into())]);
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
        ];
        for (source, expected) in cases {
            let error = parse(source).err().unwrap().to_string();
            assert!(error.starts_with(expected), "{source}: {error}");
        }
    }

    #[test]
    fn recovery_from_malformed_input() {
        let tokens: TokenStream =
            "a = A; b @ 5 = B <- (a); dag: d; c == C; d = ; = e; f = F <- x; g = G <- ()"
                .parse()
                .unwrap();
        let (names, expressions) = recover(tokens);
        let names: Vec<String> = names.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["a", "b", "d", "f", "g"]);
        let expressions: Vec<String> = expressions.iter().map(text).collect();
        assert_eq!(expressions, ["(A ,)", "B", "(F , x)", "G"]);
    }
}
