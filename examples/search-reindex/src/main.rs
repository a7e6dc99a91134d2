//! Reindexes a PostgreSQL table into the search server with a progress bar.
//!
//! ```sh
//! # a table to index (10k rows)
//! psql postgres://postgres@127.0.0.1:5432/postgres -c "CREATE TABLE IF NOT EXISTS articles AS
//!   SELECT g::bigint AS id, 'article ' || g AS title, (ARRAY['news','blog'])[g % 2 + 1] AS section
//!   FROM generate_series(1, 10000) g"
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//! SEARCH_URL=http://127.0.0.1:9200 cargo run -p example-search-reindex
//! ```
//!
//! Rows are read with keyset pagination on `id` and streamed through the indexer into a fresh
//! versioned index (`articles_v<n>`); the `articles` alias moves to it in one atomic call once
//! it is complete, so searches never see a half-built index.

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use reel_search::{Document, KeysetSource, Outcome, Repo, VersionedIndex};
use serde::Serialize;

/// A row of the `articles` table and its search document.
#[derive(Document, Serialize, sqlx::FromRow)]
#[search(index = "articles", shards = 1, replicas = 0)]
struct Article {
    #[search(id)]
    id: i64,
    #[search(raw)]
    title: String,
    #[search(keyword)]
    section: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let database_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let search_url = std::env::var("SEARCH_URL").unwrap_or_else(|_| "http://127.0.0.1:9200".into());

    let pool = sqlx::PgPool::connect(&database_url)
        .await
        .with_context(|| format!("connecting to {database_url}"))?;
    let (total,): (i64,) = sqlx::query_as("SELECT count(*) FROM articles")
        .fetch_one(&pool)
        .await
        .context("counting rows (does the `articles` table exist? see the docs above)")?;
    let repo = Repo::connect(&search_url)?;

    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} rows ({per_sec}) {msg}",
        )?
        .progress_chars("=> "),
    );

    // Rows stream into a fresh physical index; the alias moves to it once it is complete.
    let progress_bar = bar.clone();
    let articles = VersionedIndex::<Article>::new(repo)
        .backfill(1_000, 2)
        .on_progress(move |p| {
            progress_bar.set_position(p.indexed + p.failed + p.skipped);
            progress_bar.set_message(format!("{} failed", p.failed));
        });
    let rows = KeysetSource::table(pool, "articles", "id")?
        .page_size(5_000)
        .stream::<Article, i64>();
    match articles.migrate(rows).await {
        Ok(Outcome::Migrated {
            from, to, report, ..
        }) => {
            bar.finish_with_message(format!("{} indexed", report.indexed));
            println!("`{}` now reads {to} (previous: {from:?})", articles.alias());
        }
        Ok(other) => bar.finish_with_message(format!("{other:?}")),
        Err(error) => {
            bar.abandon_with_message("failed; reads stay on the previous index");
            return Err(error.into());
        }
    }
    Ok(())
}
