use reel_search::Document;

#[derive(Document, serde::Serialize)]
struct Asset {
    #[search(colour)]
    title: String,
}

fn main() {}
