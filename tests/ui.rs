//! Compile-time behaviour of the macros: every supported shape compiles, every misuse is one
//! clear error at the offending token.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/*.rs");
}
