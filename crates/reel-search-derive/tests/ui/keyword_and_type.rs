use reel_search::Document;

#[derive(Document, serde::Serialize)]
struct Asset {
    #[search(keyword, type = "text")]
    title: String,
}

fn main() {}
