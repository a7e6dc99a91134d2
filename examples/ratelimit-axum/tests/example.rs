//! The example in-process, with the memory store and with a real redis.

// Helpers outside #[test] functions unwrap too: a panic here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use example_ratelimit_axum::{Options, app, limiter, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn status_and_headers(addr: SocketAddr, path: &str, forwarded_for: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: {forwarded_for}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    let status = reply.split(' ').nth(1).unwrap().parse().unwrap();
    (status, reply.to_ascii_lowercase())
}

async fn run(args: &[&str]) -> SocketAddr {
    let options = Options::parse(args.iter().map(|s| s.to_string()), None).unwrap();
    let limiter = limiter(&options).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = app(limiter, &options);
    tokio::spawn(serve(listener, app, std::future::pending()));
    addr
}

async fn exercise(addr: SocketAddr) {
    for remaining in [2, 1, 0] {
        let (status, reply) = status_and_headers(addr, "/hello/ada", "203.0.113.5").await;
        assert_eq!(status, 200, "{reply}");
        assert!(reply.contains("hello, ada"));
        assert!(
            reply.contains(&format!("x-ratelimit-remaining: {remaining}\r\n")),
            "{reply}"
        );
        assert!(
            reply.contains("ratelimit-policy: \"default\";q=3;w=180"),
            "{reply}"
        );
    }
    let (status, reply) = status_and_headers(addr, "/", "203.0.113.5").await;
    assert_eq!(status, 429);
    assert!(
        reply.contains("retry-after: 60\r\n") || reply.contains("retry-after: 59\r\n"),
        "{reply}"
    );
    // Another client (behind the same trusted loopback proxy) has its own bucket.
    let (status, _) = status_and_headers(addr, "/", "203.0.113.6").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn memory_store_by_default() {
    let addr = run(&["--quota", "1/min burst 3"]).await;
    exercise(addr).await;
}

#[tokio::test]
async fn redis_store_when_given_a_url() {
    let server = reel_testkit::Redis::start().unwrap();
    let addr = run(&[
        "--quota",
        "1/min burst 3",
        "--redis",
        &server.url(),
        "--fail-closed",
    ])
    .await;
    exercise(addr).await;
}

#[tokio::test]
async fn memcache_store_when_given_servers() {
    let servers = reel_testkit::Memcached::cluster(2).unwrap();
    let list = format!("{},{}", servers[0].host_port(), servers[1].host_port());
    let addr = run(&[
        "--quota",
        "1/min burst 3",
        "--memcache",
        &list,
        "--fail-closed",
    ])
    .await;
    exercise(addr).await;
    // The buckets live in memcached: one item per client, on one of the two servers.
    let items: u64 = servers
        .iter()
        .map(|server| {
            use std::io::{Read, Write};
            let mut stream = std::net::TcpStream::connect(server.host_port()).unwrap();
            stream.write_all(b"stats\r\n").unwrap();
            let mut reply = Vec::new();
            let mut buf = [0; 8192];
            while !reply.ends_with(b"END\r\n") {
                let n = stream.read(&mut buf).unwrap();
                assert!(n > 0);
                reply.extend_from_slice(&buf[..n]);
            }
            let reply = String::from_utf8(reply).unwrap();
            reply
                .lines()
                .find_map(|line| line.strip_prefix("STAT curr_items "))
                .unwrap()
                .trim()
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(items, 2);
}

#[test]
fn options_read_args_and_environment() {
    let options =
        Options::parse_with_env([], None, Some("127.0.0.1:1,127.0.0.1:2".into())).unwrap();
    assert_eq!(options.memcache.as_deref(), Some("127.0.0.1:1,127.0.0.1:2"));
    assert_eq!(options.redis, None);
    // An argument wins over the environment; both stores at once is an error.
    let options = Options::parse_with_env(
        ["--redis".into(), "redis://127.0.0.1:1".into()],
        None,
        Some("127.0.0.1:1".into()),
    )
    .unwrap();
    assert_eq!((options.redis.is_some(), options.memcache), (true, None));
    assert!(
        Options::parse_with_env([], Some("redis://x".into()), Some("127.0.0.1:1".into())).is_err()
    );
    assert!(Options::parse(["--memcache".into()], None).is_err());
    let options = Options::parse([], Some("redis://127.0.0.1:1".into())).unwrap();
    assert_eq!(options.redis.as_deref(), Some("redis://127.0.0.1:1"));
    assert_eq!(options.quota.to_string(), "100/60s burst 20");
    assert!(Options::parse(["--quota".into(), "lots".into()], None).is_err());
    assert!(Options::parse(["--bogus".into()], None).is_err());
    assert!(Options::parse(["--redis".into()], None).is_err());
}

/// The binary itself: starts, answers with rate-limit headers, rejects bad arguments.
#[tokio::test]
async fn the_binary_serves_and_limits() {
    let port = reel_testkit::free_port().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_example-ratelimit-axum"))
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--quota",
            "1/min burst 1",
        ])
        .env_remove("REEL_REDIS_URL")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut up = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(up, "the example did not start listening");
    assert_eq!(status_and_headers(addr, "/", "198.51.100.1").await.0, 200);
    assert_eq!(status_and_headers(addr, "/", "198.51.100.1").await.0, 429);
    child.kill().await.unwrap();

    let bad = tokio::process::Command::new(env!("CARGO_BIN_EXE_example-ratelimit-axum"))
        .args(["--quota", "lots"])
        .output()
        .await
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--quota"));
}

#[test]
fn help_exits_zero() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_example-ratelimit-axum"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("--redis"), "{help}");
}

#[test]
fn a_dead_redis_fails_and_names_the_url() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_example-ratelimit-axum"))
        .args(["--listen", "127.0.0.1:0", "--redis", &url])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&url), "{stderr}");
}
