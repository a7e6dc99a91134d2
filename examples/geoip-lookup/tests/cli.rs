//! Runs the `geoip-lookup` binary against a database it generated itself.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_geoip-lookup"))
}

fn run_lookup(db: &std::path::Path, input: &str) -> (Vec<Value>, std::process::ExitStatus) {
    let mut child = bin()
        .arg("--db")
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let lines = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (lines, out.status)
}

#[test]
fn prints_one_json_object_per_line_and_goes_on_after_errors() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.mmdb");
    let status = bin().arg("--write-demo-db").arg(&db).status().unwrap();
    assert!(status.success());

    let input = "81.2.69.160\nnot-an-ip\n2001:db8:1::17\n198.51.100.1\n  2.125.160.216  \n::ffff:216.160.83.56\n";
    let (lines, status) = run_lookup(&db, input);
    assert!(status.success());
    assert_eq!(lines.len(), 6);
    assert_eq!(
        lines[0],
        json!({"ip": "81.2.69.160", "network": "81.2.69.0/24", "country": "GB", "continent": "EU",
               "subdivision": "ENG", "city": "London", "postal": "EC1A", "latitude": 51.5142,
               "longitude": -0.0931, "time_zone": "Europe/London", "registered_country": "GB",
               "represented_country": null, "metro_code": null, "traits": []})
    );
    assert_eq!(lines[1]["ip"], "not-an-ip");
    assert!(
        lines[1]["error"]
            .as_str()
            .unwrap()
            .contains("not an IP address")
    );
    assert_eq!(lines[1].as_object().unwrap().len(), 2);
    assert_eq!(lines[2]["city"], "Berlin");
    assert_eq!(lines[2]["network"], "2001:db8:1::/48");
    assert_eq!(lines[2]["subdivision"], "BE");
    // Not in the database: every field null.
    assert_eq!(
        lines[3],
        json!({"ip": "198.51.100.1", "network": null, "country": null, "continent": null,
               "subdivision": null, "city": null, "postal": null, "latitude": null,
               "longitude": null, "time_zone": null, "registered_country": null,
               "represented_country": null, "metro_code": null, "traits": []})
    );
    // Country-level record: no city, subdivision or postal code.
    assert_eq!(lines[4]["ip"], "2.125.160.216");
    assert_eq!(lines[4]["country"], "IT");
    assert_eq!(lines[4]["city"], Value::Null);
    assert_eq!(lines[4]["subdivision"], Value::Null);
    assert_eq!(lines[4]["postal"], Value::Null);
    // IPv4-mapped IPv6 answers with the IPv4 record.
    assert_eq!(lines[5]["city"], "Milton");
    assert_eq!(lines[5]["network"], "216.160.83.0/24");
}

#[test]
fn refuses_a_file_that_is_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("broken.mmdb");
    std::fs::write(&db, b"garbage").unwrap();
    let out = bin()
        .arg("--db")
        .arg(&db)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid MaxMind database"));
    let out = bin().output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn locale_picks_the_city_name_language() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.mmdb");
    assert!(
        bin()
            .arg("--write-demo-db")
            .arg(&db)
            .status()
            .unwrap()
            .success()
    );
    let out = bin()
        .arg("--db")
        .arg(&db)
        .args(["--locale", "de-AT"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = out;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"2001:db8:1::17\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["city"], "Berlin");
    assert_eq!(line["country"], "DE");
}

#[test]
fn help_exits_zero() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_geoip-lookup"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("geoip-lookup"),
        "{output:?}"
    );
}
