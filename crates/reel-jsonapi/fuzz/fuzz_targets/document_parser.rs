//! Feeds arbitrary bytes to the untyped document parser and validator, for every document kind.
//! Invariants (in `checks.rs`): nothing panics, and a document accepted once is accepted again
//! after a round trip through the owned model.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod checks;

fuzz_target!(|data: &[u8]| checks::document_parser(data));
