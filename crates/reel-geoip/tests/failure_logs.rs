//! A failed load says what a client sees: with a database loaded it keeps serving, without one
//! lookups find nothing until a load succeeds. The old wording promised a database that was
//! not there.
//!
//! Its own test binary: it installs a global tracing subscriber that records every log line.
#![cfg(feature = "testdata")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use reel_geoip::testdata::CityDatabase;
use reel_geoip::{GeoIp, Slot};

#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn take(&self) -> String {
        String::from_utf8(std::mem::take(&mut *self.0.lock().unwrap())).unwrap()
    }
}

#[test]
fn a_failed_load_says_whether_a_database_keeps_serving() {
    let logs = Logs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();
    let geoip = GeoIp::new();

    assert!(
        geoip
            .replace(&Slot::Location, b"garbage".to_vec(), "demo")
            .is_err()
    );
    let empty = logs.take();
    assert!(empty.contains("has no database yet"), "{empty}");
    assert!(!empty.contains("keeps serving"), "{empty}");

    let db = CityDatabase::new().build().unwrap();
    geoip.replace(&Slot::Location, db, "demo").unwrap();
    assert!(
        geoip
            .replace(&Slot::Location, b"garbage".to_vec(), "demo")
            .is_err()
    );
    let loaded = logs.take();
    assert!(loaded.contains("keeps serving"), "{loaded}");
}
