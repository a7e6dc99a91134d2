//! `herd-watch` follows a live cache cluster and prints what happens to it.
//!
//! ```text
//! herd-watch [--backend memcache|redis] (--servers LIST | --file PATH | --elasticache HOST:PORT
//!            | --dns NAME:PORT | --srv NAME) [--poll SECONDS] [--traffic PER_SECOND] [--for SECONDS]
//! ```
//!
//! It prints the first topology, then every `TopologyChanged`, `NodeDown`, `NodeUp` and
//! `DiscoveryFailed` event, and a counters line per node every ten seconds. A light read
//! load (`--traffic`, default 20 read-throughs/s over 1,000 keys, so both hits and misses show) makes failing nodes visible to the
//! passive health check. Try it: start two memcached, list them in a file, run
//! `herd-watch --file nodes.txt --poll 1`, then add a line to the file or kill a memcached.

use std::process::ExitCode;
use std::time::Duration;

use reel_herd::{
    ClusterBuilder, ClusterEvent, ClusterStats, DnsDiscovery, ElastiCacheDiscovery, FileDiscovery,
    MemcacheCluster, Node, RedisCluster, StaticDiscovery, Topology,
};

const USAGE: &str = "usage: herd-watch [--backend memcache|redis] (--servers LIST | --file PATH | \
--elasticache HOST:PORT | --dns NAME:PORT | --srv NAME) [--poll SECONDS] [--traffic PER_SECOND] [--for SECONDS]";

#[derive(Clone)]
enum Cache {
    Memcache(MemcacheCluster),
    Redis(RedisCluster),
}

impl Cache {
    fn events(&self) -> tokio::sync::broadcast::Receiver<ClusterEvent> {
        match self {
            Self::Memcache(c) => c.events(),
            Self::Redis(c) => c.events(),
        }
    }

    fn topology(&self) -> std::sync::Arc<Topology> {
        match self {
            Self::Memcache(c) => c.topology(),
            Self::Redis(c) => c.topology(),
        }
    }

    fn stats(&self) -> ClusterStats {
        match self {
            Self::Memcache(c) => c.stats(),
            Self::Redis(c) => c.stats(),
        }
    }

    /// A read-through of `key`: read it, and store it for a minute when it is missing, so
    /// that the counters show hits as well as misses. Outcomes show up in the counters and
    /// events; the values themselves are just load.
    async fn read(&self, key: &str) {
        const TTL: Duration = Duration::from_secs(60);
        match self {
            Self::Memcache(c) => {
                if let Ok(None) = c.get(key).await {
                    let _ = c.set(key, b"1", TTL).await;
                }
            }
            // `mget` (one key) counts hits and misses per node; a bare `GET` through
            // `query` cannot tell a miss from any other reply.
            Self::Redis(c) => {
                if let Ok(found) = c.mget(&[key]).await
                    && found.failed.is_empty()
                    && found.values.first().is_some_and(Option::is_none)
                {
                    let _ = c
                        .query::<()>(
                            key,
                            redis::cmd("SET")
                                .arg(key)
                                .arg("1")
                                .arg("EX")
                                .arg(TTL.as_secs()),
                        )
                        .await;
                }
            }
        }
    }
}

