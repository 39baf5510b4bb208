//! Generates the dagx `Task` impl and the `DurableTask` impl for a validated impl block.
//!
//! Everything is named by absolute path, the runtime through `::duraflow::__private`, so the
//! user's crate needs no `use` and no dependency besides duraflow (and serde, for the
//! `Serialize` check of `cache = inputs`).

use super::ast::{Receiver, TaskImpl};
use super::attr::{Cache, Config};
use super::template::KeyTemplate;
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use std::time::Duration;
use syn::spanned::Spanned;
use syn::{parse_quote, Ident, ImplItem, ItemImpl};

/// The user's impl block followed by the two trait impls.
pub(crate) fn task(task: &TaskImpl, config: &Config, key: &KeyTemplate) -> TokenStream {
    let item = with_lint_allowances(task);
    let task_trait = task_trait(task, &TaskBodies::real(task, config.blocking));
    let durable_trait = durable_trait(task, &DurableItems::real(task, config, key));
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
    let durable_trait = durable_trait(task, &DurableItems::stub());
    quote! {
        #task_trait
        #durable_trait
    }
}

/// The body of `Task::run` and how the dagx glue turns received inputs into dagx's input.
struct TaskBodies {
    /// `mut` on `self` when `run` borrows it mutably.
    self_mutability: Option<syn::Token![mut]>,
    run: TokenStream,
    /// Whether `run` goes to the blocking pool (it is not `async`, or marked `blocking`):
    /// the impl then needs `Self: 'static`, which dagx asks of every task anyway.
    offloaded: bool,
    /// The types of the received inputs, the tuple pattern they are bound to, and the
    /// `Input` made of them.
    inputs: (TokenStream, TokenStream, TokenStream),
}

