//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use reel_geoip::{GeoIp, ReloadEvent, ReloadOutcome, Slot};
use tokio::sync::broadcast::Receiver;

/// Waits (up to 20 s) for an event matching `want`; panics with what was seen otherwise.
pub(crate) async fn wait_for(
    events: &mut Receiver<ReloadEvent>,
    what: &str,
    want: impl Fn(&ReloadOutcome) -> bool,
) -> ReloadEvent {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(event)) => {
                if want(&event.outcome) {
                    return event;
                }
                seen.push(event);
            }
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(e)) => panic!("event channel closed: {e}"),
            Err(_) => panic!("timed out waiting for {what}; saw {seen:#?}"),
        }
    }
}

pub(crate) fn is_loaded(o: &ReloadOutcome) -> bool {
    matches!(o, ReloadOutcome::Loaded(_))
}

pub(crate) fn is_failed(o: &ReloadOutcome) -> bool {
    matches!(o, ReloadOutcome::Failed(_))
}

pub(crate) fn is_unchanged(o: &ReloadOutcome) -> bool {
    matches!(o, ReloadOutcome::Unchanged)
}

/// The version the location slot serves, read from the London record.
pub(crate) fn served_version(geoip: &GeoIp) -> Option<u16> {
    assert!(geoip.is_loaded(&Slot::Location));
    geoip
        .location(reel_geoip::testdata::SAMPLE_V4.parse().unwrap())
        .unwrap()
        .and_then(|l| l.accuracy_radius)
}
pub(crate) mod maxmind_standin;
