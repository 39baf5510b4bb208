//! `durable_dag! { ... }`: parse (`parse`, `deps`), check the node set and order it
//! (`graph`, with the rules of families and reductions in `check`), expand (`expand`); on a
//! syntax error, bind what the input still declares (`recover`).

mod check;
mod deps;
mod expand;
mod graph;
mod parse;
mod recover;

use crate::errors::Errors;
use proc_macro2::TokenStream;

/// Expands the macro's input into `let` statements, or into its errors.
pub(crate) fn expand(input: TokenStream) -> TokenStream {
    let input: parse::DagInput = match syn::parse2(input.clone()) {
        Ok(input) => input,
        Err(error) => {
            let (bindings, expressions) = recover::recover(input);
            return expand::fallback(&bindings, &expressions, &error);
        }
    };
    let mut errors = Errors::new();
    let order = graph::emission_order(&input.nodes, &mut errors);
    match errors.finish() {
        Ok(()) => expand::dag(&input, &order),
        Err(error) => {
            let bindings: Vec<_> = input.nodes.iter().map(parse::Node::binding).collect();
            let expressions: Vec<_> = input.nodes.iter().map(parse::Node::expressions).collect();
            expand::fallback(&bindings, &expressions, &error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts that each of `expected` occurs in `out`, in this order.
    fn assert_in_order(out: &str, expected: &[&str]) {
        let mut rest = out;
        for statement in expected {
            let at = rest
                .find(statement)
                .unwrap_or_else(|| panic!("{statement}\nnot in order in\n{out}"));
            rest = &rest[at + statement.len()..];
        }
    }

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
        assert_in_order(&out, &expected);
        assert_eq!(out.matches("unused_variables").count(), 3, "{out}");
    }

    #[test]
    fn families_loop_and_reductions_reduce() {
        let out = expand_str(
            r#"dag: d;
               index @ "index" = union <- doc[..];
               doc[i in 0..n] @ "doc-{i}" = Load(i) <- raw[i];
               raw[i in 0..n] = Raw(i);"#,
        );
        let expected = [
            "let raw : :: duraflow :: Family < _ > = {",
            "let mut members = :: duraflow :: Family :: new () ;",
            "for i in :: core :: iter :: IntoIterator :: into_iter (0 .. n) {",
            "let (key , builder) = :: duraflow :: __private :: member (__duraflow_dag , Raw (i)) ;",
            ":: duraflow :: Family :: push (& mut members , & key , :: duraflow :: __private :: handle (builder)) ;",
            "} members } ;",
            "let doc : :: duraflow :: Family < _ > = {",
            "let key = :: duraflow :: __private :: std :: format ! (\"doc-{i}\") ;",
            "(&& :: duraflow :: __private :: Keyed :: new (__duraflow_dag , & key , Load (i))) . add () } ;",
            ":: duraflow :: Family :: push (& mut members , & key , :: duraflow :: __private :: wire (builder , raw [i])) ;",
            "let index = :: duraflow :: DurableDag :: reduce (__duraflow_dag , \"index\" , & doc , union) ;",
        ];
        assert_in_order(&out, &expected);
    }

    #[test]
    fn errors_bind_families_as_families() {
        let out =
            expand_str(r#"dag: d; doc[i in 0..3] = D(i); one = T <- doc; all = m <- doc[..];"#);
        assert!(out.contains("is a family of nodes, not one task"), "{out}");
        assert!(out.contains("reduction `all` needs a key"), "{out}");
        assert!(
            out.contains("let doc : :: duraflow :: Family < _ >"),
            "{out}"
        );
        assert!(
            out.contains("let one : :: duraflow :: __private :: dagx :: TaskHandle < _ >"),
            "{out}"
        );
        assert!(
            out.contains("let all : :: duraflow :: __private :: dagx :: TaskHandle < _ >"),
            "{out}"
        );
        assert!(
            out.contains("let _ = || for i in :: core :: iter :: IntoIterator :: into_iter (0 .. 3) { let _ = (D (i) ,) ; } ;"),
            "{out}"
        );
        assert!(out.contains("let _ = || (m , & doc) ;"), "{out}");
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
        assert!(out.contains("let _ = || (B , a , outside) ;"), "{out}");
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
