use reel_search::Document;

// serde writes `OffsetDateTime` as `[2023, 318, 22, 13, 20, 0, 0, 0, 0]`: the engine would
// index those integers as dates (2023-01-01, 0318-01-01, ..).
#[derive(Document, serde::Serialize)]
struct Event {
    at: time::OffsetDateTime,
}

fn main() {}
