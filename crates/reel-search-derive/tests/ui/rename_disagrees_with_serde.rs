use reel_search::Document;

#[derive(Document, serde::Serialize)]
struct Asset {
    #[search(rename = "heading")]
    title: String,
}

fn main() {}
