//! search-reindex on a real PostgreSQL database without the `articles` table: it stops before
//! touching the search server and says how to get the table.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reel_testkit::Postgres;

#[test]
fn a_missing_table_is_explained() {
    let postgres = Postgres::start().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_example-search-reindex"))
        .args(["--database-url", postgres.url()])
        // Nothing listens here: the run must stop before it needs the search server.
        .args(["--search-url", "http://127.0.0.1:1"])
        .output()
        .unwrap();
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("`articles` does not exist"), "{stderr}");
    assert!(stderr.contains("--create-demo-table"), "{stderr}");
}
