//! The drill's load: keep-alive HTTP/1.1 clients that read, search and write from many
//! client addresses, and the `/healthz` poller.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{CLIENT_ADDRESSES, HEALTH_INTERVAL, REQUEST_TIMEOUT};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Kind {
    List,
    Read,
    Search,
    Write,
}

impl Kind {
    pub(super) fn label(self) -> &'static str {
        match self {
            Self::List => "list+include",
            Self::Read => "read",
            Self::Search => "search",
            Self::Write => "write",
        }
    }
}

/// Status codes the drill uses for what is not an HTTP answer.
pub(super) const DROPPED: u16 = 0;
pub(super) const TIMED_OUT: u16 = 1;

/// `x-cache` values (0: no header).
pub(super) const CACHE_HIT: u8 = 1;
pub(super) const CACHE_MISS: u8 = 2;
pub(super) const CACHE_OTHER: u8 = 3;

/// One request's outcome.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sample {
    /// When it was answered (or given up), since the load started: a request belongs to the
    /// phase in which its client saw the outcome, so one caught by a kill counts in the outage.
    pub(super) at: Duration,
    pub(super) latency: Duration,
    /// HTTP status, or [`DROPPED`] / [`TIMED_OUT`].
    pub(super) status: u16,
    pub(super) kind: Kind,
    pub(super) cache: u8,
    pub(super) retry_after: bool,
    pub(super) json_api: bool,
}

#[derive(Debug, Clone, Default)]
struct Answer {
    status: u16,
    cache: u8,
    retry_after: bool,
    json_api: bool,
    close: bool,
    body: Vec<u8>,
}

/// A keep-alive HTTP/1.1 connection (content-length and chunked bodies).
#[derive(Debug)]
struct Connection {
    stream: BufReader<TcpStream>,
}

impl Connection {
    async fn open(addr: SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: BufReader::new(stream),
        })
    }

    async fn send(&mut self, request: &[u8]) -> std::io::Result<Answer> {
        self.stream.get_mut().write_all(request).await?;
        let mut line = String::new();
        if self.stream.read_line(&mut line).await? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed before the status line",
            ));
        }
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse::<u16>().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut answer = Answer {
            status,
            ..Answer::default()
        };
        let mut length = None;
        let mut chunked = false;
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed in the headers",
                ));
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let Some((name, value)) = header.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse::<usize>().ok(),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "connection" => answer.close = value.eq_ignore_ascii_case("close"),
                "retry-after" => answer.retry_after = true,
                "content-type" => answer.json_api = value.starts_with("application/vnd.api+json"),
                "x-cache" => {
                    answer.cache = match value {
                        "hit" => CACHE_HIT,
                        "miss" => CACHE_MISS,
                        _ => CACHE_OTHER,
                    }
                }
                _ => {}
            }
        }
        if chunked {
            loop {
                line.clear();
                self.stream.read_line(&mut line).await?;
                let size = usize::from_str_radix(line.trim(), 16)
                    .map_err(|_| std::io::Error::other(format!("bad chunk size {line:?}")))?;
                let mut chunk = vec![0; size + 2];
                self.stream.read_exact(&mut chunk).await?;
                if size == 0 {
                    break;
                }
                chunk.truncate(size);
                answer.body.extend_from_slice(&chunk);
            }
        } else if let Some(length) = length {
            answer.body = vec![0; length];
            self.stream.read_exact(&mut answer.body).await?;
        } else {
            self.stream.read_to_end(&mut answer.body).await?;
            answer.close = true;
        }
        Ok(answer)
    }
}

/// Sends one request on `connection` (opening it first when needed) within
/// [`REQUEST_TIMEOUT`]; returns the status (or [`DROPPED`] / [`TIMED_OUT`]) and the answer.
async fn exchange(addr: SocketAddr, connection: &mut Option<Connection>, request: &[u8]) -> Answer {
    let attempt = async {
        if connection.is_none() {
            *connection = Some(Connection::open(addr).await?);
        }
        match connection {
            Some(open) => open.send(request).await,
            None => Err(std::io::Error::other("no connection")),
        }
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, attempt).await {
        Ok(Ok(answer)) => {
            if answer.close {
                *connection = None;
            }
            answer
        }
        Ok(Err(_)) => {
            *connection = None;
            Answer {
                status: DROPPED,
                ..Answer::default()
            }
        }
        Err(_) => {
            *connection = None;
            Answer {
                status: TIMED_OUT,
                ..Answer::default()
            }
        }
    }
}

