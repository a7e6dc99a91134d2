//! Runs edge-api: `cargo run -p example-edge-api` (configuration: `REEL_*` variables, see the
//! crate docs).

use example_edge_api::{Config, app, serve};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("configuration error: {error}");
            std::process::exit(2);
        }
    };
    let listen = config.listen;
    let router = match app(config).await {
        Ok(router) => router,
        Err(error) => {
            eprintln!("cannot start: {error}");
            std::process::exit(1);
        }
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("cannot listen on {listen}: {error} (set REEL_LISTEN to another address)");
            std::process::exit(1);
        }
    };
    let address = listener.local_addr().unwrap_or(listen);
    println!("edge-api listening on http://{address}");
    println!("try: curl -s 'http://{address}/v2/assets?include=owner&sort=-sizeBytes'");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down; finishing requests in flight");
    };
    if let Err(error) = serve(listener, router, shutdown).await {
        eprintln!("server error: {error}");
        std::process::exit(1);
    }
}
