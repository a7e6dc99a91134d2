//! A FAKE memcached: a scripted loopback server for what a real memcached 1.6.18 cannot show.
//!
//! It answers the text protocol with exactly the replies of memcached 1.6.9 (checked against
//! `proto_text.c` at tag 1.6.9) for the commands reel-herd sends: `version`, `get`/`gets`,
//! `set`/`add`/`cas`, `delete`, `mg`, and `ms` — where 1.6.9 has no positional data length:
//! `ms <key> <datalen> ...` fails on the `<datalen>` token with `CLIENT_ERROR invalid flag`
//! and swallows 0 bytes, so the data line is then read as a command (`ERROR`). Unknown
//! commands get `ERROR`.
//!
//! Two scripted behaviours stand for server conditions: a `get` of a key starting with `oom`
//! gets `SERVER_ERROR out of memory writing get response` (memcached's reply when it cannot
//! build a get response), and a key starting with `slow` is answered after `slow_reply`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Default)]
struct Item {
    data: Vec<u8>,
    flags: u32,
    cas: u64,
}

#[derive(Debug)]
struct Shared {
    version: String,
    items: Mutex<HashMap<String, Item>>,
    next_cas: AtomicU64,
    connections: AtomicU64,
    slow_reply: Duration,
}

/// A running fake; it stops serving when the test process ends.
#[derive(Debug, Clone)]
pub(crate) struct FakeMemcached {
    port: u16,
    shared: Arc<Shared>,
}

impl FakeMemcached {
    /// Starts a fake that reports `version` (e.g. "1.6.9").
    pub(crate) fn start(version: &str) -> Self {
        Self::with_slow_reply(version, Duration::from_secs(2))
    }

    /// Starts a fake whose `slow*` keys are answered after `slow_reply`.
    pub(crate) fn with_slow_reply(version: &str, slow_reply: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared {
            version: version.to_owned(),
            items: Mutex::new(HashMap::new()),
            next_cas: AtomicU64::new(1),
            connections: AtomicU64::new(0),
            slow_reply,
        });
        let accept = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                accept.connections.fetch_add(1, Ordering::SeqCst);
                let shared = Arc::clone(&accept);
                std::thread::spawn(move || serve(&shared, stream));
            }
        });
        Self { port, shared }
    }

    /// `host:port`.
    pub(crate) fn host_port(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Connections accepted so far.
    pub(crate) fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }
}

fn serve(shared: &Shared, stream: TcpStream) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = line.trim_end_matches(['\r', '\n']);
        let tokens: Vec<&str> = line.split(' ').filter(|t| !t.is_empty()).collect();
        let reply = match tokens.first().copied() {
            Some("version") => format!("VERSION {}\r\n", shared.version).into_bytes(),
            Some(verb @ ("get" | "gets")) => {
                if tokens[1..].iter().any(|k| k.starts_with("slow")) {
                    // Not a wait: the fake's scripted slow reply.
                    std::thread::sleep(shared.slow_reply);
                }
                if tokens[1..].iter().any(|k| k.starts_with("oom")) {
                    b"SERVER_ERROR out of memory writing get response\r\n".to_vec()
                } else {
                    let items = shared.items.lock().unwrap();
                    let mut reply = Vec::new();
                    for key in &tokens[1..] {
                        if let Some(item) = items.get(*key) {
                            let header = if verb == "gets" {
                                format!(
                                    "VALUE {key} {} {} {}\r\n",
                                    item.flags,
                                    item.data.len(),
                                    item.cas
                                )
                            } else {
                                format!("VALUE {key} {} {}\r\n", item.flags, item.data.len())
                            };
                            reply.extend_from_slice(header.as_bytes());
                            reply.extend_from_slice(&item.data);
                            reply.extend_from_slice(b"\r\n");
                        }
                    }
                    reply.extend_from_slice(b"END\r\n");
                    reply
                }
            }
            Some(verb @ ("set" | "add" | "replace" | "cas")) if tokens.len() >= 5 => {
                let size: usize = tokens[4].parse().unwrap();
                let mut data = vec![0; size + 2];
                if reader.read_exact(&mut data).is_err() {
                    return;
                }
                data.truncate(size);
                let flags: u32 = tokens[2].parse().unwrap_or(0);
                let key = tokens[1].to_owned();
                let mut items = shared.items.lock().unwrap();
                let exists = items.get(&key).map(|item| item.cas);
                let allowed = match verb {
                    "add" => exists.is_none(),
                    "replace" => exists.is_some(),
                    "cas" => {
                        let token: u64 = tokens.get(5).and_then(|t| t.parse().ok()).unwrap_or(0);
                        match exists {
                            None => {
                                writer.write_all(b"NOT_FOUND\r\n").ok();
                                continue;
                            }
                            Some(cas) if cas != token => {
                                writer.write_all(b"EXISTS\r\n").ok();
                                continue;
                            }
                            Some(_) => true,
                        }
                    }
                    _ => true,
                };
                if allowed {
                    let cas = shared.next_cas.fetch_add(1, Ordering::SeqCst);
                    items.insert(key, Item { data, flags, cas });
                    b"STORED\r\n".to_vec()
                } else {
                    b"NOT_STORED\r\n".to_vec()
                }
            }
            Some("delete") if tokens.len() == 2 => {
                if shared.items.lock().unwrap().remove(tokens[1]).is_some() {
                    b"DELETED\r\n".to_vec()
                } else {
                    b"NOT_FOUND\r\n".to_vec()
                }
            }
            Some("mg") if tokens.len() >= 2 => {
                let items = shared.items.lock().unwrap();
                match items.get(tokens[1]) {
                    None => b"EN\r\n".to_vec(),
                    Some(item) => {
                        let mut reply = format!("VA {}", item.data.len()).into_bytes();
                        if tokens[2..].contains(&"c") {
                            reply.extend_from_slice(format!(" c{}", item.cas).as_bytes());
                        }
                        reply.extend_from_slice(b"\r\n");
                        reply.extend_from_slice(&item.data);
                        reply.extend_from_slice(b"\r\n");
                        reply
                    }
                }
            }
            // 1.6.9: the positional <datalen> is read as a flag; '1'..'9' are not flags, so
            // `CLIENT_ERROR invalid flag`, and with no `S` flag 0 bytes are swallowed.
            Some("ms") if tokens.len() >= 3 => {
                let first = tokens[2].as_bytes()[0];
                if first.is_ascii_digit() {
                    b"CLIENT_ERROR invalid flag\r\n".to_vec()
                } else {
                    b"CLIENT_ERROR bad command line format\r\n".to_vec()
                }
            }
            _ => b"ERROR\r\n".to_vec(),
        };
        if writer.write_all(&reply).is_err() {
            return;
        }
    }
}
