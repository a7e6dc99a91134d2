use reel_search::Document;

#[derive(Document, serde::Serialize)]
#[search(index = "assets", colour = "red")]
struct Asset {
    title: String,
}

fn main() {}
