use reel_search::Document;

#[derive(Document, serde::Serialize)]
struct Extra {
    note: String,
}

#[derive(Document, serde::Serialize)]
struct Asset {
    title: String,
    #[serde(flatten)]
    extra: Extra,
}

fn main() {}
