//! The edge API with a backend down: at start-up (`REEL_START_DEGRADED`) and while it runs,
//! against real redis, PostgreSQL and search servers.
//!
//! redis is killed and restarted on its port by reel-testkit. PostgreSQL and the search server
//! are shared by every test on the machine, so they are not killed: the API reaches each
//! through [`Cut`], a loopback TCP relay this file starts and stops, which to the API is the
//! server going away (connections refused, open ones closed) and coming back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use example_edge_api::Config;
use reel_testkit::{Postgres, Redis, Search};
use serde_json::json;

mod support;

use support::{JSON_API, Reply, eventually, scratch_dir, send, start};

async fn get(http: &reqwest::Client, url: &str) -> Reply {
    send(http.get(url)).await
}

/// A loopback TCP relay to a real server that the test can cut and restore: while cut, its
/// port refuses connections and every relayed connection is closed.
struct Cut {
    port: u16,
    target: String,
    task: Option<tokio::task::JoinHandle<()>>,
    /// Connections accepted on the relay's port, in any mode: each is one attempt of the
    /// API to reach the server.
    accepted: Arc<AtomicU64>,
}

impl Cut {
    /// A relay to `target` (`host:port`), cut until [`restore`](Self::restore).
    fn new(target: &str) -> Self {
        Self {
            port: reel_testkit::free_port().unwrap(),
            target: target.to_owned(),
            task: None,
            accepted: Arc::default(),
        }
    }

    fn host_port(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn listen(&self) -> tokio::net::TcpListener {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket
            .bind(std::net::SocketAddr::from(([127, 0, 0, 1], self.port)))
            .unwrap();
        socket.listen(128).unwrap()
    }

    /// Connections the relay's port has accepted so far.
    fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }

    async fn restore(&mut self) {
        self.cut().await;
        let listener = self.listen();
        let target = self.target.clone();
        let accepted = Arc::clone(&self.accepted);
        self.task = Some(tokio::spawn(async move {
            // Dropped with the task: every relayed connection ends with it.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                accepted.fetch_add(1, Ordering::SeqCst);
                let target = target.clone();
                connections.spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                while connections.try_join_next().is_some() {}
            }
        }));
    }

    /// The server hangs, like a stopped (SIGSTOP) process or a black-holed host: every relayed
    /// connection is closed, and new ones are accepted (and counted) but never answered.
    async fn freeze(&mut self) {
        self.cut().await;
        let listener = self.listen();
        let accepted = Arc::clone(&self.accepted);
        self.task = Some(tokio::spawn(async move {
            // Held open without a word until the task is dropped.
            let mut held = Vec::new();
            loop {
                if let Ok((client, _)) = listener.accept().await {
                    accepted.fetch_add(1, Ordering::SeqCst);
                    held.push(client);
                }
            }
        }));
    }

    async fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

/// `url` with its `host:port` replaced by `host_port`.
fn through(url: &str, host_port: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (userinfo, rest) = match rest.split_once('@') {
        Some((userinfo, rest)) => (format!("{userinfo}@"), rest),
        None => (String::new(), rest),
    };
    let path = rest.find('/').map_or("", |i| &rest[i..]);
    format!("{scheme}://{userinfo}{host_port}{path}")
}

