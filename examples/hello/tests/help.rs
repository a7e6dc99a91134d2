//! `--help` answers with a description and exits 0, before doing anything else: no server is
//! contacted and no file is written.

#[test]
fn help_exits_zero_without_side_effects() {
    reel_testkit::cli::assert_help_without_side_effects(
        env!("CARGO_BIN_EXE_example-hello"),
        "reel-core",
    );
}