impl TaskBodies {
    fn real(task: &TaskImpl, blocking: bool) -> Self {
        let run = &task.run;
        let names: Vec<Ident> = (0..run.inputs.len())
            .map(|i| format_ident!("input{}", i))
            .collect();
        let input = dagx_input(&names);
        let types = run.input_types();

        let ident = &run.method.sig.ident;
        let span = ident.span();
        let receiver = match run.receiver() {
            Receiver::None => None,
            Receiver::Value | Receiver::Typed => Some(quote_spanned!(span=> self,)),
            Receiver::Shared => Some(quote_spanned!(span=> &self,)),
            Receiver::Mut => Some(quote_spanned!(span=> &mut self,)),
        };
        let call = quote_spanned!(span=> <Self>::#ident(#receiver #(&#names),*));
        let offloaded = blocking || !run.is_async();
        // A `run` that blocks its thread goes to the blocking pool, where its timeout holds.
        let body = match (offloaded, run.is_async()) {
            (false, _) => quote_spanned!(span=> #call.await),
            (true, false) => quote! {
                ::duraflow::__private::run_blocking(move || {
                    let #input = input;
                    #call
                })
                .await
            },
            (true, true) => quote! {
                ::duraflow::__private::run_blocking(move || {
                    let #input = input;
                    ::duraflow::__private::block_on(async { #call.await })
                })
                .await
            },
        };
        let bind = (!offloaded).then(|| quote!(let #input = input;));

        TaskBodies {
            self_mutability: (run.receiver() == Receiver::Mut).then(Default::default),
            run: quote! {
                async move {
                    #bind
                    #body
                }
            },
            offloaded,
            inputs: (quote!(#(#types),*), quote!((#(#names,)*)), input),
        }
    }

    fn stub() -> Self {
        TaskBodies {
            self_mutability: None,
            run: quote!(::core::future::pending()),
            offloaded: false,
            inputs: (
                TokenStream::new(),
                quote!(()),
                quote!(::core::unreachable!()),
            ),
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

/// The dagx `Task` impl, written by the runtime's glue macro so that dagx's hidden
/// `extract_and_run` is spelled there only.
fn task_trait(task: &TaskImpl, bodies: &TaskBodies) -> TokenStream {
    let mut generics = task.item.generics.clone();
    if bodies.offloaded {
        generics
            .make_where_clause()
            .predicates
            .push(parse_quote!(Self: 'static));
    }
    let (impl_generics, _, where_clause) = generics.split_for_impl();
    let self_ty = &task.item.self_ty;
    let input = dagx_input(&task.run.input_types());
    let output = task
        .run
        .output()
        .map_or_else(|| quote!(()), ToTokens::to_token_stream);
    let TaskBodies {
        self_mutability,
        run,
        inputs: (types, pattern, into),
        ..
    } = bodies;
    // Spanned on the user's `run`: a future that is not `Send` is reported there.
    let run_future = quote_spanned! {task.run.method.sig.ident.span()=>
        impl ::core::future::Future<Output = Self::Output> + ::core::marker::Send
    };
    quote! {
        ::duraflow::__private::dagx_task! {
            { impl #impl_generics ::duraflow::__private::dagx::Task for #self_ty #where_clause }
            inputs: (#types) => |#pattern| #into;
            {
                type Input = #input;
                type Output = #output;

                fn run(#self_mutability self, input: Self::Input) -> #run_future {
                    #run
                }
            }
        }
    }
}

/// The items of the `DurableTask` impl that differ between a real expansion and the stubs.
struct DurableItems {
    version: u32,
    /// `const OPTIONS: ... = ...;`, or nothing for the trait's default.
    options: TokenStream,
    key: TokenStream,
    inputs: TokenStream,
    input: TokenStream,
    fingerprint_inputs: TokenStream,
    fingerprint_state: TokenStream,
    clone: TokenStream,
    storing: TokenStream,
}

impl DurableItems {
    fn real(task: &TaskImpl, config: &Config, key: &KeyTemplate) -> Self {
        let types = task.run.input_types();
        let names: Vec<Ident> = (0..types.len())
            .map(|i| format_ident!("input{}", i))
            .collect();
        let indices = (0..types.len()).map(syn::Index::from);
        let input = dagx_input(&names);
        let requirements = requirements(task, config);
        let key = key_expr(key);
        DurableItems {
            version: config.version,
            options: options(config),
            key: quote! {
                #requirements
                #key
            },
            inputs: quote!((#(#types,)*)),
            // Without inputs the body ends at the `let`: a trailing `()` trips clippy.
            input: if names.is_empty() {
                quote!(let () = inputs;)
            } else {
                quote! {
                    let (#(#names,)*) = inputs;
                    #input
                }
            },
            // Autoref specialization: `&&Probe` finds the `Serialize` impl when the type has
            // one, else derefs once to the fallback, which gives up (resume by key).
            fingerprint_inputs: quote! {
                #[allow(unused_imports)]
                use ::duraflow::__private::{FingerprintNone as _, FingerprintSerialize as _};
                true #(&& (&&::duraflow::__private::Probe(&inputs.#indices)).fingerprint(fingerprint))*
            },
            fingerprint_state: quote! {
                #[allow(unused_imports)]
                use ::duraflow::__private::{FingerprintNone as _, FingerprintSerialize as _};
                (&&::duraflow::__private::Probe(self)).fingerprint(fingerprint)
            },
            clone: quote! {
                #[allow(unused_imports)]
                use ::duraflow::__private::{CloneNone as _, CloneSome as _};
                (&&::duraflow::__private::Probe(self)).try_clone()
            },
            storing: storing(task),
        }
    }

    /// Bodies that never run; `Inputs` is `()` so that even a `run` with too many inputs
    /// adds no error of its own.
    fn stub() -> Self {
        let unreachable = quote!(::core::unreachable!());
        DurableItems {
            version: 0,
            options: TokenStream::new(),
            key: unreachable.clone(),
            inputs: quote!(()),
            input: unreachable.clone(),
            fingerprint_inputs: unreachable.clone(),
            fingerprint_state: unreachable.clone(),
            clone: unreachable.clone(),
            storing: unreachable,
        }
    }
}

fn durable_trait(task: &TaskImpl, items: &DurableItems) -> TokenStream {
    let (impl_generics, _, where_clause) = task.item.generics.split_for_impl();
    let self_ty = &task.item.self_ty;
    let DurableItems {
        version,
        options,
        key,
        inputs,
        input,
        fingerprint_inputs,
        fingerprint_state,
        clone,
        storing,
    } = items;
    quote! {
        impl #impl_generics ::duraflow::__private::DurableTask for #self_ty #where_clause {
            const VERSION: u32 = #version;
            #options

            fn key(&self) -> ::std::string::String {
                #key
            }

            type Inputs = #inputs;

            fn __receive(
                inputs: ::duraflow::__private::ErasedInputs,
            ) -> ::duraflow::__private::BoxFuture<
                'static,
                ::core::result::Result<Self::Inputs, ::std::string::String>,
            > {
                ::duraflow::__private::receive_erased::<Self::Inputs>(inputs)
            }

            #[allow(unused_variables)]
            fn __input(inputs: Self::Inputs) -> Self::Input {
                #input
            }

            #[allow(unused_variables)]
            fn __fingerprint_inputs(
                inputs: &Self::Inputs,
                fingerprint: &mut ::duraflow::__private::Fingerprint,
            ) -> bool {
                #fingerprint_inputs
            }

            #[allow(unused_variables)]
            fn __fingerprint_state(
                &self,
                fingerprint: &mut ::duraflow::__private::Fingerprint,
            ) -> bool {
                #fingerprint_state
            }

            fn __clone(&self) -> ::core::option::Option<Self> {
                #clone
            }

            fn __storing() -> ::duraflow::__private::Storing<Self::Output> {
                #storing
            }
        }
    }
}

/// `const OPTIONS` built from the runtime's defaults with the options given; nothing when
/// none is given.
fn options(config: &Config) -> TokenStream {
    let options = quote!(::duraflow::__private::TaskOptions);
    let mut setters = Vec::new();
    if let Some(cache) = config.cache {
        let variant = match cache {
            Cache::Key => quote!(Key),
            Cache::Inputs => quote!(Inputs),
        };
        setters.push(quote!(.cache(::duraflow::__private::Cache::#variant)));
    }
    if let Some(ttl) = config.ttl {
        let ttl = duration(ttl);
        setters.push(quote!(.ttl(#ttl)));
    }
    if let Some(retries) = config.retries {
        setters.push(quote!(.retries(#retries)));
    }
    if let Some(schema) = config.schema {
        setters.push(quote!(.schema(#schema)));
    }
    if let Some((backoff, _)) = config.backoff {
        let backoff = duration(backoff);
        setters.push(quote!(.backoff(#backoff)));
    }
    if let Some(timeout) = config.timeout {
        let timeout = duration(timeout);
        setters.push(quote!(.timeout(#timeout)));
    }
    if setters.is_empty() {
        return TokenStream::new();
    }
    quote! {
        const OPTIONS: #options = #options::DEFAULT #(#setters)*;
    }
}

/// A `Duration` as a const expression.
fn duration(duration: Duration) -> TokenStream {
    let (secs, nanos) = (duration.as_secs(), duration.subsec_nanos());
    quote!(::core::time::Duration::new(#secs, #nanos))
}

/// Compile-time checks of what the task's options need, each reported on the user's type
/// with a message that says the fix: the output must be storable, `cache = inputs` needs
/// the task and its inputs to be `Serialize`, `retries` needs the task to be `Clone`.
fn requirements(task: &TaskImpl, config: &Config) -> TokenStream {
    let self_ty = &task.item.self_ty;
    // Of a `Result`, only the `Ok` value is stored.
    let persistable = task.run.output().map(|output| {
        let stored = ok_type(output).unwrap_or(output);
        quote_spanned! {stored.span()=>
            ::duraflow::__private::assert_persistable::<#stored>();
        }
    });
    let serialize = config.fingerprints().then(|| {
        let types = std::iter::once(&**self_ty).chain(task.run.input_types());
        let checks = types.map(|ty| {
            quote_spanned!(ty.span()=> ::duraflow::__private::assert_fingerprintable::<#ty>();)
        });
        quote!(#(#checks)*)
    });
    let clone = config.retries_enabled().then(
        || quote_spanned!(self_ty.span()=> ::duraflow::__private::assert_retryable::<#self_ty>();),
    );
    quote! {
        #persistable
        #serialize
        #clone
    }
}

/// How the output is stored, by autoref specialization: a `Result` whose `Err` has no serde
/// stores its `Ok` only; any other output is stored whole.
fn storing(_task: &TaskImpl) -> TokenStream {
    quote! {
        #[allow(unused_imports)]
        use ::duraflow::__private::{StoreOk as _, StoreWhole as _};
        (&&::duraflow::__private::Chooser::<Self::Output>::new()).storing()
    }
}

/// `T` of an output written `Result<T, E>` or `some::Result<T>` (how the type is spelled:
/// an alias of another name is checked whole).
fn ok_type(output: &syn::Type) -> Option<&syn::Type> {
    let syn::Type::Path(path) = output else {
        return None;
    };
    let last = path.path.segments.last()?;
    let syn::PathArguments::AngleBracketed(arguments) = &last.arguments else {
        return None;
    };
    match arguments.args.first()? {
        syn::GenericArgument::Type(ok) if last.ident == "Result" => Some(ok),
        _ => None,
    }
}

/// Builds the key; the template's fields are read with the key literal's span, so a missing
/// field or one without `Display` is reported on the key.
fn key_expr(key: &KeyTemplate) -> TokenStream {
    let format = syn::LitStr::new(&key.format_string(), Span::call_site());
    let fields = key.fields();
    if fields.is_empty() {
        quote!(::std::string::String::from(#format))
    } else {
        let span = key.span();
        let reads = fields
            .iter()
            .map(|field| quote_spanned!(span=> self.#field));
        quote!(::std::format!(#format, #(#reads),*))
    }
}
