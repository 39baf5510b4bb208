//! What a malformed `durable_dag!` input still declares, for the fallback expansion.

use super::parse::{tokens_before_arrow, Binding, Node};
use proc_macro2::{Delimiter, Punct, Spacing, TokenStream, TokenTree};
use syn::parse::{ParseStream, Parser};
use syn::{Expr, Token};

/// What a malformed input still shows: the node names it seems to declare (the first token
/// of each `;`-separated statement when `=`, `@` or a family's `[...]` follows it), and the
/// expressions of those statements that parse (see [`Node::expressions`]). Emitting them
/// keeps one syntax error from turning every later use of a node, or of a name used only
/// inside the macro, into a diagnostic of its own.
pub(crate) fn recover(input: TokenStream) -> (Vec<Binding>, Vec<TokenStream>) {
    let mut bindings = Vec::new();
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
        if let Some(binding) = declared(&statement) {
            let has_variable = binding.family && names_a_variable(&statement[1]);
            bindings.push(binding);
            let tokens: TokenStream = statement.drain(..).collect();
            match syn::parse2::<Node>(tokens.clone()) {
                Ok(node) => expressions.push(node.expressions()),
                // A family's task may use the variable its brackets name, which only a whole
                // node binds.
                Err(_) if has_variable => {}
                Err(_) => expressions.extend(task_after_eq.parse2(tokens).ok()),
            }
        }
        statement.clear();
    }
    (bindings, expressions)
}

/// The name a statement declares: `name =`, `name @`, `name[...] =`, `name[...] @`.
fn declared(statement: &[TokenTree]) -> Option<Binding> {
    let (name, family, next) = match statement {
        [TokenTree::Ident(name), TokenTree::Group(group), TokenTree::Punct(next), ..]
            if group.delimiter() == Delimiter::Bracket =>
        {
            (name, true, next)
        }
        [TokenTree::Ident(name), TokenTree::Punct(next), ..] => (name, false, next),
        _ => return None,
    };
    let assigns = next.as_char() == '=' && next.spacing() == Spacing::Alone;
    (assigns || next.as_char() == '@').then(|| Binding {
        name: name.clone(),
        family,
    })
}

/// Whether a family's brackets start with a name, which its task may then use.
fn names_a_variable(brackets: &TokenTree) -> bool {
    let TokenTree::Group(group) = brackets else {
        return false;
    };
    matches!(group.stream().into_iter().next(), Some(TokenTree::Ident(_)))
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

    fn text(tokens: impl ToTokens) -> String {
        tokens.to_token_stream().to_string()
    }

    #[test]
    fn recovery_from_malformed_input() {
        let tokens: TokenStream =
            "a = A; b @ 5 = B <- (a); dag: d; c == C; d = ; = e; f = F <- x; g = G <- ()"
                .parse()
                .unwrap();
        let (names, expressions) = recover(tokens);
        let names: Vec<String> = names.iter().map(|b| b.name.to_string()).collect();
        assert_eq!(names, ["a", "b", "d", "f", "g"]);
        let expressions: Vec<String> = expressions.iter().map(text).collect();
        assert_eq!(expressions, ["(A ,)", "B", "(F , x)", "G"]);
    }

    #[test]
    fn recovery_keeps_families() {
        let tokens: TokenStream = r#"dag: d; doc[i in 0..3] = Parse(i) <- (raw[i], one);
            bad[i in 0..3] = ; r @ "r" = merge <- doc[..]; x[3] = X; y = Y <- x[3];
            z[i] = Z(i); w[] = W"#
            .parse()
            .unwrap();
        let (bindings, expressions) = recover(tokens);
        let bindings: Vec<(String, bool)> = bindings
            .iter()
            .map(|b| (b.name.to_string(), b.family))
            .collect();
        let expected = [
            ("doc", true),
            ("bad", true),
            ("r", false),
            ("x", true),
            ("y", false),
            ("z", true),
            ("w", true),
        ];
        assert_eq!(bindings, expected.map(|(n, f)| (n.to_owned(), f)));
        let expressions: Vec<String> = expressions.iter().map(text).collect();
        assert_eq!(
            expressions,
            [
                "for i in :: core :: iter :: IntoIterator :: into_iter (0 .. 3) { let _ = (Parse (i) , (& raw , i) , one) ; }",
                "(merge , & doc)",
                "X",
                "(Y , (& x , 3))",
                "W",
            ]
        );
    }
}
