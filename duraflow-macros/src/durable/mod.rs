//! `#[durable(key = "...", version = N, cache = inputs, retries = N, backoff = "...",
//! timeout = "...")]`: parse (`attr`, `template`, `ast`), validate
//! (`valid`), expand (`expand`).

mod ast;
mod attr;
mod expand;
mod template;
mod valid;

use crate::errors::Errors;
use proc_macro2::TokenStream;
use quote::quote;

/// Expands `#[durable(args)] item`. On any error the item is emitted unchanged next to the
/// errors (and stub impls where the signature is known), so one mistake does not cascade.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let item_impl = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Impl(item_impl)) => item_impl,
        _ => {
            let error = syn::Error::new_spanned(
                &item,
                "#[durable] goes on the impl block that holds the task's `run` method, \
                 as in `#[durable(key = \"...\")] impl Load { async fn run(&self) -> i32 { ... } }`",
            )
            .to_compile_error();
            return quote!(#item #error);
        }
    };

    let mut errors = Errors::new();
    let config = attr::parse(args, &mut errors);
    let task = ast::TaskImpl::from_syn(&item_impl)
        .map_err(|error| errors.push(error))
        .ok();
    if let Some(task) = &task {
        valid::check(task, &mut errors);
    }

    match (errors.finish(), task, &config.key) {
        (Ok(()), Some(task), Some(key)) => expand::task(&task, &config, key),
        (Err(error), task, _) => {
            let error = error.to_compile_error();
            let stubs = task
                .filter(|task| task.item.trait_.is_none())
                .map(|task| expand::stubs(&task));
            quote!(#item_impl #error #stubs)
        }
        (Ok(()), ..) => unreachable!("a missing `run` or key is always reported as an error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(args: TokenStream, item: TokenStream) -> String {
        expand(args, item).to_string()
    }

    #[test]
    fn emits_item_and_both_impls() {
        let out = expand_str(
            quote!(key = "load-{0}", version = 3),
            quote!(impl Load { async fn run(&self, x: &i32) -> i32 { self.0 + x } }),
        );
        assert!(
            out.starts_with(
                "impl Load { # [allow (clippy :: ptr_arg , clippy :: too_many_arguments)] \
                 async fn run (& self , x : & i32)"
            ),
            "{out}"
        );
        assert!(
            out.contains(":: duraflow :: __private :: dagx :: Task for Load"),
            "{out}"
        );
        assert!(out.contains("type Input = i32 ;"), "{out}");
        assert!(
            out.contains("inputs : (i32) => | (input0 ,) | input0 ;"),
            "{out}"
        );
        assert!(
            out.contains("< Self > :: run (& self , & input0) . await"),
            "{out}"
        );
        assert!(out.contains("const VERSION : u32 = 3u32 ;"), "{out}");
        assert!(out.contains("assert_persistable :: < i32 > ()"), "{out}");
        assert!(
            out.contains(":: std :: format ! (\"load-{}\" , self . 0)"),
            "{out}"
        );
        assert!(!out.contains("compile_error"), "{out}");
        assert!(out.contains("type Inputs = (i32 ,) ;"), "{out}");
        assert!(out.contains("let (input0 ,) = inputs ; input0 }"), "{out}");
        assert!(
            out.contains(
                "true && (&& :: duraflow :: __private :: Probe (& inputs . 0)) . fingerprint (fingerprint)"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                "(&& :: duraflow :: __private :: Probe (self)) . fingerprint (fingerprint)"
            ),
            "{out}"
        );
        assert!(
            out.contains("(&& :: duraflow :: __private :: Probe (self)) . try_clone ()"),
            "{out}"
        );
        // No option given: the trait's defaults, and no checks they would need.
        assert!(!out.contains("const OPTIONS"), "{out}");
        assert!(!out.contains("assert_fingerprintable"), "{out}");
        assert!(!out.contains("assert_retryable"), "{out}");
    }

    #[test]
    fn options_become_a_const_and_add_their_checks() {
        let out = expand_str(
            quote!(
                key = "k",
                cache = inputs,
                retries = 2,
                backoff = "1s",
                timeout = "250ms"
            ),
            quote!(impl Load { async fn run(&self, x: &i32, y: &Vec<u8>) -> i32 { 0 } }),
        );
        assert!(
            out.contains(
                "const OPTIONS : :: duraflow :: __private :: TaskOptions = \
                 :: duraflow :: __private :: TaskOptions :: DEFAULT \
                 . cache (:: duraflow :: __private :: Cache :: Inputs) \
                 . retries (2u32) \
                 . backoff (:: core :: time :: Duration :: new (1u64 , 0u32)) \
                 . timeout (:: core :: time :: Duration :: new (0u64 , 250000000u32)) ;"
            ),
            "{out}"
        );
        for check in [
            "assert_fingerprintable :: < Load > () ;",
            "assert_fingerprintable :: < i32 > () ;",
            "assert_fingerprintable :: < Vec < u8 > > () ;",
            "assert_retryable :: < Load > () ;",
        ] {
            assert!(out.contains(check), "{check} in {out}");
        }
        let out = expand_str(
            quote!(key = "k", cache = key, retries = 0),
            quote!(impl Load { fn run() -> i32 { 0 } }),
        );
        assert!(
            out.contains(
                "TaskOptions :: DEFAULT . cache (:: duraflow :: __private :: Cache :: Key) \
                 . retries (0u32) ;"
            ),
            "{out}"
        );
        assert!(!out.contains("assert_fingerprintable"), "{out}");
        assert!(!out.contains("assert_retryable"), "{out}");
    }

    #[test]
    fn input_shapes_follow_dagx() {
        let none = expand_str(quote!(key = "k"), quote!(impl A { fn run() -> u8 { 0 } }));
        assert!(none.contains("type Input = () ;"), "{none}");
        assert!(none.contains("< Self > :: run ()"), "{none}");
        assert!(none.contains("type Inputs = () ;"), "{none}");
        assert!(
            none.contains("-> Self :: Input { let () = inputs ; }"),
            "{none}"
        );
        assert!(
            none.contains("FingerprintSerialize as _ } ; true }"),
            "{none}"
        );
        let two = expand_str(
            quote!(key = "k"),
            quote!(impl A { fn run(&mut self, a: &u8, b: &String) -> u8 { 0 } }),
        );
        assert!(two.contains("type Input = (u8 , String) ;"), "{two}");
        assert!(two.contains("fn run (mut self ,"), "{two}");
        assert!(
            two.contains("run_blocking (move || { let (input0 , input1) = input ; < Self > :: run (& mut self , & input0 , & input1) }) . await"),
            "{two}"
        );
        assert!(two.contains("type Inputs = (u8 , String ,) ;"), "{two}");
        assert!(
            two.contains("let (input0 , input1 ,) = inputs ; (input0 , input1) }"),
            "{two}"
        );
        assert!(
            two.contains("Probe (& inputs . 0)) . fingerprint (fingerprint) && (&& :: duraflow :: __private :: Probe (& inputs . 1))"),
            "{two}"
        );
    }

    #[test]
    fn literal_key_needs_no_format() {
        let out = expand_str(
            quote!(key = "a{{b}}"),
            quote!(impl A { fn run() -> u8 { 0 } }),
        );
        assert!(
            out.contains(":: std :: string :: String :: from (\"a{{b}}\")"),
            "{out}"
        );
    }

    #[test]
    fn generics_are_kept() {
        let out = expand_str(
            quote!(key = "wrap"),
            quote!(
                impl<T: Clone> Wrap<T>
                where
                    T: Send,
                {
                    fn run(&self) -> T {
                        todo!()
                    }
                }
            ),
        );
        assert!(
            out.contains("impl < T : Clone > :: duraflow :: __private :: DurableTask for Wrap < T > where T : Send"),
            "{out}"
        );
    }

    #[test]
    fn errors_keep_the_item_and_add_stubs() {
        let out = expand_str(
            quote!(key = ""),
            quote!(impl Load { async fn run(&self, x: i32) -> i32 { x } }),
        );
        assert!(
            out.starts_with("impl Load { async fn run (& self , x : i32)"),
            "{out}"
        );
        assert_eq!(out.matches("compile_error").count(), 2, "{out}");
        assert!(out.contains("cannot be empty"), "{out}");
        assert!(out.contains("take it by reference: `&i32`"), "{out}");
        assert!(out.contains("core :: future :: pending ()"), "{out}");
        assert!(out.contains("DurableTask for Load"), "{out}");
        // `Inputs` is `()` in the stubs: a `run` with 9 inputs adds no error about tuples.
        assert!(out.contains("type Inputs = () ;"), "{out}");
        assert!(!out.contains("assert_fingerprintable"), "{out}");
    }

    #[test]
    fn option_errors_keep_the_stubs() {
        let out = expand_str(
            quote!(key = "k", cache = always, backoff = "1s"),
            quote!(impl Load { fn run(&self) -> i32 { 0 } }),
        );
        assert_eq!(out.matches("compile_error").count(), 2, "{out}");
        assert!(out.contains("expected `inputs` or `key`"), "{out}");
        assert!(
            out.contains("backoff has no effect without retries"),
            "{out}"
        );
        assert!(out.contains("DurableTask for Load"), "{out}");
        assert!(!out.contains("const OPTIONS"), "{out}");
    }

    #[test]
    fn no_run_keeps_the_item_without_stubs() {
        let out = expand_str(quote!(key = "k"), quote!(impl Load { fn go(&self) {} }));
        assert!(out.starts_with("impl Load { fn go"), "{out}");
        assert!(out.contains("needs a `run` method"), "{out}");
        assert!(!out.contains("Task for"), "{out}");
    }

    #[test]
    fn not_an_impl_block() {
        let out = expand_str(
            quote!(key = "k"),
            quote!(
                struct Load(i32);
            ),
        );
        assert!(out.starts_with("struct Load (i32) ;"), "{out}");
        assert!(out.contains("goes on the impl block"), "{out}");
    }
}
