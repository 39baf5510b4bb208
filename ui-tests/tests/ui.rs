//! One case per compile error `#[durable]` and `durable_dag!` can emit, plus cases that
//! must compile and run. Regenerate the `.stderr` files with `TRYBUILD=overwrite` and read
//! the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/durable/*.rs");
    t.compile_fail("tests/ui/dag/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