pub(super) fn client_address(n: u32) -> String {
    let n = n % CLIENT_ADDRESSES;
    // 81.2.69.x are in the geo database (a country), the rest are not: both paths run.
    if n.is_multiple_of(16) {
        format!("81.2.69.{}", 160 + n % 32)
    } else {
        format!("10.{}.{}.{}", 1 + n / 65536 % 200, n / 256 % 256, n % 256)
    }
}

fn get_request(addr: SocketAddr, path: &str, client: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/vnd.api+json\r\nX-Forwarded-For: {client}\r\n\r\n"
    )
    .into_bytes()
}

/// A reading client: lists with `include=owner`, single reads and searches.
pub(super) async fn reader(
    addr: SocketAddr,
    index: usize,
    epoch: Instant,
    stop: Arc<AtomicBool>,
) -> Vec<Sample> {
    let mut samples = Vec::with_capacity(1 << 16);
    let mut connection = None;
    let mut n: u32 = index as u32 * 7919;
    while !stop.load(Ordering::Relaxed) {
        n = n.wrapping_add(1);
        let (kind, path) = match n % 10 {
            0..=3 => (Kind::List, "/v2/assets?include=owner".to_owned()),
            4..=8 => (Kind::Read, format!("/v2/assets/{}", 1 + n % 8)),
            _ => (Kind::Search, "/v2/search?q=beach".to_owned()),
        };
        let request = get_request(addr, &path, &client_address(n));
        let sent = Instant::now();
        let answer = exchange(addr, &mut connection, &request).await;
        samples.push(Sample {
            at: sent.elapsed() + (sent - epoch),
            latency: sent.elapsed(),
            status: answer.status,
            kind,
            cache: answer.cache,
            retry_after: answer.retry_after,
            json_api: answer.json_api,
        });
        if answer.status == DROPPED {
            // Do not spin while nothing listens.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    samples
}

/// The writing client: a PATCH of an asset's title every `interval`.
pub(super) async fn writer(
    addr: SocketAddr,
    interval: Duration,
    epoch: Instant,
    stop: Arc<AtomicBool>,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut connection = None;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u32 = 0;
    while !stop.load(Ordering::Relaxed) {
        ticker.tick().await;
        n = n.wrapping_add(1);
        let id = 1 + n % 8;
        let body = format!(
            r#"{{"data":{{"type":"assets","id":"{id}","attributes":{{"title":"Drill edit {n}"}}}}}}"#
        );
        let request = format!(
            "PATCH /v2/assets/{id} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/vnd.api+json\r\nContent-Type: application/vnd.api+json\r\nX-Forwarded-For: {}\r\nContent-Length: {}\r\n\r\n{body}",
            client_address(n * 31),
            body.len()
        );
        let sent = Instant::now();
        let answer = exchange(addr, &mut connection, request.as_bytes()).await;
        samples.push(Sample {
            at: sent.elapsed() + (sent - epoch),
            latency: sent.elapsed(),
            status: answer.status,
            kind: Kind::Write,
            cache: answer.cache,
            retry_after: answer.retry_after,
            json_api: answer.json_api,
        });
    }
    samples
}

/// One `/healthz` answer.
#[derive(Debug, Clone)]
pub(super) struct Health {
    pub(super) at: Duration,
    pub(super) status: u16,
    /// The backends whose `ok` was false, or what went wrong asking.
    pub(super) down: Vec<String>,
    pub(super) geo_reloads: Option<u64>,
}

pub(super) async fn health_poller(
    addr: SocketAddr,
    epoch: Instant,
    stop: Arc<AtomicBool>,
) -> Vec<Health> {
    let mut seen = Vec::new();
    let mut connection = None;
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes();
    while !stop.load(Ordering::Relaxed) {
        let at = epoch.elapsed();
        let answer = exchange(addr, &mut connection, &request).await;
        let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
        let mut down = Vec::new();
        if let Some(backends) = body["backends"].as_object() {
            for (name, report) in backends {
                if report["ok"] == false {
                    down.push(name.clone());
                }
            }
        } else if answer.status <= TIMED_OUT {
            down.push(if answer.status == DROPPED {
                "no answer".to_owned()
            } else {
                "timed out".to_owned()
            });
        }
        seen.push(Health {
            at,
            status: answer.status,
            down,
            geo_reloads: body["backends"]["geoip"]["reloads"].as_u64(),
        });
        tokio::time::sleep(HEALTH_INTERVAL).await;
    }
    seen
}
