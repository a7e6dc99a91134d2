//! Prints the index-creation body (settings + mappings) of two example models as JSON, the way
//! `PUT /<index>` receives it.
//!
//! ```sh
//! cargo run -p example-search-mapping
//! ```

use reel_search::Document;
use serde::Serialize;

/// A user embedded in an asset (an `object` field).
#[derive(Document, Serialize)]
struct Owner {
    #[search(keyword)]
    id: uuid::Uuid,
    #[search(raw)]
    name: String,
}

/// A comment on an asset (a `nested` field: queried per comment).
#[derive(Document, Serialize)]
struct Comment {
    #[search(keyword)]
    author: String,
    body: String,
    posted_at: chrono::DateTime<chrono::Utc>,
}

/// A media asset as the search index sees it.
#[derive(Document, Serialize)]
#[search(
    index = "assets",
    shards = 3,
    replicas = 1,
    dynamic = "strict",
    analysis = r#"{"analyzer": {"folded": {"type": "custom", "tokenizer": "standard", "filter": ["lowercase", "asciifolding"]}}}"#
)]
struct Asset {
    #[search(id, keyword)]
    id: uuid::Uuid,
    #[search(raw, analyzer = "folded")]
    title: String,
    #[search(keyword)]
    kind: String,
    duration_seconds: Option<f32>,
    size_bytes: u64,
    tags: Vec<String>,
    #[search(index = false)]
    thumbnail_url: String,
    uploaded_from: std::net::IpAddr,
    created_at: chrono::DateTime<chrono::Utc>,
    #[search(object)]
    owner: Owner,
    #[search(nested)]
    comments: Vec<Comment>,
    #[search(skip)]
    #[serde(skip)]
    _cache_key: String,
}

/// A project: the index name defaults to the snake_case type name.
#[derive(Document, Serialize)]
struct Project {
    #[search(id)]
    id: i64,
    #[serde(rename = "name")]
    #[search(raw)]
    display_name: String,
    archived: bool,
    metadata: serde_json::Value,
}

fn print<D: Document>() -> Result<(), serde_json::Error> {
    let definition = D::definition();
    println!("PUT /{}", definition.name());
    println!("{}", serde_json::to_string_pretty(&definition.body())?);
    println!();
    Ok(())
}

fn main() -> Result<(), serde_json::Error> {
    clap::Command::new("example-search-mapping")
        .about(
            "Prints the index-creation body (settings + mappings) that reel-search derives \
for two example models, as `PUT /<index>` receives it, and a few typed field paths. Needs no \
server.",
        )
        .get_matches();
    print::<Asset>()?;
    print::<Project>()?;
    let f = Asset::fields();
    println!(
        "typed paths: {}, {}, {}",
        f.title_raw(),
        f.owner().name(),
        f.comments().author()
    );
    Ok(())
}
