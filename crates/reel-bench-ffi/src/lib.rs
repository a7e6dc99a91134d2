//! Bench- and test-only bindings to the C libraries reel is compared against.
//!
//! Benchmarks put reel side by side with what a user would otherwise pick, and some of those
//! are C libraries: libmemcached's ketama placement (reel-herd) and libmaxminddb's lookups
//! (reel-geoip). This crate wraps just the calls those comparisons need, behind one feature
//! per library, in safe functions. It is never published.
//!
//! Unsafe code is denied crate-wide and allowed only on each FFI call, with a `// SAFETY:`
//! comment saying why the call is sound.

#[cfg(feature = "libmemcached")]
pub mod libmemcached;

#[cfg(feature = "libmaxminddb")]
pub mod libmaxminddb;
