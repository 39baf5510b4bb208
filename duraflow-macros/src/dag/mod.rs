//! `durable_dag! { ... }`: parse (`parse`), check the node set and order it (`graph`),
//! expand (`expand`).

mod expand;
mod graph;
mod parse;

use crate::errors::Errors;
use proc_macro2::TokenStream;

/// Expands the macro's input into `let` statements, or into its errors.
pub(crate) fn expand(input: TokenStream) -> TokenStream {
    let input: parse::DagInput = match syn::parse2(input.clone()) {
        Ok(input) => input,
        Err(error) => {
            let (names, expressions) = parse::recover(input);
            return expand::fallback(&names, &expressions, &error);
        }
    };
    let mut errors = Errors::new();
    let order = graph::emission_order(&input.nodes, &mut errors);
    match errors.finish() {
        Ok(()) => expand::dag(&input, &order),
        Err(error) => {
            let names: Vec<_> = input.nodes.iter().map(|node| node.name.clone()).collect();
            let expressions: Vec<_> = input.nodes.iter().map(parse::Node::expressions).collect();
            expand::fallback(&names, &expressions, &error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(source: &str) -> String {
        expand(source.parse().unwrap()).to_string()
    }

    #[test]
    fn design_example() {
        let out = expand_str(
            r#"dag: d; sum = Add <- (five, ten); five = Load(5); ten @ "mul-ten" = Mul(2) <- five;"#,
        );
        let expected = [
            "let __duraflow_dag : & :: duraflow :: DurableDag < '_ > = & (d) ;",
            "let five = :: duraflow :: __private :: handle (:: duraflow :: DurableDag :: task (__duraflow_dag , Load (5))) ;",
            "let ten = :: duraflow :: __private :: wire ({",
            "use :: duraflow :: __private :: { KeyedDurable as _ , KeyedPlain as _ } ;",
            "(&& :: duraflow :: __private :: Keyed :: new (__duraflow_dag , \"mul-ten\" , Mul (2))) . add () } , five) ;",
            "let sum = :: duraflow :: __private :: wire (:: duraflow :: DurableDag :: task (__duraflow_dag , Add) , (five , ten)) ;",
        ];
        let mut rest = out.as_str();
        for statement in expected {
            let at = rest
                .find(statement)
                .unwrap_or_else(|| panic!("{statement}\nnot in order in\n{out}"));
            rest = &rest[at + statement.len()..];
        }
        assert_eq!(out.matches("unused_variables").count(), 3, "{out}");
    }

    #[test]
    fn errors_bind_every_name_and_use_every_expression() {
        let out = expand_str("dag: d; a = A <- b; b = B <- (a, outside);");
        assert!(out.contains("dependency cycle: a -> b -> a"), "{out}");
        assert!(
            out.contains("let a : :: duraflow :: __private :: dagx :: TaskHandle < _ >"),
            "{out}"
        );
        assert!(out.contains("let b :"), "{out}");
        assert!(out.contains("let _ = || (A , b) ;"), "{out}");
        assert!(out.contains("let _ = || (B , (a , outside)) ;"), "{out}");
    }

    #[test]
    fn syntax_error_keeps_what_it_can_read() {
        let out = expand_str("a = A; b = B <- ;");
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("starts with a `dag: EXPR;` header"), "{out}");
        assert!(out.contains("let a :"), "{out}");
        assert!(out.contains("let b :"), "{out}");
        assert!(out.contains("let _ = || (A ,) ;"), "{out}");
        assert!(out.contains("let _ = || B ;"), "{out}");
    }
}
