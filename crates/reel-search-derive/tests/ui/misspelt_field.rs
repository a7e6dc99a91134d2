use reel_search::Document;

#[derive(Document, serde::Serialize)]
struct Asset {
    title: String,
}

fn main() {
    let _ = Asset::fields().titel();
}
