use reel_search::Document;

#[derive(Document, serde::Serialize)]
struct Asset {
    #[search(id)]
    id: u64,
    #[search(id)]
    other: u64,
}

fn main() {}
