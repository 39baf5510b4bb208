//! Generates the dagx `Task` impl and the `DurableTask` impl for a validated impl block.
//!
//! Everything is named by absolute path, the runtime through `::duraflow::__private`, so the
//! user's crate needs no `use` and no dependency besides duraflow.

use super::ast::{Receiver, TaskImpl};
use super::template::KeyTemplate;
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{parse_quote, Ident, ImplItem, ItemImpl};

/// The user's impl block followed by the two trait impls.
pub(crate) fn task(task: &TaskImpl, version: u32, key: &KeyTemplate) -> TokenStream {
    let item = with_lint_allowances(task);
    let task_trait = task_trait(task, &TaskBodies::real(task));
    let durable_trait = durable_trait(task, version, &key_body(task, key));
    quote! {
        #item
        #task_trait
        #durable_trait
    }
}

/// The impl block with `run` exempt from the clippy lints its required shape trips: inputs
/// are references to the stored types (`&Vec<T>`, not `&[T]`), and up to 8 of them.
fn with_lint_allowances(task: &TaskImpl) -> ItemImpl {
    let mut item = task.item.clone();
    for impl_item in &mut item.items {
        if let ImplItem::Fn(method) = impl_item {
            if method.sig.ident == task.run.method.sig.ident {
                method.attrs.push(parse_quote! {
                    #[allow(clippy::ptr_arg, clippy::too_many_arguments)]
                });
            }
        }
    }
    item
}

/// The trait impls with bodies that never run, emitted next to compile errors so that uses
/// of the task elsewhere type-check instead of adding errors of their own.
pub(crate) fn stubs(task: &TaskImpl) -> TokenStream {
    let task_trait = task_trait(task, &TaskBodies::stub());
    let durable_trait = durable_trait(task, 0, &quote!(::core::unreachable!()));
    quote! {
        #task_trait
        #durable_trait
    }
}

/// The bodies of `Task::run` and `Task::extract_and_run`.
struct TaskBodies {
    /// `mut` on `self` when `run` borrows it mutably.
    self_mutability: Option<syn::Token![mut]>,
    run: TokenStream,
    extract_and_run: TokenStream,
}

impl TaskBodies {
    fn real(task: &TaskImpl) -> Self {
        let run = &task.run;
        let names: Vec<Ident> = (0..run.inputs.len())
            .map(|i| format_ident!("input{}", i))
            .collect();
        let types = run.input_types();
        let input = dagx_input(&names);

        let ident = &run.method.sig.ident;
        let span = ident.span();
        let receiver = match run.receiver() {
            Receiver::None => None,
            Receiver::Value | Receiver::Typed => Some(quote_spanned!(span=> self,)),
            Receiver::Shared => Some(quote_spanned!(span=> &self,)),
            Receiver::Mut => Some(quote_spanned!(span=> &mut self,)),
        };
        let mut call = quote_spanned!(span=> <Self>::#ident(#receiver #(&#names),*));
        if run.is_async() {
            call = quote_spanned!(span=> #call.await);
        }

        TaskBodies {
            self_mutability: (run.receiver() == Receiver::Mut).then(Default::default),
            run: quote! {
                async move {
                    let #input = input;
                    #call
                }
            },
            extract_and_run: quote! {
                async move {
                    let (#(#names,)*) =
                        ::duraflow::__private::receive_inputs::<(#(#types,)*)>(receivers).await?;
                    ::core::result::Result::Ok(
                        <Self as ::duraflow::__private::dagx::Task>::run(self, #input).await,
                    )
                }
            },
        }
    }

    fn stub() -> Self {
        TaskBodies {
            self_mutability: None,
            run: quote!(::core::future::pending()),
            extract_and_run: quote!(::core::future::pending()),
        }
    }
}

/// dagx's shape for a task's inputs: `()` for none, `A` for one, `(A, B, ...)` for more.
fn dagx_input<T: ToTokens>(items: &[T]) -> TokenStream {
    match items {
        [single] => single.to_token_stream(),
        items => quote!((#(#items),*)),
    }
}

fn task_trait(task: &TaskImpl, bodies: &TaskBodies) -> TokenStream {
    let (impl_generics, _, where_clause) = task.item.generics.split_for_impl();
    let self_ty = &task.item.self_ty;
    let input = dagx_input(&task.run.input_types());
    let output = task
        .run
        .output()
        .map_or_else(|| quote!(()), ToTokens::to_token_stream);
    let TaskBodies {
        self_mutability,
        run,
        extract_and_run,
    } = bodies;
    // Spanned on the user's `run`: a future that is not `Send` is reported there.
    let run_future = quote_spanned! {task.run.method.sig.ident.span()=>
        impl ::core::future::Future<Output = Self::Output> + ::core::marker::Send
    };
    quote! {
        impl #impl_generics ::duraflow::__private::dagx::Task for #self_ty #where_clause {
            type Input = #input;
            type Output = #output;

            fn run(#self_mutability self, input: Self::Input) -> #run_future {
                #run
            }

            fn extract_and_run(
                self,
                receivers: ::std::vec::Vec<
                    ::std::boxed::Box<dyn ::core::any::Any + ::core::marker::Send>,
                >,
            ) -> impl ::core::future::Future<
                Output = ::core::result::Result<Self::Output, ::std::string::String>,
            > + ::core::marker::Send {
                #extract_and_run
            }
        }
    }
}

fn durable_trait(task: &TaskImpl, version: u32, key_body: &TokenStream) -> TokenStream {
    let (impl_generics, _, where_clause) = task.item.generics.split_for_impl();
    let self_ty = &task.item.self_ty;
    quote! {
        impl #impl_generics ::duraflow::__private::DurableTask for #self_ty #where_clause {
            const VERSION: u32 = #version;

            fn key(&self) -> ::std::string::String {
                #key_body
            }
        }
    }
}

/// Checks that the output can be stored (the error points at `run`'s return type) and builds
/// the key; the template's fields are read with the key literal's span, so a missing field
/// or one without `Display` is reported on the key.
fn key_body(task: &TaskImpl, key: &KeyTemplate) -> TokenStream {
    let persistable = task.run.output().map(|output| {
        quote_spanned! {output.span()=>
            ::duraflow::__private::assert_persistable::<#output>();
        }
    });
    let format = syn::LitStr::new(&key.format_string(), Span::call_site());
    let fields = key.fields();
    let key = if fields.is_empty() {
        quote!(::std::string::String::from(#format))
    } else {
        let span = key.span();
        let reads = fields
            .iter()
            .map(|field| quote_spanned!(span=> self.#field));
        quote!(::std::format!(#format, #(#reads),*))
    };
    quote! {
        #persistable
        #key
    }
}
