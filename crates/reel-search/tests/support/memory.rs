//! Peak-memory and throughput harness of the streaming indexer, shared by
//! `tests/indexer_memory.rs` and `benches/index_memory.rs`.
//!
//! Each measurement runs in a FRESH CHILD PROCESS (this same executable, re-run with
//! `REEL_MEM_CHILD` set) so that every peak RSS (`VmHWM` in `/proc/self/status`) is independent.
//!
//! `BulkSink` is a minimal loopback HTTP endpoint that answers every `_bulk` request with an
//! all-success bulk response. It is a SINK, not a search server: it is used because
//! osmem-server ingests under 2k documents/s on this machine, far too slow for 1M documents.
//! It runs in the parent process, so the child's peak RSS is the indexer's own (plus the
//! runtime, the sqlx pool and the HTTP client).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use futures::TryStreamExt;
use reel_search::{Document, Indexer, KeysetSource, Repo};
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// The indexed row (the same shape as `benches/index_rows.rs`).
#[derive(Document, Serialize, sqlx::FromRow)]
#[search(index = "rows", shards = 1, replicas = 0)]
pub struct Row {
    #[search(id)]
    pub id: i64,
    pub title: String,
    #[search(keyword)]
    pub kind: String,
    pub views: i64,
}

/// Creates `table` with `n` rows in `pg`.
pub fn create_table(pg: &reel_testkit::Postgres, table: &str, n: u64) {
    pg.execute(&format!(
        "CREATE TABLE {table} (id bigint PRIMARY KEY, title text NOT NULL, kind text NOT NULL, views bigint NOT NULL);
         INSERT INTO {table} SELECT g, 'row ' || g || ' of the memory benchmark', (ARRAY['video','image','audio'])[g % 3 + 1], g * 2
           FROM generate_series(1, {n}) g;"
    ))
    .unwrap();
}

/// A loopback `_bulk` sink (see the module docs); counts the documents it acknowledged.
pub struct BulkSink {
    url: String,
    docs: Arc<AtomicU64>,
}

impl BulkSink {
    /// Starts the sink on its own thread and runtime.
    pub fn start() -> Self {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", std_listener.local_addr().unwrap());
        let docs = Arc::new(AtomicU64::new(0));
        let counter = docs.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).unwrap();
                while let Ok((socket, _)) = listener.accept().await {
                    tokio::spawn(serve(socket, counter.clone()));
                }
            });
        });
        Self { url, docs }
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Documents acknowledged so far.
    pub fn docs(&self) -> u64 {
        self.docs.load(Ordering::Relaxed)
    }
}

