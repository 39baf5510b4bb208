//! Generates the `let` statements of a checked `durable_dag!`.

use super::parse::{DagInput, Node};
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::Ident;

/// One `let` per node, in `order`, after binding the DurableDag once. Each call is spanned
/// on the user's tokens, so a task without a key or dependencies that do not fit `run` are
/// reported on that node.
pub(crate) fn dag(input: &DagInput, order: &[usize]) -> TokenStream {
    let dag = dag_binding();
    let expr = &input.dag;
    let header = quote_spanned! {expr.span()=>
        let #dag: &::duraflow::DurableDag<'_> = &(#expr);
    };
    let nodes = order.iter().map(|&i| node(&dag, &input.nodes[i]));
    quote! {
        #header
        #(#nodes)*
    }
}

/// Where the macro found errors: the errors, a binding for each node name, and the nodes'
/// `expressions` inside closures that never run. The code after the macro then still finds
/// the nodes, and what only the macro used (a task type, a handle) still counts as used, so
/// the errors come alone.
pub(crate) fn fallback(
    names: &[Ident],
    expressions: &[TokenStream],
    error: &syn::Error,
) -> TokenStream {
    let error = error.to_compile_error();
    quote! {
        #error
        #(
            #[allow(unused_variables)]
            let #names: ::duraflow::__private::dagx::TaskHandle<_> =
                ::core::option::Option::None.unwrap();
        )*
        #(let _ = || #expressions;)*
    }
}

fn dag_binding() -> Ident {
    Ident::new("__duraflow_dag", Span::mixed_site())
}

fn node(dag: &Ident, node: &Node) -> TokenStream {
    let Node {
        name,
        key,
        task,
        deps,
    } = node;
    let task_span = task.span();
    // Every expression starts and ends with a token of the user's (the hygienic `dag` is
    // inside a call, never first): rustc then reports a failed bound (no key, missing
    // dependencies) on the task instead of on the whole macro.
    let builder = match key {
        Some(key) => keyed(dag, key, task),
        None => quote_spanned!(task_span=> ::duraflow::DurableDag::task(#dag, #task)),
    };
    let handle = match deps {
        None => quote_spanned!(task_span=> ::duraflow::__private::handle(#builder)),
        Some(deps) => {
            let argument = deps.argument();
            quote_spanned!(deps.written.span()=> ::duraflow::__private::wire(#builder, #argument))
        }
    };
    quote_spanned! {task_span=>
        #[allow(unused_variables)]
        let #name = #handle;
    }
}

/// A node with an explicit key keeps its task's `#[durable]` version and options, if it has
/// them: the runtime call is picked by autoref specialization, which needs the task's
/// concrete type and so happens here rather than in a generic runtime function.
fn keyed(dag: &Ident, key: &syn::LitStr, task: &syn::Expr) -> TokenStream {
    quote_spanned! {task.span()=>
        {
            #[allow(unused_imports)]
            use ::duraflow::__private::{KeyedDurable as _, KeyedPlain as _};
            (&&::duraflow::__private::Keyed::new(#dag, #key, #task)).add()
        }
    }
}
