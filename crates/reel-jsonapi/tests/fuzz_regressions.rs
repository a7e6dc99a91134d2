//! Replays every input the fuzzers kept (`fuzz/regressions/`) through both fuzz targets'
//! invariants, so a fixed crash stays fixed without cargo-fuzz.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::result_large_err)]

#[path = "../fuzz/fuzz_targets/checks.rs"]
mod checks;

#[test]
fn kept_crash_inputs_pass_every_target() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        checks::document_parser(&data);
        checks::typed_reader(&data);
        count += 1;
    }
    assert!(count >= 2, "the kept inputs are in {}", dir.display());
}

#[test]
fn the_typed_reader_survives_cycles_and_self_references() {
    for input in [
        r#"{"data":{"type":"nodes","id":"1","relationships":{"next":{"data":{"type":"nodes","id":"1"}},"children":{"data":[{"type":"nodes","id":"1"},{"type":"nodes","id":"2"}]}}},"included":[{"type":"nodes","id":"2","relationships":{"next":{"data":{"type":"nodes","id":"1"}},"children":{"data":[{"type":"nodes","id":"2"}]}}}]}"#,
        r#"{"atomic:operations":[{"op":"add","data":{"type":"nodes","lid":"x"}},{"op":"update","ref":{"type":"nodes","lid":"x","relationship":"next"},"data":{"type":"nodes","lid":"x"}},{"op":"remove","ref":{"type":"nodes","lid":"x"}}]}"#,
        r#"{"atomic:results":[{},{"data":{"type":"nodes","id":"1"}},{"data":null}]}"#,
    ] {
        checks::typed_reader(input.as_bytes());
        checks::document_parser(input.as_bytes());
    }
}