struct Options {
    backend: String,
    source: Option<(String, String)>,
    poll: Duration,
    traffic: u32,
    run_for: Option<Duration>,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        backend: "memcache".into(),
        source: None,
        poll: Duration::from_secs(5),
        traffic: 20,
        run_for: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(name) = args.next() {
        if name == "--help" || name == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = args.next().ok_or(format!("{name} needs a value"))?;
        let seconds = |value: &str| -> Result<Duration, String> {
            value
                .parse::<f64>()
                .ok()
                .filter(|s| *s > 0.0)
                .map(Duration::from_secs_f64)
                .ok_or(format!("{name}: not a number of seconds"))
        };
        match name.as_str() {
            "--backend" => options.backend = value,
            "--servers" | "--file" | "--elasticache" | "--dns" | "--srv" => {
                options.source = Some((name.clone(), value))
            }
            "--poll" => options.poll = seconds(&value)?,
            "--for" => options.run_for = Some(seconds(&value)?),
            "--traffic" => {
                options.traffic = value
                    .parse()
                    .map_err(|_| "--traffic: not a whole number".to_owned())?
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(options)
}

fn builder(source: &(String, String)) -> Result<ClusterBuilder, String> {
    let (kind, value) = source;
    Ok(match kind.as_str() {
        "--servers" => {
            ClusterBuilder::new(StaticDiscovery::parse(value).map_err(|e| e.to_string())?)
        }
        "--file" => ClusterBuilder::new(FileDiscovery::new(value)),
        "--elasticache" => ClusterBuilder::new(ElastiCacheDiscovery::new(value.clone())),
        "--dns" => {
            let node = Node::parse(value).map_err(|e| e.to_string())?;
            ClusterBuilder::new(
                DnsDiscovery::a(node.host(), node.port()).map_err(|e| e.to_string())?,
            )
        }
        _ => ClusterBuilder::new(DnsDiscovery::srv(value.clone()).map_err(|e| e.to_string())?),
    })
}

fn print_topology(topology: &Topology) {
    let nodes: Vec<String> = topology
        .nodes()
        .iter()
        .map(|n| format!("{n} (weight {})", n.weight()))
        .collect();
    println!("topology v{}: {}", topology.version(), nodes.join(", "));
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("herd-watch: {message}\n{USAGE}");
            return ExitCode::FAILURE;
        }
    };
    let Some(source) = &options.source else {
        eprintln!("herd-watch: a discovery source is required\n{USAGE}");
        return ExitCode::FAILURE;
    };
    let builder = match builder(source) {
        Ok(builder) => builder.poll_interval(options.poll),
        Err(message) => {
            eprintln!("herd-watch: {message}");
            return ExitCode::FAILURE;
        }
    };
    let started = match options.backend.as_str() {
        "memcache" => builder.build_memcache().await.map(Cache::Memcache),
        "redis" => builder.build_redis().await.map(Cache::Redis),
        other => {
            eprintln!("herd-watch: unknown backend `{other}`");
            return ExitCode::FAILURE;
        }
    };
    let cache = match started {
        Ok(cache) => cache,
        Err(error) => {
            eprintln!("herd-watch: {error}");
            return ExitCode::FAILURE;
        }
    };
    print_topology(&cache.topology());
    let mut events = cache.events();

    if options.traffic > 0 {
        let cache = cache.clone();
        let pause = Duration::from_secs(1) / options.traffic;
        tokio::spawn(async move {
            for i in 0u64.. {
                cache.read(&format!("herd-watch:{}", i % 1000)).await;
                tokio::time::sleep(pause).await;
            }
        });
    }

    let deadline = async {
        match options.run_for {
            Some(duration) => tokio::time::sleep(duration).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    tokio::pin!(deadline);
    let mut report = tokio::time::interval(Duration::from_secs(10));
    report.tick().await;
    loop {
        tokio::select! {
            () = &mut deadline => break,
            _ = report.tick() => {
                for node in cache.stats().nodes {
                    println!(
                        "  {}: requests {} hits {} misses {} errors {} retries {} ejections {}{}",
                        node.node, node.requests, node.hits, node.misses, node.errors, node.retries,
                        node.ejections, if node.ejected { " (ejected)" } else { "" }
                    );
                }
            }
            event = events.recv() => match event {
                Ok(ClusterEvent::TopologyChanged { added, removed, .. }) => {
                    let list = |nodes: &[Node]| nodes.iter().map(Node::address).collect::<Vec<_>>().join(", ");
                    println!("topology changed: +[{}] -[{}]", list(&added), list(&removed));
                    print_topology(&cache.topology());
                }
                Ok(ClusterEvent::NodeDown { node, error }) => println!("node down: {node} ({error})"),
                Ok(ClusterEvent::NodeUp { node }) => println!("node up: {node}"),
                Ok(ClusterEvent::DiscoveryFailed { error }) => println!("discovery failed: {error}"),
                Ok(other) => println!("{other:?}"),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => println!("({missed} events missed)"),
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
        }
    }
    ExitCode::SUCCESS
}
