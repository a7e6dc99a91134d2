//! Zero-downtime migrations: versioned indices behind a read alias.

/// The `_meta` key holding the definition's fingerprint.
pub const FINGERPRINT_META: &str = "reel_fingerprint";
