//! Generates the `let` statements of a checked `durable_dag!`.

use super::parse::{Binding, DagInput, Deps, Node, Over};
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, Ident, LitStr};

/// One `let` per node, in `order`, after binding the DurableDag once. Each call is spanned
/// on the user's tokens, so a task without a key or dependencies that do not fit `run` are
/// reported on that node.
pub(crate) fn dag(input: &DagInput, order: &[usize]) -> TokenStream {
    let dag = dag_binding();
    let expr = &input.dag;
    let header = quote_spanned! {expr.span()=>
        let #dag: &::duraflow::DurableDag<'_> = &(#expr);
    };
    let nodes = order.iter().map(|&i| {
        let node = &input.nodes[i];
        match (&node.over, node.reduces()) {
            (Some(over), _) => family(&dag, node, over),
            (None, Some(family)) => reduction(&dag, node, family),
            (None, None) => single(&dag, node),
        }
    });
    quote! {
        #header
        #(#nodes)*
    }
}

/// Where the macro found errors: the errors, a binding for each node name (a `Family` for
/// a family, else a `TaskHandle`), and the nodes' `expressions` inside closures that never
/// run. The code after the macro then still finds the nodes, and what only the macro used
/// (a task type, a handle) still counts as used, so the errors come alone.
pub(crate) fn fallback(
    bindings: &[Binding],
    expressions: &[TokenStream],
    error: &syn::Error,
) -> TokenStream {
    let error = error.to_compile_error();
    let bindings = bindings.iter().map(|Binding { name, family }| {
        let ty = match family {
            true => quote!(::duraflow::Family<_>),
            false => quote!(::duraflow::__private::dagx::TaskHandle<_>),
        };
        quote! {
            #[allow(unused_variables)]
            let #name: #ty = ::core::option::Option::None.unwrap();
        }
    });
    quote! {
        #error
        #(#bindings)*
        #(let _ = || #expressions;)*
    }
}

fn dag_binding() -> Ident {
    Ident::new("__duraflow_dag", Span::mixed_site())
}

fn single(dag: &Ident, node: &Node) -> TokenStream {
    let Node {
        name, key, task, ..
    } = node;
    let task_span = task.span();
    // Every expression starts and ends with a token of the user's (the hygienic `dag` is
    // inside a call, never first): rustc then reports a failed bound (no key, missing
    // dependencies) on the task instead of on the whole macro.
    let builder = match key {
        Some(key) => keyed(dag, quote!(#key), task),
        None => quote_spanned!(task_span=> ::duraflow::DurableDag::task(#dag, #task)),
    };
    let handle = wired(builder, task, node.deps.as_ref());
    quote_spanned! {task_span=>
        #[allow(unused_variables)]
        let #name = #handle;
    }
}

/// A family: a loop over its items that adds and wires one member each, under the key of
/// its task's attribute or its `format!` key, and collects them into a `Family`.
fn family(dag: &Ident, node: &Node, over: &Over) -> TokenStream {
    let Node {
        name, key, task, ..
    } = node;
    let Over { var, iter } = over;
    let task_span = task.span();
    let [members, key_binding, builder] =
        ["members", "key", "builder"].map(|name| Ident::new(name, Span::mixed_site()));
    let add = match key {
        Some(format) => {
            let format = key_format(format);
            let keyed = keyed(dag, quote!(&#key_binding), task);
            quote_spanned! {task_span=>
                let #key_binding = #format;
                let #builder = #keyed;
            }
        }
        None => quote_spanned! {task_span=>
            let (#key_binding, #builder) = ::duraflow::__private::member(#dag, #task);
        },
    };
    let handle = wired(quote!(#builder), task, node.deps.as_ref());
    let items = quote_spanned!(iter.span()=> ::core::iter::IntoIterator::into_iter(#iter));
    quote_spanned! {task_span=>
        #[allow(unused_variables)]
        let #name: ::duraflow::Family<_> = {
            let mut #members = ::duraflow::Family::new();
            for #var in #items {
                #add
                ::duraflow::Family::push(&mut #members, &#key_binding, #handle);
            }
            #members
        };
    }
}

/// `name @ "key" = MERGE <- family[..]`: one `DurableDag::reduce`.
fn reduction(dag: &Ident, node: &Node, family: &Expr) -> TokenStream {
    let Node {
        name, key, task, ..
    } = node;
    let family = quote_spanned!(family.span()=> &#family);
    quote_spanned! {task.span()=>
        #[allow(unused_variables)]
        let #name = ::duraflow::DurableDag::reduce(#dag, #key, #family, #task);
    }
}

/// A family's key: its `format!` string, whose placeholders capture the variable (and any
/// other name in scope) by the literal's own span.
fn key_format(format: &LitStr) -> TokenStream {
    quote_spanned!(format.span()=> ::duraflow::__private::std::format!(#format))
}

/// The node's handle: `builder` wired to `deps`, or without dependencies.
fn wired(builder: TokenStream, task: &Expr, deps: Option<&Deps>) -> TokenStream {
    match deps {
        None => quote_spanned!(task.span()=> ::duraflow::__private::handle(#builder)),
        Some(deps) => {
            let argument = deps.argument();
            quote_spanned!(deps.written.span()=> ::duraflow::__private::wire(#builder, #argument))
        }
    }
}

/// A node with an explicit key keeps its task's `#[durable]` version and options, if it has
/// them: the runtime call is picked by autoref specialization, which needs the task's
/// concrete type and so happens here rather than in a generic runtime function.
fn keyed(dag: &Ident, key: TokenStream, task: &Expr) -> TokenStream {
    quote_spanned! {task.span()=>
        {
            #[allow(unused_imports)]
            use ::duraflow::__private::{KeyedDurable as _, KeyedPlain as _};
            (&&::duraflow::__private::Keyed::new(#dag, #key, #task)).add()
        }
    }
}
