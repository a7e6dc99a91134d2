//! A first look at reel-core: a background poller publishes a "topology" through a hot-swappable
//! value, readers see each change, retries back off with jitter, and a secret stays redacted.

use std::time::Duration;

use reel_core::{BackgroundTask, Backoff, HotSwap, SecretSource};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    clap::Command::new("example-hello")
        .about("A first look at reel-core: a hot-swapped topology updated by a background task, \
retry delays with jitter, and a secret that prints redacted. Takes no arguments and needs no server.")
        .get_matches();
    let topology = HotSwap::new(vec!["127.0.0.1:11211".to_owned()]);
    let mut changes = topology.subscribe();

    let writer = topology.clone();
    let poller = BackgroundTask::spawn("fake-discovery", move |mut shutdown| async move {
        let mut port = 11212;
        while shutdown.sleep(Duration::from_millis(50)).await {
            writer.update(|nodes| {
                let mut nodes = nodes.clone();
                nodes.push(format!("127.0.0.1:{port}"));
                nodes
            });
            port += 1;
        }
    });

    for _ in 0..3 {
        let version = changes.changed().await;
        println!("topology v{version}: {:?}", *topology.load());
    }
    poller.shutdown().await?;
    println!("poller stopped cleanly");

    let backoff =
        Backoff::new(Duration::from_millis(100), Duration::from_secs(5)).with_max_retries(6);
    let delays: Vec<String> = backoff
        .delays()
        .map(|d| format!("{}ms", d.as_millis()))
        .collect();
    println!("retry delays (full jitter): {}", delays.join(", "));

    let secret = SecretSource::literal("not-for-logs").resolve()?;
    println!("a secret prints as {secret:?}");
    Ok(())
}
