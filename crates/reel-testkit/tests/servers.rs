//! The testkit starts real servers, sees them die, and restarts them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use reel_testkit::{Memcached, Postgres, Redis, Search};

fn roundtrip(addr: std::net::SocketAddr, request: &[u8]) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.write_all(request)?;
    let mut buf = [0u8; 256];
    let n = stream.read(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[test]
fn two_memcached_and_two_redis_one_killed_and_restarted() {
    let mut memcached = Memcached::cluster(2).unwrap();
    let mut redis = Redis::cluster(2).unwrap();
    assert_ne!(memcached[0].port(), memcached[1].port());
    assert_ne!(redis[0].port(), redis[1].port());

    // Each node stores its own data.
    let reply = roundtrip(memcached[0].addr(), b"set k 0 0 1\r\nx\r\n").unwrap();
    assert_eq!(reply, "STORED\r\n");
    let reply = roundtrip(memcached[1].addr(), b"get k\r\n").unwrap();
    assert_eq!(reply, "END\r\n", "nodes must not share data");
    assert_eq!(
        roundtrip(redis[1].addr(), b"PING\r\n").unwrap(),
        "+PONG\r\n"
    );

    // Kill one of each: its port stops answering, the other keeps going.
    memcached[1].kill();
    redis[0].kill();
    assert!(!memcached[1].is_running());
    assert!(!redis[0].is_running());
    assert!(roundtrip(memcached[1].addr(), b"version\r\n").is_err());
    assert!(roundtrip(redis[0].addr(), b"PING\r\n").is_err());
    assert!(
        roundtrip(memcached[0].addr(), b"version\r\n")
            .unwrap()
            .starts_with("VERSION")
    );
    assert_eq!(
        roundtrip(redis[1].addr(), b"PING\r\n").unwrap(),
        "+PONG\r\n"
    );

    // Restart on the same port.
    let port = memcached[1].port();
    memcached[1].restart().unwrap();
    redis[0].restart().unwrap();
    assert_eq!(memcached[1].port(), port);
    assert!(
        roundtrip(memcached[1].addr(), b"version\r\n")
            .unwrap()
            .starts_with("VERSION")
    );
    assert_eq!(
        roundtrip(redis[0].addr(), b"PING\r\n").unwrap(),
        "+PONG\r\n"
    );
}

#[test]
fn postgres_gives_a_fresh_database_and_drops_it() {
    let db = Postgres::start().unwrap();
    db.execute("CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2)")
        .unwrap();
    assert_eq!(db.execute("SELECT count(*) FROM t").unwrap().trim(), "2");
    let other = Postgres::start().unwrap();
    assert_ne!(db.database(), other.database());
    assert!(
        other.execute("SELECT count(*) FROM t").is_err(),
        "databases must be separate"
    );
}

#[test]
fn search_server_answers_http() {
    let search = Search::start().unwrap();
    let authority = search.url().trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&authority).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = String::new();
    stream.read_to_string(&mut body).unwrap();
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains("\"version\""), "{body}");
    assert!(search.index("assets").starts_with("reel-test-"));
}
