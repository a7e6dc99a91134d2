//! Runs edge-api: `cargo run -p example-edge-api` (configuration: `REEL_*` variables, see
//! `--help` and the crate docs).

use std::io::IsTerminal;

use example_edge_api::{Config, app, serve, telemetry};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

const ABOUT: &str = "A small asset API built from every reel crate (JSON:API, rate limits, \
caching, search, signed URLs, geolocation). With no configuration it serves demo data from an \
in-memory SQLite database on http://127.0.0.1:8080.";

const SETTINGS: &str = "\
Settings (environment variables; unset means the zero-configuration default):
  REEL_LISTEN                  address to listen on (127.0.0.1:8080)
  REEL_METRICS_ADDR            address of /metrics, Prometheus text format (127.0.0.1:9464; off)
  REEL_DATABASE_URL            postgres://... or sqlite:/path/edge.db?mode=rwc (in-memory SQLite)
  REEL_REDIS_URL               redis://... for rate limits (memory)
  REEL_MEMCACHE_SERVERS        host:port,host:port for the response cache (none)
  REEL_RATE_LIMIT_STORE        memcache: keep rate limits in the cache's memcached
  REEL_RATE_LIMIT              quota per client IP (300/min burst 60)
  REEL_ES_URL, REEL_ES_INDEX   Elasticsearch/OpenSearch for /v2/search (none; edge-assets)
  REEL_GEOIP_DB                a .mmdb file (a generated demo database)
  REEL_MAXMIND_ACCOUNT_ID, REEL_MAXMIND_LICENSE_KEY, REEL_MAXMIND_EDITION, REEL_MAXMIND_URL
  REEL_CLOUDFRONT_KEY_PAIR_ID, REEL_CLOUDFRONT_PRIVATE_KEY, REEL_CLOUDFRONT_URL
  REEL_TRUSTED_PROXIES         proxies whose X-Forwarded-For is believed (loopback)
  REEL_PUBLIC_URL              base URL for links (from the Host header)
  REEL_DATA_DIR                where the development key pair is kept (.edge-api)
  REEL_API_TOKENS              OWNER_ID=TOKEN,... bearer tokens; an asset's uploader is shown
                               only to its owner (none: everyone is anonymous)
  REEL_START_DEGRADED=1        start even when memcached, redis or search is unreachable
  RUST_LOG                     log filter (info); logs go to stderr, coloured only on a terminal

`cargo xtask dev` starts every backend on free loopback ports and prints these lines.
Stops gracefully (finishing requests in flight) on Ctrl-C or SIGTERM.";

fn main() {
    // `--help` and `--version` answer before anything else happens.
    clap::Command::new("edge-api")
        .about(ABOUT)
        .version(env!("CARGO_PKG_VERSION"))
        .after_help(SETTINGS)
        .get_matches();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the async runtime: {error}");
            std::process::exit(1);
        }
    };
    std::process::exit(runtime.block_on(run()));
}

async fn run() -> i32 {
    // Logs on stderr (stdout carries only the address lines below), coloured on a terminal
    // unless NO_COLOR is set.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    // sqlx reports PostgreSQL's notices at info: "relation _sqlx_migrations already exists,
    // skipping" at every restart is noise, not news.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx::postgres::notice=warn"));
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(colour);
    #[cfg(feature = "otlp")]
    let otlp = match telemetry::otlp::Otlp::from_env() {
        Ok(otlp) => otlp,
        Err(error) => {
            eprintln!("{error} (check {})", telemetry::otlp::ENDPOINT_VARIABLE);
            return 2;
        }
    };
    let registry = tracing_subscriber::registry().with(filter).with(logs);
    #[cfg(feature = "otlp")]
    let registry = registry.with(otlp.as_ref().map(|otlp| otlp.layer()));
    registry.init();
    #[cfg(feature = "otlp")]
    if otlp.is_some() {
        tracing::info!("exporting traces over OTLP");
    }
    #[cfg(not(feature = "otlp"))]
    if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some() {
        tracing::warn!(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but this build has no OTLP export (build with --features otlp)"
        );
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("configuration error: {error}");
            return 2;
        }
    };
    let listen = config.listen;
    // Bind first: a taken port must fail before any backend is touched (no index created,
    // no key pair written).
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("cannot listen on {listen}: {error} (set REEL_LISTEN to another address)");
            return 1;
        }
    };
    // The metrics address too, before any side effect; `off` serves no metrics.
    let metrics = match config.metrics_listen {
        Some(address) => match tokio::net::TcpListener::bind(address).await {
            Ok(listener) => match telemetry::install_recorder() {
                Ok(handle) => Some((listener, handle)),
                Err(error) => {
                    eprintln!("{error}");
                    return 1;
                }
            },
            Err(error) => {
                eprintln!(
                    "cannot listen on {address} for /metrics: {error} (set REEL_METRICS_ADDR to another address, or to off)"
                );
                return 1;
            }
        },
        None => None,
    };
    let router = match app(config).await {
        Ok(router) => router,
        Err(error) => {
            eprintln!("cannot start: {error}");
            return 1;
        }
    };
    let address = listener.local_addr().unwrap_or(listen);
    println!("edge-api listening on http://{address}");
    // One signal stops both servers.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let metrics_server = metrics.map(|(listener, handle)| {
        if let Ok(address) = listener.local_addr() {
            println!("metrics on http://{address}/metrics");
        }
        let mut stopped = stopped.clone();
        tokio::spawn(telemetry::serve_metrics(listener, handle, async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }))
    });
    println!("try: curl -s 'http://{address}/v2/assets?include=owner&sort=-sizeBytes'");
    let shutdown = async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    };
    if let Err(error) = serve(listener, router, shutdown).await {
        eprintln!("server error: {error}");
        return 1;
    }
    if let Some(server) = metrics_server {
        match server.await {
            Ok(Err(error)) => tracing::warn!(%error, "the metrics server failed"),
            Err(error) => tracing::warn!(%error, "the metrics server task failed"),
            Ok(Ok(())) => {}
        }
    }
    #[cfg(feature = "otlp")]
    if let Some(otlp) = otlp {
        // Send the last spans before exiting.
        match tokio::task::spawn_blocking(move || otlp.shutdown()).await {
            Ok(Err(error)) => eprintln!("{error}"),
            Err(error) => eprintln!("cannot flush the last spans: {error}"),
            Ok(Ok(())) => {}
        }
    }
    tracing::info!("stopped");
    0
}

/// Completes on Ctrl-C (SIGINT) or, on Unix, SIGTERM (what containers and systemd send).
async fn shutdown_signal() {
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the server");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = terminate => tracing::info!("SIGTERM: shutting down; finishing requests in flight"),
        () = interrupt => tracing::info!("SIGINT: shutting down; finishing requests in flight"),
    }
}
