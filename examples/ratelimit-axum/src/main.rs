//! Runs the rate-limited axum example: `cargo run -p example-ratelimit-axum -- --help`.

use example_ratelimit_axum::{Options, app, limiter, serve};

#[tokio::main]
async fn main() {
    let options = match Options::parse_with_env(
        std::env::args().skip(1),
        std::env::var("REEL_REDIS_URL").ok(),
        std::env::var("REEL_MEMCACHE_SERVERS").ok(),
    ) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let limiter = match limiter(&options).await {
        Ok(limiter) => limiter,
        Err(error) => {
            eprintln!("cannot set up the rate limiter: {error}");
            std::process::exit(1);
        }
    };
    let listener = match tokio::net::TcpListener::bind(options.listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("cannot listen on {}: {error}", options.listen);
            std::process::exit(1);
        }
    };
    println!(
        "listening on http://{} with {} per client",
        options.listen, options.quota
    );
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(error) = serve(listener, app(limiter, &options), shutdown).await {
        eprintln!("server error: {error}");
        std::process::exit(1);
    }
}
