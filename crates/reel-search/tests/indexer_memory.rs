//! The streaming indexer's memory stays bounded whatever the table size: 20k and 200k
//! PostgreSQL rows are indexed, each in a fresh child process, into a loopback `_bulk` SINK
//! (see `support/memory.rs`: osmem-server is too slow for this many documents here), and the
//! two peak RSS figures must differ by less than 20%.
//!
//! `harness = false`: `main` is both the parent check and, with `REEL_MEM_CHILD` set, the child.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

#[path = "support/memory.rs"]
mod memory;

use memory::{BulkSink, Mode, measure_in_child};

const TEST_NAME: &str = "indexer_memory_bounded";

fn main() {
    if memory::child_main() {
        return;
    }
    // Speak enough of libtest's command line for cargo test and cargo nextest: `--list` names
    // the one test (nextest lists before it runs), `--ignored` lists none, and a filter that
    // does not match this test runs nothing.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        if !args.iter().any(|a| a == "--ignored") {
            println!("{TEST_NAME}: test");
        }
        return;
    }
    let exact = args.iter().any(|a| a == "--exact");
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let selected = filters.is_empty()
        || filters.iter().any(|f| {
            if exact {
                f.as_str() == TEST_NAME
            } else {
                TEST_NAME.contains(f.as_str())
            }
        });
    if !selected || args.iter().any(|a| a == "--ignored") {
        println!("running 0 tests");
        return;
    }
    let pg = reel_testkit::Postgres::start().unwrap();
    memory::create_table(&pg, "small", 20_000);
    memory::create_table(&pg, "large", 200_000);
    let sink = BulkSink::start();
    let small = measure_in_child(Mode::Indexer, pg.url(), "small", sink.url(), "rows");
    let large = measure_in_child(Mode::Indexer, pg.url(), "large", sink.url(), "rows");
    println!(
        "indexer peak RSS: 20k rows {} KiB ({:.0} rows/s), 200k rows {} KiB ({:.0} rows/s)",
        small.peak_kib,
        small.rate(),
        large.peak_kib,
        large.rate()
    );
    assert_eq!(small.rows, 20_000);
    assert_eq!(large.rows, 200_000);
    assert_eq!(sink.docs(), 220_000, "the sink saw every document");
    let growth = large.peak_kib as f64 / small.peak_kib as f64;
    assert!(
        growth < 1.20,
        "peak RSS grew {:.1}% from 20k to 200k rows ({} → {} KiB): memory is not bounded",
        (growth - 1.0) * 100.0,
        small.peak_kib,
        large.peak_kib
    );
    println!("test {TEST_NAME} ... ok");
}
