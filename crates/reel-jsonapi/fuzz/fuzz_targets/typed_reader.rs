//! Feeds arbitrary bytes to the typed graph reader (`from_response` with `included`) and the
//! Atomic Operations reader. Invariants in `checks.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod checks;

fuzz_target!(|data: &[u8]| checks::typed_reader(data));
