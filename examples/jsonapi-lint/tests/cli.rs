//! Runs the `jsonapi-lint` binary on documents through stdin.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};

fn lint(args: &[&str], input: &str) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_jsonapi-lint"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A usage error exits before reading stdin; a broken pipe is then expected.
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
    )
}

#[test]
fn valid_documents_print_ok() {
    assert_eq!(
        lint(&[], r#"{"data":{"type":"people","id":"1"}}"#),
        (0, "ok\n".into())
    );
    assert_eq!(
        lint(
            &["--as", "create"],
            r#"{"data":{"type":"people","attributes":{"name":"Ada"}}}"#
        ),
        (0, "ok\n".into())
    );
    assert_eq!(
        lint(
            &["--as=relationship"],
            r#"{"data":[{"type":"tags","id":"1"}]}"#
        ),
        (0, "ok\n".into())
    );
}

#[test]
fn violations_print_pointer_and_message() {
    let (code, out) = lint(
        &["--as", "response"],
        r#"{"data":{"type":"people"},"errors":[],"included":[{"type":"x","id":"1","bad+name":1}]}"#,
    );
    assert_eq!(code, 1);
    let pointers: Vec<&str> = out.lines().map(|l| l.split('\t').next().unwrap()).collect();
    assert!(pointers.contains(&"/errors"), "{out}");
    assert!(pointers.contains(&"/data"), "{out}");
    assert!(pointers.contains(&"/included/0/bad+name"), "{out}");
    assert!(
        out.lines()
            .all(|l| l.split('\t').count() == 2 && !l.ends_with('\t')),
        "{out}"
    );

    let (code, out) = lint(&["--as", "update"], r#"{"data":{"type":"people"}}"#);
    assert_eq!(
        (code, out.as_str()),
        (1, "/data\ta resource object must contain `id`\n")
    );
    let (code, out) = lint(&[], "{not json");
    assert_eq!(code, 1);
    assert!(
        out.starts_with('\t'),
        "malformed JSON points at the whole document: {out}"
    );
}

#[test]
fn atomic_operations_documents_are_linted() {
    let operations = r#"{"atomic:operations":[{"op":"add","data":{"type":"people","lid":"a","attributes":{"name":"Ada"}}},{"op":"update","ref":{"type":"people","lid":"a","relationship":"boss"},"data":null}]}"#;
    assert_eq!(lint(&["--as", "atomic"], operations), (0, "ok\n".into()));
    // As a plain request it has no `data`.
    assert_eq!(lint(&["--as", "request"], operations).0, 1);
    let (code, out) = lint(
        &["--as", "atomic"],
        r#"{"atomic:operations":[{"op":"move"}]}"#,
    );
    assert_eq!(code, 1);
    assert!(out.starts_with("/atomic:operations/0/op\t"), "{out}");
    assert_eq!(
        lint(
            &["--as", "atomic-results"],
            r#"{"atomic:results":[{},{"data":{"type":"people","id":"1"}}]}"#
        ),
        (0, "ok\n".into())
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(lint(&["--as", "patch"], "{}").0, 2);
    assert_eq!(lint(&["--bogus"], "{}").0, 2);
}

#[test]
fn help_exits_zero() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_jsonapi-lint"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("jsonapi-lint"),
        "{output:?}"
    );
}
