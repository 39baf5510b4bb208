//! A typed, borrowed view of the impl block under `#[durable]`; it keeps the original syn
//! nodes so errors and generated code can point at the user's tokens.

use syn::{FnArg, ImplItem, ImplItemFn, ItemImpl, PatType, ReturnType, Type};

/// The impl block and its `run` method.
pub(crate) struct TaskImpl<'a> {
    pub(crate) item: &'a ItemImpl,
    pub(crate) run: Run<'a>,
}

/// The task's `run` method.
pub(crate) struct Run<'a> {
    pub(crate) method: &'a ImplItemFn,
    pub(crate) receiver: Option<&'a syn::Receiver>,
    /// The parameters after the receiver: the task's inputs.
    pub(crate) inputs: Vec<&'a PatType>,
}

/// How `run` takes `self`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Receiver {
    None,
    Value,
    Shared,
    Mut,
    /// `self: Type`: not supported.
    Typed,
}

impl<'a> TaskImpl<'a> {
    /// Finds `run`; an impl block without one is the only error found here.
    pub(crate) fn from_syn(item: &'a ItemImpl) -> syn::Result<Self> {
        let method = item
            .items
            .iter()
            .find_map(|item| match item {
                ImplItem::Fn(method) if method.sig.ident == "run" => Some(method),
                _ => None,
            })
            .ok_or_else(|| {
                syn::Error::new_spanned(
                    &item.self_ty,
                    "#[durable] needs a `run` method in this impl block, \
                     e.g. `async fn run(&self, input: &i32) -> i32`",
                )
            })?;
        let mut receiver = None;
        let mut inputs = Vec::new();
        for arg in &method.sig.inputs {
            match arg {
                FnArg::Receiver(r) => receiver = Some(r),
                FnArg::Typed(input) => inputs.push(input),
            }
        }
        Ok(TaskImpl {
            item,
            run: Run {
                method,
                receiver,
                inputs,
            },
        })
    }
}

impl Run<'_> {
    pub(crate) fn receiver(&self) -> Receiver {
        match self.receiver {
            None => Receiver::None,
            Some(r) if r.colon_token.is_some() => Receiver::Typed,
            Some(r) => match (&r.reference, &r.mutability) {
                (None, _) => Receiver::Value,
                (Some(_), None) => Receiver::Shared,
                (Some(_), Some(_)) => Receiver::Mut,
            },
        }
    }

    pub(crate) fn is_async(&self) -> bool {
        self.method.sig.asyncness.is_some()
    }

    /// The type each input is passed as: `T` for a parameter `&T`. A parameter that is not a
    /// reference (an error reported by validation) is taken as its own type.
    pub(crate) fn input_types(&self) -> Vec<&Type> {
        self.inputs
            .iter()
            .map(|input| match &*input.ty {
                Type::Reference(reference) => &*reference.elem,
                ty => ty,
            })
            .collect()
    }

    /// The declared return type, if any.
    pub(crate) fn output(&self) -> Option<&Type> {
        match &self.method.sig.output {
            ReturnType::Default => None,
            ReturnType::Type(_, ty) => Some(ty),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn with_task(item: proc_macro2::TokenStream, check: impl FnOnce(&TaskImpl)) {
        let item: ItemImpl = syn::parse2(item).unwrap();
        check(&TaskImpl::from_syn(&item).unwrap());
    }

    #[test]
    fn receivers() {
        let cases = [
            (
                quote!(
                    fn run() -> i32 {
                        0
                    }
                ),
                Receiver::None,
            ),
            (
                quote!(
                    fn run(self) -> i32 {
                        0
                    }
                ),
                Receiver::Value,
            ),
            (
                quote!(
                    fn run(mut self) -> i32 {
                        0
                    }
                ),
                Receiver::Value,
            ),
            (
                quote!(
                    fn run(&self) -> i32 {
                        0
                    }
                ),
                Receiver::Shared,
            ),
            (
                quote!(
                    fn run(&'a self) -> i32 {
                        0
                    }
                ),
                Receiver::Shared,
            ),
            (
                quote!(
                    fn run(&mut self) -> i32 {
                        0
                    }
                ),
                Receiver::Mut,
            ),
            (
                quote!(
                    fn run(self: Box<Self>) -> i32 {
                        0
                    }
                ),
                Receiver::Typed,
            ),
        ];
        for (run, expected) in cases {
            with_task(quote!(impl T { #run }), |task| {
                assert_eq!(task.run.receiver(), expected, "{run}");
            });
        }
    }

    #[test]
    fn inputs_and_output() {
        with_task(
            quote!(impl T { fn helper() {} async fn run(&self, a: &i32, (b, c): &(u8, u8), d: String) -> Vec<u8> { todo!() } }),
            |task| {
                assert!(task.run.is_async());
                let types: Vec<String> = task
                    .run
                    .input_types()
                    .iter()
                    .map(|t| quote!(#t).to_string())
                    .collect();
                assert_eq!(types, ["i32", "(u8 , u8)", "String"]);
                let output = task.run.output().unwrap();
                assert_eq!(quote!(#output).to_string(), "Vec < u8 >");
            },
        );
    }

    #[test]
    fn missing_output() {
        with_task(quote!(impl T { fn run() {} }), |task| {
            assert!(!task.run.is_async());
            assert!(task.run.output().is_none());
        });
    }

    #[test]
    fn no_run() {
        let item: ItemImpl =
            syn::parse2(quote!(impl T { fn execute(&self) -> i32 { 0 } })).unwrap();
        let error = TaskImpl::from_syn(&item).err().unwrap();
        assert!(error.to_string().contains("needs a `run` method"));
    }
}
