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

fn main() {
    if memory::child_main() {
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
    println!("test indexer_memory_bounded ... ok");
}
