//! HTTP integration.
