//! Runs the rate-limited axum example: `cargo run -p example-ratelimit-axum -- --help`.

use example_ratelimit_axum::{Options, app, limiter, serve};

/// The command line as clap describes it: `--help` prints it and exits 0; the values are
/// then read by [`Options::parse_with_env`], which the tests drive directly.
fn command() -> clap::Command {
    use clap::{Arg, ArgAction};
    clap::Command::new("example-ratelimit-axum")
        .about("An axum service limited per client IP with reel-ratelimit: memory store by default, redis or memcached on request.")
        .arg(Arg::new("listen").long("listen").value_name("ADDR").help("address to listen on [default: 127.0.0.1:3000]"))
        .arg(Arg::new("redis").long("redis").value_name("URL").help("keep counters in redis (or set REEL_REDIS_URL)"))
        .arg(Arg::new("memcache").long("memcache").value_name("HOST:PORT,...").help("keep counters in memcached (or set REEL_MEMCACHE_SERVERS)"))
        .arg(Arg::new("quota").long("quota").value_name("QUOTA").help("per-client quota [default: 100/min burst 20]"))
        .arg(Arg::new("trust").long("trust").value_name("CIDRS").help("proxies whose X-Forwarded-For is believed [default: loopback]"))
        .arg(Arg::new("fail-closed").long("fail-closed").action(ArgAction::SetTrue).help("refuse requests while the store is down (default: admit them)"))
        .after_help("Try: curl -i http://127.0.0.1:3000/hello/ada (the X-RateLimit-* and RateLimit headers count down; past the quota the answer is 429 with Retry-After).")
}

#[tokio::main]
async fn main() {
    command().get_matches();
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
