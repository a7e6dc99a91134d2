//! A FAKE network fault in front of the real search node: a loopback HTTP/1.1 proxy that
//! forwards every request to the node unchanged and, for requests matching a scripted rule,
//! loses the node's answer (closes the client connection after the node applied the request),
//! or holds the answer or the request itself until the test releases it. It exists for what a real node cannot show: an
//! answer lost or delayed on the way back after the write was applied.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// What happens to the node's answer to a matching request.
#[derive(Clone)]
pub enum Fault {
    /// The request reaches the node; its answer is dropped and the connection closed.
    LoseAnswer,
    /// The answer is held until the [`Notify`] is notified.
    HoldAnswer(Arc<Notify>),
    /// The request is held (not forwarded) until the [`Notify`] is notified.
    HoldRequest(Arc<Notify>),
    /// Nothing happens: the request and its answer pass unchanged. The rule's notification
    /// tells the test that a matching request arrived.
    Pass,
}

struct Rule {
    method: String,
    path_contains: String,
    fault: Fault,
    remaining: usize,
    fired: Arc<Notify>,
    fired_count: usize,
}

/// The proxy; dropped, it stops accepting.
pub struct FaultProxy {
    url: String,
    upstream: Arc<Mutex<String>>,
    forwarded: Arc<std::sync::atomic::AtomicUsize>,
    rules: Arc<Mutex<Vec<Rule>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// A proxy to the node at `upstream` (`http://127.0.0.1:port`).
    pub async fn start(upstream: &str) -> Self {
        let upstream = Arc::new(Mutex::new(host_port(upstream)));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let rules: Arc<Mutex<Vec<Rule>>> = Arc::default();
        let forwarded: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
        let task = tokio::spawn({
            let (rules, upstream, forwarded) = (rules.clone(), upstream.clone(), forwarded.clone());
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    tokio::spawn(serve(
                        client,
                        upstream.clone(),
                        rules.clone(),
                        forwarded.clone(),
                    ));
                }
            }
        });
        Self {
            url,
            upstream,
            forwarded,
            rules,
            task,
        }
    }

    /// Sends later requests to another node (a restarted one).
    pub fn retarget(&self, upstream: &str) {
        *self.upstream.lock().unwrap() = host_port(upstream);
    }

    /// Requests that reached the proxy so far (forwarded or not).
    pub fn requests(&self) -> usize {
        self.forwarded.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The proxy's URL, for `Repo::from_url`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Applies `fault` to the next `times` requests with `method` whose path contains
    /// `path_contains`; the returned [`Notify`] is notified each time it fires.
    pub fn script(
        &self,
        method: &str,
        path_contains: &str,
        fault: Fault,
        times: usize,
    ) -> Arc<Notify> {
        let fired = Arc::new(Notify::new());
        self.rules.lock().unwrap().push(Rule {
            method: method.to_owned(),
            path_contains: path_contains.to_owned(),
            fault,
            remaining: times,
            fired: fired.clone(),
            fired_count: 0,
        });
        fired
    }

    /// How many times the rules matching `path_contains` fired.
    pub fn fired(&self, path_contains: &str) -> usize {
        self.rules
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path_contains == path_contains)
            .map(|r| r.fired_count)
            .sum()
    }
}

fn host_port(url: &str) -> String {
    url.trim_end_matches('/')
        .trim_start_matches("http://")
        .to_owned()
}

fn take_fault(rules: &Mutex<Vec<Rule>>, method: &str, path: &str) -> Option<Fault> {
    let mut rules = rules.lock().unwrap();
    let rule = rules
        .iter_mut()
        .find(|r| r.remaining > 0 && r.method == method && path.contains(&r.path_contains))?;
    rule.remaining -= 1;
    rule.fired_count += 1;
    rule.fired.notify_one();
    Some(rule.fault.clone())
}

/// Serves one client connection: one request at a time, each over a fresh upstream
/// connection (`Connection: close`), the answer read to its end.
async fn serve(
    client: TcpStream,
    upstream: Arc<Mutex<String>>,
    rules: Arc<Mutex<Vec<Rule>>>,
    forwarded: Arc<std::sync::atomic::AtomicUsize>,
) {
    let mut client = BufReader::new(client);
    loop {
        let mut head = Vec::new();
        let mut content_length = 0usize;
        let mut request_line = String::new();
        loop {
            let mut line = String::new();
            match client.read_line(&mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if request_line.is_empty() {
                request_line = line.clone();
            }
            if line == "\r\n" {
                head.extend_from_slice(b"connection: close\r\n\r\n");
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                content_length = v.trim().parse().unwrap_or(0);
            }
            if lower.starts_with("connection:") {
                continue;
            }
            head.extend_from_slice(line.as_bytes());
        }
        let mut body = vec![0; content_length];
        if client.read_exact(&mut body).await.is_err() {
            return;
        }
        let mut parts = request_line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_owned(),
            parts.next().unwrap_or("").to_owned(),
        );
        forwarded.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let fault = take_fault(&rules, &method, &path);
        if let Some(Fault::HoldRequest(release)) = &fault {
            release.notified().await;
        }

        let upstream = upstream.lock().unwrap().clone();
        let Ok(mut up) = TcpStream::connect(&upstream).await else {
            return;
        };
        if up.write_all(&head).await.is_err() || up.write_all(&body).await.is_err() {
            return;
        }
        let mut answer = Vec::new();
        if up.read_to_end(&mut answer).await.is_err() {
            return;
        }
        match fault {
            Some(Fault::LoseAnswer) => return,
            Some(Fault::HoldAnswer(release)) => release.notified().await,
            Some(Fault::HoldRequest(_) | Fault::Pass) | None => {}
        }
        if client.get_mut().write_all(&answer).await.is_err() {
            return;
        }
        // The node closed its side after the answer; so do we unless the client goes on.
        if answer
            .windows(17)
            .any(|w| w.eq_ignore_ascii_case(b"connection: close"))
        {
            return;
        }
    }
}
