use reel_search::Document;

#[derive(Document, serde::Serialize)]
struct Folder {
    name: String,
    #[search(object)]
    children: Vec<Folder>,
}

fn main() {}
