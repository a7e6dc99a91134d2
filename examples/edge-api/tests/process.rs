//! The edge-api binary as an operator runs it: `--help`, logs on stderr without colours when
//! redirected, the port bound before any backend side effect, and a graceful stop on SIGTERM
//! that finishes the request in flight.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_example-edge-api");

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("edge-api-process-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A command with no `REEL_*` variables from the environment the tests run in.
fn edge_api() -> Command {
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars() {
        if name.starts_with("REEL_") || name == "RUST_LOG" || name == "NO_COLOR" {
            command.env_remove(name);
        }
    }
    // Tests run side by side: each its own metrics port, not the default 9464.
    command.env("REEL_METRICS_ADDR", "127.0.0.1:0");
    command
}

/// Waits for `child` to exit, for at most `limit`; kills it and fails past that.
fn wait_with_deadline(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("edge-api did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn help_exits_zero_without_side_effects() {
    let data_dir = scratch_dir("help");
    let output = edge_api()
        .arg("--help")
        .env("REEL_DATA_DIR", &data_dir)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("REEL_DATABASE_URL"), "{help}");
    assert!(help.contains("SIGTERM"), "{help}");
    assert!(!data_dir.exists(), "--help must not create {data_dir:?}");
}

#[test]
fn a_taken_port_fails_before_any_backend_side_effect() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap();
    let data_dir = scratch_dir("taken");
    let output = edge_api()
        .env("REEL_LISTEN", address.to_string())
        .env("REEL_DATA_DIR", &data_dir)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen on {address}")),
        "{stderr}"
    );
    // The development key pair (written at start-up) was not created.
    assert!(
        !data_dir.exists(),
        "{data_dir:?} was created before the port was bound"
    );
}

#[test]
fn sigterm_finishes_the_request_in_flight_and_exits_cleanly() {
    let data_dir = scratch_dir("sigterm");
    let mut child = edge_api()
        .env("REEL_LISTEN", "127.0.0.1:0")
        .env("REEL_DATA_DIR", &data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let address = first
        .trim()
        .strip_prefix("edge-api listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line: {first:?}"))
        .to_owned();

    // A request in flight: headers sent with `Expect: 100-continue`; the server's
    // `100 Continue` proves the handler is reading the body. The body follows the signal.
    let body = r#"{"data":{"type":"assets","attributes":{"title":"In flight","kind":"image","fileName":"in-flight.jpg","sizeBytes":1},"relationships":{"owner":{"data":{"type":"owners","id":"1"}}}}}"#;
    let mut stream = TcpStream::connect(&address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "POST /v2/assets HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/vnd.api+json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    )
    .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 100"), "{line:?}");
    reader.read_line(&mut line).unwrap(); // the blank line ending the interim response

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // The listener closes once the signal is handled: poll for that, then send the body.
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&address).is_ok() {
        assert!(
            Instant::now() < deadline,
            "edge-api still accepts connections after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    stream.write_all(body.as_bytes()).unwrap();
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    assert!(status.starts_with("HTTP/1.1 201"), "{status:?}");
    let mut rest = String::new();
    let _ = reader.read_to_string(&mut rest);

    let exit = wait_with_deadline(&mut child, Duration::from_secs(30));
    assert!(exit.success(), "{exit:?}");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let mut more_stdout = String::new();
    stdout.read_to_string(&mut more_stdout).unwrap();
    // Logs went to stderr, without colour codes (it is not a terminal); stdout has only the
    // two lines for people.
    assert!(stderr.contains("SIGTERM"), "{stderr}");
    assert!(stderr.contains("POST"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "colour codes in {stderr:?}");
    assert!(
        !more_stdout.contains("INFO"),
        "logs on stdout: {more_stdout}"
    );
    let _ = std::fs::remove_dir_all(&data_dir);
}
