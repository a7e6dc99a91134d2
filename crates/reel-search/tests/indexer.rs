//! The streaming indexer: PostgreSQL rows and plain streams into the search server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::StreamExt;
use reel_search::{Document, Indexer, KeysetSource, Query};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

#[derive(Document, Serialize, Deserialize, sqlx::FromRow, Clone, Debug)]
#[search(index = "items", shards = 1, replicas = 0, dynamic = "strict")]
struct Item {
    #[search(id)]
    id: i64,
    title: String,
    #[search(keyword)]
    kind: String,
    views: i64,
    owner_id: i32,
    #[sqlx(skip)]
    #[search(keyword)]
    owner_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

struct Ctx {
    pool: PgPool,
    preloads: AtomicUsize,
}

/// Rows streamed: 100k against a real Elasticsearch (`REEL_ES_URL`); osmem-server ingests
/// a few hundred documents/s on the shared 2-core machine, so it gets 10k unless
/// `REEL_SEARCH_INDEXER_ROWS` says otherwise.
fn rows(server: &reel_testkit::Search) -> i64 {
    std::env::var("REEL_SEARCH_INDEXER_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if server.is_external() {
            100_000
        } else {
            10_000
        })
}

/// Every FAIL_EVERY-th row has a `note`, which the index's strict mapping rejects.
const FAIL_EVERY: i64 = 2_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_a_postgres_table_with_keyset_pages_preload_and_failures() {
    let server = common::search_server();
    let rows_total = rows(&server);
    let expected_failed: Vec<String> = (1..=rows_total)
        .filter(|g| g % FAIL_EVERY == 0)
        .map(|g| g.to_string())
        .collect();
    let failures = expected_failed.len() as u64;
    let pg = reel_testkit::Postgres::start().unwrap();
    pg.execute(&format!(
        "CREATE TABLE owners (id int PRIMARY KEY, name text NOT NULL);
         INSERT INTO owners SELECT g, 'owner ' || g FROM generate_series(0, 99) g;
         CREATE TABLE items (id bigint PRIMARY KEY, title text NOT NULL, kind text NOT NULL,
                             views bigint NOT NULL, owner_id int NOT NULL, note text);
         INSERT INTO items SELECT g, 'item ' || g, (ARRAY['video','image','audio'])[g % 3 + 1], g * 2, g % 100,
                CASE WHEN g % {FAIL_EVERY} = 0 THEN 'not in the mapping' END
           FROM generate_series(1, {rows_total}) g;"
    ))
    .unwrap();
    let pool = PgPool::connect(pg.url()).await.unwrap();

    let repo = common::repo(&server);
    let index = server.index("items");
    // The index leaves `note` out of its strict mapping, so the rows with a note fail.
    let mut def = Item::definition();
    let mut props = def.mappings()["properties"].clone();
    props.as_object_mut().unwrap().remove("note");
    def = reel_search::IndexDefinition::new(
        def.name(),
        serde_json::Value::Object(def.settings().clone()),
        serde_json::json!({"dynamic": "strict", "properties": props}),
    );
    common::record("indexer", "create_index", &def.body());
    repo.create_index(&index, &def).await.unwrap();

    let source = KeysetSource::table(pool.clone(), "items", "id")
        .unwrap()
        .page_size(7_000);
    let (first, next) = source.sql();
    assert!(!first.to_uppercase().contains("OFFSET") && next.contains("id > $1"));
    let rows = source.stream::<Item, i64>();

    let ctx = Ctx {
        pool: pool.clone(),
        preloads: AtomicUsize::new(0),
    };
    let indexer = Indexer::new(repo.clone(), index.clone())
        .batch_size(2_500)
        .batch_bytes(128 * 1024)
        .concurrency(3)
        .preload(ctx, |ctx: Arc<Ctx>, mut batch: Vec<Item>| async move {
            ctx.preloads.fetch_add(1, Ordering::Relaxed);
            let ids: Vec<i32> = batch.iter().map(|i| i.owner_id).collect();
            let owners: Vec<(i32, String)> =
                sqlx::query_as("SELECT id, name FROM owners WHERE id = ANY($1)")
                    .bind(&ids)
                    .fetch_all(&ctx.pool)
                    .await?;
            let owners: std::collections::HashMap<i32, String> = owners.into_iter().collect();
            for item in &mut batch {
                item.owner_name = owners.get(&item.owner_id).cloned();
            }
            Ok::<_, sqlx::Error>(batch)
        });
    let progress = tokio::spawn(indexer.progress().collect::<Vec<_>>());
    let report = indexer.run(rows).await.unwrap();

    assert_eq!(report.read, rows_total as u64);
    assert_eq!(report.indexed, rows_total as u64 - failures);
    let mut failed: Vec<String> = report.failed.iter().map(|f| f.id.clone()).collect();
    failed.sort_by_key(|id| id.parse::<i64>().unwrap());
    assert_eq!(failed, expected_failed);
    assert!(
        report
            .failed
            .iter()
            .all(|f| f.status == 400 && f.kind.contains("strict"))
    );
    // Batches of 2,500 rows, each split into several requests of at most 128 KiB.
    assert!(
        report.batches as i64 > rows_total / 2_500,
        "{}",
        report.batches
    );

    let events = progress.await.unwrap();
    let last = events.last().unwrap();
    assert!(last.done);
    assert_eq!(
        (last.read, last.indexed, last.failed),
        (rows_total as u64, rows_total as u64 - failures, failures)
    );
    assert!(events.windows(2).all(|w| w[0].indexed <= w[1].indexed));

    repo.refresh(&index).await.unwrap();
    assert_eq!(
        repo.count(&index, None).await.unwrap(),
        rows_total as u64 - failures
    );
    let owned = repo
        .count(&index, Some(Query::term("owner_name", "owner 7").into()))
        .await
        .unwrap();
    assert_eq!(owned, rows_total as u64 / 100);
}

#[tokio::test]
async fn a_source_error_stops_the_run_with_a_clear_error() {
    let server = common::search_server();
    let repo = common::repo(&server);
    let index = server.index("broken");
    repo.create_index(&index, &Item::definition())
        .await
        .unwrap();
    let items = (0..25).map(|i| {
        if i == 20 {
            Err(std::io::Error::other("disk on fire"))
        } else {
            Ok(Item {
                id: i,
                title: format!("t{i}"),
                kind: "video".into(),
                views: i,
                owner_id: 0,
                owner_name: None,
                note: None,
            })
        }
    });
    let err = Indexer::new(repo.clone(), index.clone())
        .batch_size(10)
        .concurrency(1)
        .run(futures::stream::iter(items))
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("source stream") && message.contains("disk on fire"),
        "{message}"
    );
    repo.refresh(&index).await.unwrap();
    // The two full batches before the error were sent.
    assert_eq!(repo.count(&index, None).await.unwrap(), 20);
}
