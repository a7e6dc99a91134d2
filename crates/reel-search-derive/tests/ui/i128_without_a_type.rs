use reel_search::Document;

#[derive(Document, serde::Serialize)]
struct Ledger {
    total: i128,
}

fn main() {}
