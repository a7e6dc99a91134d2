//! Reindexes a PostgreSQL table (`articles`) into the search server with a progress bar.
//!
//! ```sh
//! cargo run -p example-search-reindex -- --create-demo-table \
//!   --database-url postgres://postgres@127.0.0.1:5432/postgres --search-url http://127.0.0.1:9200
//! ```
//!
//! Rows are read with keyset pagination on `id` and streamed through the indexer into a fresh
//! versioned index (`articles_v<n>`); the `articles` alias moves to it in one atomic call once
//! it is complete, so searches never see a half-built index. It uses reel-search's `migrate`
//! (always a fresh index) rather than `ensure_current` (only when the mapping changed).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::{Arg, ArgAction};
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

/// The demo table: 10,000 articles in two sections.
const DEMO_TABLE: &str = "CREATE TABLE IF NOT EXISTS articles AS \
    SELECT g::bigint AS id, 'article ' || g AS title, (ARRAY['news','blog'])[g % 2 + 1] AS section \
    FROM generate_series(1, 10000) g";

fn command() -> clap::Command {
    clap::Command::new("example-search-reindex")
        .about(
            "Reindexes the PostgreSQL table `articles` (id bigint, title text, section text) \
into a fresh versioned search index behind the `articles` alias, with a progress bar.",
        )
        .arg(
            Arg::new("database-url")
                .long("database-url")
                .env("DATABASE_URL")
                .default_value("postgres://postgres@127.0.0.1:5432/postgres")
                .help("the PostgreSQL database holding `articles`"),
        )
        .arg(
            Arg::new("search-url")
                .long("search-url")
                .env("SEARCH_URL")
                .default_value("http://127.0.0.1:9200")
                .help("the Elasticsearch or OpenSearch URL"),
        )
        .arg(
            Arg::new("create-demo-table")
                .long("create-demo-table")
                .action(ArgAction::SetTrue)
                .help("create `articles` with 10,000 demo rows when it does not exist"),
        )
        .after_help(format!(
            "Without --create-demo-table the table must exist; the demo one is:\n  {DEMO_TABLE}"
        ))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let matches = command().get_matches();
    let arg = |name: &str| matches.get_one::<String>(name).cloned().unwrap_or_default();
    let database_url = arg("database-url");
    let search_url = arg("search-url");

    let pool = sqlx::PgPool::connect(&database_url)
        .await
        .with_context(|| format!("connecting to PostgreSQL at {database_url}"))?;
    let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass('articles')::text")
        .fetch_one(&pool)
        .await
        .context("looking for the `articles` table")?;
    if exists.is_none() {
        if matches.get_flag("create-demo-table") {
            sqlx::query(DEMO_TABLE)
                .execute(&pool)
                .await
                .context("creating the demo `articles` table")?;
            println!("created the demo table `articles` (10,000 rows)");
        } else {
            anyhow::bail!(
                "the table `articles` does not exist in {database_url}; run again with \
--create-demo-table to create 10,000 demo rows, or create it yourself (id bigint, title text, \
section text)"
            );
        }
    }
    let (total,): (i64,) = sqlx::query_as("SELECT count(*) FROM articles")
        .fetch_one(&pool)
        .await
        .context("counting the rows of `articles`")?;
    let repo = Repo::from_url(&search_url)
        .with_context(|| format!("connecting to the search server at {search_url}"))?;

    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} rows ({per_sec}) {msg}",
        )?
        .progress_chars("=> "),
    );
    // Until the first batch lands, the run waits for the migration lease: say so (a lease
    // left by an interrupted run expires after 30 s).
    bar.set_message("waiting for the migration lease on `articles` (held by another run?)");
    bar.enable_steady_tick(Duration::from_millis(200));

    // Rows stream into a fresh physical index; the alias moves to it once it is complete.
    let progress_bar = bar.clone();
    let started = Arc::new(AtomicBool::new(false));
    let articles = VersionedIndex::<Article>::new(repo)
        .backfill(1_000, 2)
        .on_progress(move |p| {
            // The rate counts from the first batch, not from the wait for the lease.
            if !started.swap(true, Ordering::Relaxed) {
                progress_bar.reset();
            }
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
            return Err(anyhow::Error::from(error)
                .context(format!("reindexing into the search server at {search_url}")));
        }
    }
    Ok(())
}
