//! `--help` answers with a description and exits 0, before doing anything else: no server is
//! contacted and no file is written (the working directory stays empty).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[test]
fn help_exits_zero_without_side_effects() {
    let dir = std::env::temp_dir().join(format!("herd-route-help-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_herd-route"))
        .arg("--help")
        .current_dir(&dir)
        // Backends that would be contacted if --help were ignored: nothing listens here.
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")
        .env("SEARCH_URL", "http://127.0.0.1:1")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("usage"), "{help}");
    assert!(output.stderr.is_empty(), "{output:?}");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "--help wrote files"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
