//! The rules the impl block under `#[durable]` must follow, one function each.

use super::ast::{Receiver, TaskImpl};
use crate::errors::Errors;
use quote::ToTokens;
use syn::Type;

/// dagx passes at most 8 dependencies to a task.
pub(crate) const MAX_INPUTS: usize = 8;

/// Records every rule `task` breaks.
pub(crate) fn check(task: &TaskImpl, errors: &mut Errors) {
    inherent_impl(task, errors);
    supported_receiver(task, errors);
    no_generics_on_run(task, errors);
    inputs_by_shared_reference(task, errors);
    at_most_eight_inputs(task, errors);
    explicit_output(task, errors);
}

fn inherent_impl(task: &TaskImpl, errors: &mut Errors) {
    if let Some((_, path, _)) = &task.item.trait_ {
        errors.spanned(
            path,
            "#[durable] goes on the task's own impl block, as in `impl Load { ... }`, \
             not on a trait impl",
        );
    }
}

fn supported_receiver(task: &TaskImpl, errors: &mut Errors) {
    if let (Receiver::Typed, Some(receiver)) = (task.run.receiver(), task.run.receiver) {
        errors.spanned(
            receiver,
            "`run` takes `self`, `&self`, `&mut self` or no receiver: write the receiver in one \
             of these forms",
        );
    }
}

fn no_generics_on_run(task: &TaskImpl, errors: &mut Errors) {
    let generics = &task.run.method.sig.generics;
    if !generics.params.is_empty() || generics.where_clause.is_some() {
        errors.spanned(
            generics,
            "`run` cannot have its own generic parameters, since they fix the task's input and \
             output types: put them on the impl block, as in `impl<T> Task<T> { ... }`",
        );
    }
}

fn inputs_by_shared_reference(task: &TaskImpl, errors: &mut Errors) {
    for input in &task.run.inputs {
        match &*input.ty {
            Type::Reference(reference) if reference.mutability.is_none() => {}
            Type::Reference(reference) => errors.spanned(
                input.ty.as_ref(),
                format!(
                    "a task's input is shared with other tasks, so it cannot be borrowed \
                     mutably: take it by shared reference: `&{}`",
                    type_name(&reference.elem)
                ),
            ),
            ty => errors.spanned(
                ty,
                format!(
                    "a task shares its inputs with other tasks: take it by reference: `&{}`",
                    type_name(ty)
                ),
            ),
        }
    }
}

fn at_most_eight_inputs(task: &TaskImpl, errors: &mut Errors) {
    if let Some(extra) = task.run.inputs.get(MAX_INPUTS) {
        errors.spanned(
            extra,
            format!(
                "a task takes at most {MAX_INPUTS} inputs (dagx's limit) and this is input {}: \
                 combine some of them into one struct or tuple, computed by one upstream task",
                MAX_INPUTS + 1
            ),
        );
    }
}

fn explicit_output(task: &TaskImpl, errors: &mut Errors) {
    let sig = &task.run.method.sig;
    if task.run.output().is_none() {
        errors.at(
            sig.paren_token.span.close(),
            "`run` needs an explicit return type, which is the task's stored output: \
             add `-> T` after the parameters (`-> ()` for a task without output)",
        );
    }
}

/// A type as the user would write it: `Vec<u8>`, not `Vec < u8 >`.
fn type_name(ty: &Type) -> String {
    let spaced = ty.to_token_stream().to_string();
    let mut name = String::with_capacity(spaced.len());
    let mut chars = spaced.chars().peekable();
    while let Some(c) = chars.next() {
        let next = chars.peek().copied();
        let drop_space = c == ' '
            && (matches!(
                name.chars().last(),
                Some('<' | '&' | ':' | '(' | '[' | '\'')
            ) || matches!(next, Some('<' | '>' | ',' | ':' | ')' | ']' | ';')));
        if !drop_space {
            name.push(c);
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::test_support::messages;
    use proc_macro2::TokenStream;
    use quote::quote;

    fn errors_of(item: TokenStream) -> Vec<String> {
        let item: syn::ItemImpl = syn::parse2(item).unwrap();
        let task = TaskImpl::from_syn(&item).unwrap();
        let mut errors = Errors::new();
        check(&task, &mut errors);
        errors.finish().err().map(messages).unwrap_or_default()
    }

    #[test]
    fn accepts_every_supported_signature() {
        for run in [
            quote!(
                async fn run() -> i32 {
                    1
                }
            ),
            quote!(
                fn run(self) -> i32 {
                    1
                }
            ),
            quote!(
                async fn run(&self, a: &i32) -> i32 {
                    *a
                }
            ),
            quote!(
                fn run(&mut self, a: &'static str, b: &Vec<u8>) -> () {}
            ),
            quote!(
                async fn run(a: &u8, b: &u8, c: &u8, d: &u8, e: &u8, f: &u8, g: &u8, h: &u8) -> u8 {
                    0
                }
            ),
        ] {
            assert_eq!(
                errors_of(quote!(impl<T> Task<T> { #run })),
                Vec::<String>::new(),
                "{run}"
            );
        }
    }

    #[test]
    fn non_reference_input() {
        assert_eq!(
            errors_of(quote!(impl T { fn run(x: Vec<Option<u8>>) -> i32 { 0 } })),
            ["a task shares its inputs with other tasks: take it by reference: `&Vec<Option<u8>>`"]
        );
    }

    #[test]
    fn mutable_reference_input() {
        let messages = errors_of(quote!(impl T { fn run(x: &mut [u8; 4]) -> i32 { 0 } }));
        assert!(
            messages[0].ends_with("take it by shared reference: `&[u8; 4]`"),
            "{messages:?}"
        );
    }

    #[test]
    fn ninth_input() {
        let messages = errors_of(quote!(impl T {
            fn run(a: &u8, b: &u8, c: &u8, d: &u8, e: &u8, f: &u8, g: &u8, h: &u8, i: &u8, j: &u8) -> u8 { 0 }
        }));
        assert_eq!(messages.len(), 1);
        assert!(messages[0].contains("at most 8 inputs"), "{messages:?}");
    }

    #[test]
    fn missing_output_and_bad_receiver_are_both_reported() {
        let messages = errors_of(quote!(impl T { fn run(self: Box<Self>) {} }));
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages[0].contains("`self`, `&self`, `&mut self` or no receiver"));
        assert!(messages[1].contains("explicit return type"));
    }

    #[test]
    fn trait_impl_and_generic_run() {
        let messages = errors_of(quote!(impl Tr for T { fn run<U>(&self) -> U { todo!() } }));
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages[0].contains("not on a trait impl"));
        assert!(messages[1].contains("cannot have its own generic parameters"));
    }

    #[test]
    fn type_names_read_like_source() {
        for source in [
            "Vec<Option<u8>>",
            "&'a str",
            "(u8, String)",
            "[u8; 4]",
            "std::string::String",
        ] {
            let ty: Type = syn::parse_str(source).unwrap();
            assert_eq!(type_name(&ty), source);
        }
    }
}
