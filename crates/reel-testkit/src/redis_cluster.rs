//! A real Redis Cluster on loopback: six `redis-server --cluster-enabled yes` processes (three
//! masters, three replicas) joined with `redis-cli --cluster create`.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Error;
use crate::process::{free_port, wait_for_port};
use crate::tools::find_program;

const NODES: usize = 6;
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A Redis Cluster of six loopback processes, each in its own directory under the system
/// temp dir; all killed and their directories removed on drop.
///
/// `cluster-node-timeout` is 1000 ms, so a replica takes over about one to two seconds after
/// its master dies.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<ClusterNode>,
    dir: PathBuf,
}

#[derive(Debug)]
struct ClusterNode {
    port: u16,
    child: Option<Child>,
}

impl RedisCluster {
    /// Starts six servers on free ports, creates the cluster (one replica per master) and
    /// waits until every node reports `cluster_state:ok`.
    pub fn start() -> Result<Self, Error> {
        let server = find_program("redis-server").ok_or_else(|| Error::Missing {
            program: "redis-server".into(),
            install: "sudo apt-get install -y redis-server".into(),
        })?;
        let cli = find_program("redis-cli").ok_or_else(|| Error::Missing {
            program: "redis-cli".into(),
            install: "sudo apt-get install -y redis-tools".into(),
        })?;
        let dir = std::env::temp_dir().join(format!(
            "reel-testkit-redis-cluster-{}-{}",
            std::process::id(),
            free_port()?
        ));
        std::fs::create_dir_all(&dir).map_err(Error::io("creating the cluster dir"))?;
        let mut cluster = Self {
            nodes: Vec::new(),
            dir,
        };
        for _ in 0..NODES {
            let port = free_port()?;
            let node_dir = cluster.dir.join(port.to_string());
            std::fs::create_dir_all(&node_dir).map_err(Error::io("creating a node dir"))?;
            let child = Command::new(&server)
                .args([
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "1000",
                    // A replica of a young cluster may not have synced yet; let it take over
                    // whatever its data age (the default factor refuses the failover).
                    "--cluster-replica-validity-factor",
                    "0",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--protected-mode",
                    "no",
                    "--loglevel",
                    "warning",
                ])
                .current_dir(&node_dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(Error::io("spawning redis-server"))?;
            cluster.nodes.push(ClusterNode {
                port,
                child: Some(child),
            });
        }
        for node in &cluster.nodes {
            if !wait_for_port(addr(node.port), READY_TIMEOUT) {
                return Err(Error::NotReady {
                    server: format!("redis-server (cluster) on {}", addr(node.port)),
                    detail: format!("no answer within {READY_TIMEOUT:?}"),
                });
            }
        }
        let mut create = Command::new(cli);
        create.args(["--cluster", "create"]);
        create.args(cluster.nodes.iter().map(|n| addr(n.port).to_string()));
        let output = create
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .map_err(Error::io("running redis-cli --cluster create"))?;
        if !output.status.success() {
            return Err(Error::NotReady {
                server: "redis cluster".into(),
                detail: format!(
                    "redis-cli --cluster create failed: {}",
                    String::from_utf8_lossy(&output.stdout)
                ),
            });
        }
        cluster.wait_until_ok(READY_TIMEOUT)?;
        Ok(cluster)
    }

    /// Waits until every running node reports `cluster_state:ok`.
    pub fn wait_until_ok(&self, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        loop {
            let ok = self
                .nodes
                .iter()
                .filter(|n| n.child.is_some())
                .all(|n| command(n.port, "CLUSTER INFO").contains("cluster_state:ok"));
            if ok {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::NotReady {
                    server: "redis cluster".into(),
                    detail: format!("cluster_state not ok within {timeout:?}"),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:port` of every node (masters and replicas), as seed nodes for a client.
    pub fn host_ports(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| addr(n.port).to_string())
            .collect()
    }

    /// `host:port` of the node that is now master of `slot` (as a live node reports it).
    pub fn master_of_slot(&self, slot: u16) -> Option<String> {
        let node = self.nodes.iter().find(|n| n.child.is_some())?;
        let nodes = command(node.port, "CLUSTER NODES");
        nodes.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                return None;
            }
            let owns = fields[8..].iter().any(|range| {
                let mut bounds = range.split('-');
                let low = bounds.next().and_then(|b| b.parse::<u16>().ok());
                let high = bounds.next().and_then(|b| b.parse::<u16>().ok()).or(low);
                matches!((low, high), (Some(low), Some(high)) if (low..=high).contains(&slot))
            });
            owns.then(|| fields[1].split('@').next().unwrap_or("").to_owned())
        })
    }

    /// Kills (SIGKILL) the node listening on `host_port`; returns whether one was running.
    pub fn kill(&mut self, host_port: &str) -> bool {
        for node in &mut self.nodes {
            if addr(node.port).to_string() == host_port
                && let Some(mut child) = node.child.take()
            {
                let _ = child.kill();
                let _ = child.wait();
                return true;
            }
        }
        false
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// Sends one inline command and returns the bulk reply's text (empty on any failure).
fn command(port: u16, line: &str) -> String {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr(port), Duration::from_millis(500)) else {
        return String::new();
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(1000)));
    if stream.write_all(format!("{line}\r\n").as_bytes()).is_err() {
        return String::new();
    }
    let mut reader = BufReader::new(stream);
    let mut header = String::new();
    if reader.read_line(&mut header).is_err() {
        return String::new();
    }
    let Some(size) = header
        .trim_end()
        .strip_prefix('$')
        .and_then(|s| s.parse::<usize>().ok())
    else {
        return header;
    };
    let mut body = vec![0; size + 2];
    if std::io::Read::read_exact(&mut reader, &mut body).is_err() {
        return String::new();
    }
    String::from_utf8_lossy(&body[..size]).into_owned()
}
