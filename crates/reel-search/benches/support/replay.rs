//! A STAND-IN for a search server, used only by `benches/typed_search.rs`: a loopback HTTP/1.1
//! endpoint that answers every request with one response body captured from the real
//! OpenSearch node earlier in the same run. It runs no query; it exists so the benchmark can
//! measure the client side alone (building the request, HTTP, decoding the hits) without the
//! node's search time and jitter.

#![allow(unreachable_pub, clippy::unwrap_used)]

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// The stand-in server (see the module docs).
pub struct Replay {
    url: String,
}

impl Replay {
    /// Starts replaying `body` on its own thread and runtime.
    pub fn start(body: Vec<u8>) -> Self {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", std_listener.local_addr().unwrap());
        let body: &'static [u8] = Box::leak(body.into_boxed_slice());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).unwrap();
                while let Ok((socket, _)) = listener.accept().await {
                    tokio::spawn(serve(socket, body));
                }
            });
        });
        Self { url }
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// Serves keep-alive HTTP/1.1 requests with a `Content-Length` body.
async fn serve(socket: tokio::net::TcpStream, reply: &'static [u8]) {
    // A real node answers in one segment; Nagle plus delayed ACKs would add ~40 ms otherwise.
    let _ = socket.set_nodelay(true);
    let (read, mut write) = socket.into_split();
    let mut reader = BufReader::new(read);
    let mut line = String::new();
    let mut body = Vec::new();
    let mut answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=UTF-8\r\ncontent-length: {}\r\n\r\n",
        reply.len()
    )
    .into_bytes();
    answer.extend_from_slice(reply);
    loop {
        let mut started = false;
        let mut length = 0usize;
        loop {
            line.clear();
            match reader.read_line(&mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                if !started {
                    continue;
                }
                break;
            }
            if !started {
                started = true;
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
        if write.write_all(&answer).await.is_err() {
            return;
        }
    }
}
