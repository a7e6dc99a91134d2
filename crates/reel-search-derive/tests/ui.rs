//! The compile errors `#[derive(Document)]` promises, each a `tests/ui/*.rs` file with its expected
//! message in the `.stderr` file beside it (trybuild; `TRYBUILD=overwrite` rewrites them after
//! a deliberate change to a message).

#[test]
fn compile_errors_say_what_to_write_instead() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