/// Serves keep-alive HTTP/1.1 requests with a `Content-Length` body.
async fn serve(socket: tokio::net::TcpStream, docs: Arc<AtomicU64>) {
    let _ = socket.set_nodelay(true);
    let (read, mut write) = socket.into_split();
    let mut reader = BufReader::new(read);
    let mut line = String::new();
    let mut body = Vec::new();
    loop {
        let mut path = String::new();
        let mut length = 0usize;
        loop {
            line.clear();
            match reader.read_line(&mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                if path.is_empty() {
                    continue;
                }
                break;
            }
            if path.is_empty() {
                path = trimmed.split(' ').nth(1).unwrap_or("").to_owned();
            } else if let Some((name, value)) = trimmed.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        body.clear();
        body.resize(length, 0);
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        let reply = if path.contains("_bulk") {
            // Index/create operations: an action line and a document line each.
            let lines = body
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .count();
            let ops = lines / 2;
            docs.fetch_add(ops as u64, Ordering::Relaxed);
            let mut json = String::with_capacity(32 + ops * 28);
            json.push_str(r#"{"took":0,"errors":false,"items":["#);
            for i in 0..ops {
                if i > 0 {
                    json.push(',');
                }
                json.push_str(r#"{"index":{"status":201}}"#);
            }
            json.push_str("]}");
            json
        } else {
            "{}".to_owned()
        };
        // One write: a head and a body in two segments would meet the client's delayed ACK
        // (Nagle), adding tens of milliseconds per request that are not the indexer's.
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{reply}",
            reply.len()
        );
        if write.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// What a child run measured.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// Rows indexed (or streamed, for the raw sqlx run).
    pub rows: u64,
    /// Wall time of the run in seconds.
    pub secs: f64,
    /// Peak resident set size of the child, in KiB (`VmHWM`).
    pub peak_kib: u64,
}

impl Measured {
    /// Rows per second.
    pub fn rate(&self) -> f64 {
        self.rows as f64 / self.secs
    }
}

/// How a child run gets its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// KeysetSource → Indexer → `_bulk` at the given URL.
    Indexer,
    /// `sqlx::query_as(..).fetch` of the same rows, nothing indexed.
    RawSqlx,
    /// `KeysetSource` pages of the same rows, nothing indexed (where the indexer's time goes).
    Keyset,
}

/// Runs one measurement in a fresh child process (this executable with `REEL_MEM_CHILD`).
pub fn measure_in_child(
    mode: Mode,
    db_url: &str,
    table: &str,
    search_url: &str,
    index: &str,
) -> Measured {
    let exe = std::env::current_exe().unwrap();
    let output = Command::new(exe)
        .env(
            "REEL_MEM_CHILD",
            match mode {
                Mode::Indexer => "indexer",
                Mode::RawSqlx => "raw",
                Mode::Keyset => "keyset",
            },
        )
        .env("REEL_MEM_DB", db_url)
        .env("REEL_MEM_TABLE", table)
        .env("REEL_MEM_SEARCH", search_url)
        .env("REEL_MEM_INDEX", index)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child run failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("REEL_MEM_RESULT "))
        .unwrap_or_else(|| panic!("no result line in the child's output: {stdout}"));
    let mut fields = line.split(' ');
    let mut next = || fields.next().unwrap().to_owned();
    Measured {
        rows: next().parse().unwrap(),
        secs: next().parse().unwrap(),
        peak_kib: next().parse().unwrap(),
    }
}

/// If this process is a child run, performs it, prints the result line and returns true.
pub fn child_main() -> bool {
    let Ok(mode) = std::env::var("REEL_MEM_CHILD") else {
        return false;
    };
    let var = |name: &str| std::env::var(name).unwrap();
    let (db, table, search, index) = (
        var("REEL_MEM_DB"),
        var("REEL_MEM_TABLE"),
        var("REEL_MEM_SEARCH"),
        var("REEL_MEM_INDEX"),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (rows, secs) = rt.block_on(async {
        let pool = sqlx::PgPool::connect(&db).await.unwrap();
        let start = Instant::now();
        let rows = if mode == "raw" {
            sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(format!(
                "SELECT id, title, kind, views FROM {table} ORDER BY id"
            )))
            .fetch(&pool)
            .try_fold(0u64, |n, _| async move { Ok(n + 1) })
            .await
            .unwrap()
        } else if mode == "keyset" {
            KeysetSource::table(pool.clone(), &table, "id")
                .unwrap()
                .page_size(5_000)
                .stream::<Row, i64>()
                .try_fold(0u64, |n, _| async move { Ok(n + 1) })
                .await
                .unwrap()
        } else {
            let repo = Repo::from_url(&search).unwrap();
            let source = KeysetSource::table(pool.clone(), &table, "id")
                .unwrap()
                .page_size(5_000)
                .stream::<Row, i64>();
            let report = Indexer::new(repo, index)
                .batch_size(1_000)
                .concurrency(2)
                .run(source)
                .await
                .unwrap();
            assert!(
                report.is_complete(),
                "failed items: {:?}",
                report.failed.first()
            );
            report.indexed
        };
        (rows, start.elapsed().as_secs_f64())
    });
    drop(rt);
    println!("REEL_MEM_RESULT {rows} {secs} {}", peak_rss_kib());
    true
}

/// `VmHWM` of this process in KiB.
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}