fn target_of(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    rest.split('/').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_redis_does_not_stop_a_degraded_start_and_limits_return_with_it() {
    let mut redis = Redis::start().unwrap();
    redis.kill();
    let base = start(Config {
        redis_url: Some(redis.url()),
        quota: "3/min burst 3".parse().unwrap(),
        start_degraded: true,
        data_dir: scratch_dir("degraded"),
        ..Config::default()
    })
    .await;
    let http = reqwest::Client::new();

    // The limiter's policy (fail open) applies while redis is away: more than the quota passes.
    for _ in 0..6 {
        assert_eq!(get(&http, &format!("{base}/v2/assets/1")).await.status, 200);
    }
    let health = get(&http, &format!("{base}/healthz")).await;
    assert_eq!(health.status, 503, "{}", health.body);
    assert_eq!(health.body["down"], json!(["rateLimit"]), "{}", health.body);

    // redis returns: the limits apply again without a restart of the API.
    redis.restart().unwrap();
    eventually(
        Duration::from_secs(20),
        "a 429 once redis is back",
        async || get(&http, &format!("{base}/v2/assets/1")).await.status == 429,
    )
    .await;
    let health = get(&http, &format!("{base}/healthz")).await;
    assert_eq!(health.status, 200, "{}", health.body);
    assert_eq!(health.body["down"], json!([]), "{}", health.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_search_server_does_not_stop_a_degraded_start_and_search_catches_up() {
    let search = Search::start().unwrap();
    let mut relay = Cut::new(&target_of(search.url()));
    let base = start(Config {
        search_url: Some(through(search.url(), &relay.host_port())),
        search_index: search.index("edge-assets"),
        start_degraded: true,
        data_dir: scratch_dir("degraded"),
        ..Config::default()
    })
    .await;
    let http = reqwest::Client::new();

    // Searches answer a JSON:API 503 saying when to retry; reads and writes carry on.
    let reply = get(&http, &format!("{base}/v2/search?q=beach")).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(reply.headers["content-type"], JSON_API);
    assert!(
        reply.headers.contains_key("retry-after"),
        "{:?}",
        reply.headers
    );
    assert_eq!(reply.body["errors"][0]["status"], "503", "{}", reply.body);
    let created = send(
        http.post(format!("{base}/v2/assets"))
            .header("content-type", JSON_API)
            .body(
                json!({"data": {"type": "assets", "attributes": {
                    "title": "Zebra crossing at night", "kind": "image",
                    "fileName": "zebra.jpg", "sizeBytes": 1200},
                    "relationships": {"owner": {"data": {"type": "owners", "id": "1"}}}}})
                .to_string(),
            ),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let health = get(&http, &format!("{base}/healthz")).await;
    assert_eq!(health.status, 503, "{}", health.body);
    assert_eq!(health.body["down"], json!(["search"]), "{}", health.body);

    // The server returns: the index is built and holds the write made meanwhile.
    relay.restore().await;
    eventually(
        Duration::from_secs(30),
        "the write made while search was down is found",
        async || {
            let reply = get(&http, &format!("{base}/v2/search?q=zebra")).await;
            reply.status == 200 && reply.body["meta"]["total"] == 1
        },
    )
    .await;
    let health = get(&http, &format!("{base}/healthz")).await;
    assert_eq!(health.status, 200, "{}", health.body);

    // Cut again while running: a 503 with Retry-After, then it catches up once more.
    relay.cut().await;
    let reply = get(&http, &format!("{base}/v2/search?q=zebra")).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(reply.headers.contains_key("retry-after"));
    relay.restore().await;
    eventually(
        Duration::from_secs(30),
        "search answers again",
        async || {
            get(&http, &format!("{base}/v2/search?q=zebra"))
                .await
                .status
                == 200
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_postgres_down_every_request_is_a_503_and_the_api_recovers_by_itself() {
    let postgres = Postgres::start().unwrap();
    let mut relay = Cut::new(&target_of(postgres.url()));
    relay.restore().await;
    let base = start(Config {
        database_url: Some(through(postgres.url(), &relay.host_port())),
        data_dir: scratch_dir("degraded"),
        ..Config::default()
    })
    .await;
    let http = reqwest::Client::new();
    assert_eq!(get(&http, &format!("{base}/v2/assets/1")).await.status, 200);

    relay.cut().await;
    for path in [
        "/v2/assets/1",
        "/v2/assets",
        "/v2/owners/1",
        "/v2/assets/2/owner",
    ] {
        let reply = get(&http, &format!("{base}{path}")).await;
        assert_eq!(reply.status, 503, "{path}: {}", reply.body);
        assert_eq!(reply.headers["content-type"], JSON_API, "{path}");
        assert!(reply.headers.contains_key("retry-after"), "{path}");
        assert_eq!(
            reply.body["errors"][0]["title"], "Database unavailable",
            "{path}"
        );
    }
    let health = get(&http, &format!("{base}/healthz")).await;
    assert_eq!(health.status, 503, "{}", health.body);
    assert_eq!(health.body["down"], json!(["database"]), "{}", health.body);
    // Four requests in a row could not reach the database: the breaker (3 failures) opened.
    let breaker = &health.body["backends"]["database"]["breaker"];
    assert!(
        breaker["opened"].as_u64().unwrap_or(0) >= 1,
        "the database breaker never opened: {breaker}"
    );

    relay.restore().await;
    eventually(Duration::from_secs(20), "reads work again", async || {
        get(&http, &format!("{base}/v2/assets/1")).await.status == 200
    })
    .await;
    let health = get(&http, &format!("{base}/healthz")).await;
    assert_eq!(health.status, 200, "{}", health.body);
}

/// The database circuit breaker as `/healthz` reports it: state, probes sent, calls refused.
async fn database_breaker(http: &reqwest::Client, base: &str) -> (String, u64, u64) {
    let health = get(http, &format!("{base}/healthz")).await;
    let breaker = &health.body["backends"]["database"]["breaker"];
    (
        breaker["state"].as_str().unwrap_or("none").to_owned(),
        breaker["probes"].as_u64().unwrap_or(0),
        breaker["rejected"].as_u64().unwrap_or(0),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_postgres_hanging_the_breaker_answers_503_without_asking_the_pool_and_recovers() {
    let postgres = Postgres::start().unwrap();
    let mut relay = Cut::new(&target_of(postgres.url()));
    relay.restore().await;
    let base = start(Config {
        database_url: Some(through(postgres.url(), &relay.host_port())),
        data_dir: scratch_dir("degraded"),
        ..Config::default()
    })
    .await;
    let http = reqwest::Client::new();
    assert_eq!(get(&http, &format!("{base}/v2/assets/1")).await.status, 200);
    assert_eq!(database_breaker(&http, &base).await.0, "closed");

    // PostgreSQL hangs: requests wait out the pool's acquire timeout and get a 503, until
    // consecutive failures open the breaker (a bounded number of requests, not a time).
    relay.freeze().await;
    for _ in 0..10 {
        let reply = get(&http, &format!("{base}/v2/owners/1")).await;
        assert_eq!(reply.status, 503, "{}", reply.body);
        if database_breaker(&http, &base).await.0 == "open" {
            break;
        }
    }

    // Now requests are answered without reaching the pool: no connection attempt reaches the
    // server but the breaker's own probes (one at a time, each at most one connection).
    const REQUESTS: u64 = 40;
    let (_, probes_before, rejected_before) = database_breaker(&http, &base).await;
    let attempts_before = relay.accepted();
    for path in [
        "/v2/assets/1",
        "/v2/assets",
        "/v2/owners/1",
        "/v2/assets/2/owner",
    ]
    .iter()
    .cycle()
    .take(REQUESTS as usize)
    {
        let reply = get(&http, &format!("{base}{path}")).await;
        assert_eq!(reply.status, 503, "{path}: {}", reply.body);
        assert_eq!(reply.headers["content-type"], JSON_API, "{path}");
        assert!(reply.headers.contains_key("retry-after"), "{path}");
        assert_eq!(
            reply.body["errors"][0]["title"], "Database unavailable",
            "{path}"
        );
    }
    let attempts = relay.accepted() - attempts_before;
    let (state, probes_after, rejected_after) = database_breaker(&http, &base).await;
    let probes = probes_after - probes_before;
    assert!(
        attempts <= probes,
        "{attempts} of {REQUESTS} requests reached the database, the breaker sent {probes} probes"
    );
    assert!(
        rejected_after - rejected_before + probes >= REQUESTS,
        "the breaker refused {} of {REQUESTS} requests and probed {probes} times",
        rejected_after - rejected_before
    );
    assert_ne!(state, "closed");
    let health = get(&http, &format!("{base}/healthz")).await;
    assert_eq!(health.status, 503, "{}", health.body);
    assert_eq!(health.body["down"], json!(["database"]), "{}", health.body);

    // PostgreSQL answers again: a probe closes the breaker by itself.
    relay.restore().await;
    eventually(Duration::from_secs(20), "reads work again", async || {
        get(&http, &format!("{base}/v2/assets/1")).await.status == 200
    })
    .await;
    assert_eq!(database_breaker(&http, &base).await.0, "closed");
    let health = get(&http, &format!("{base}/healthz")).await;
    assert_eq!(health.status, 200, "{}", health.body);
}

/// The drill's PostgreSQL phase in small. With the database gone, a writer's requests fail
/// one after another while searches that match nothing still answer 200 (their empty id
/// list needs no database). Those searches never reached the database, so they must not
/// count as the database answering: the drill's dashboard showed the breaker closed for the
/// whole outage because every empty search reset its count of consecutive failures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_postgres_down_searches_that_need_no_rows_do_not_keep_the_breaker_closed() {
    let postgres = Postgres::start().unwrap();
    let search = Search::start().unwrap();
    let mut relay = Cut::new(&target_of(postgres.url()));
    relay.restore().await;
    let base = start(Config {
        database_url: Some(through(postgres.url(), &relay.host_port())),
        search_url: Some(search.url().to_owned()),
        search_index: search.index("edge-assets"),
        data_dir: scratch_dir("degraded"),
        ..Config::default()
    })
    .await;
    let http = reqwest::Client::new();
    let nothing = format!("{base}/v2/search?q=xylophonequartz");
    let empty = get(&http, &nothing).await;
    assert_eq!(empty.status, 200, "{}", empty.body);
    assert_eq!(empty.body["data"], json!([]), "{}", empty.body);

    relay.cut().await;
    for _ in 0..4 {
        let reply = get(&http, &format!("{base}/v2/owners/1")).await;
        assert_eq!(reply.status, 503, "{}", reply.body);
        // A search with no hits needs no row: it answers, without asking the database.
        assert_eq!(get(&http, &nothing).await.status, 200);
    }
    let health = get(&http, &format!("{base}/healthz")).await;
    let breaker = &health.body["backends"]["database"]["breaker"];
    assert!(
        breaker["opened"].as_u64().unwrap_or(0) >= 1,
        "four requests in a row could not reach the database, yet its breaker never opened: {breaker}"
    );
}
