//! Waiting for something to happen in a test: poll the condition with a deadline instead of
//! sleeping for a guessed time (too short on a loaded machine, too long everywhere else).

use std::time::{Duration, Instant};

/// How often [`eventually`] checks its condition.
const POLL_EVERY: Duration = Duration::from_millis(10);

/// Checks `condition` at once and then every 10 ms until it returns `true` or `within` has
/// passed; returns whether it held. The condition may be async (`async || ...`), and is
/// checked once more after the deadline, so a slow last poll is not a failure.
///
/// Pair it with an assertion that says what did not happen:
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let done = Arc::new(AtomicBool::new(false));
/// let flag = Arc::clone(&done);
/// tokio::spawn(async move { flag.store(true, Ordering::Relaxed) });
/// assert!(
///     reel_testkit::eventually(Duration::from_secs(5), async || done.load(Ordering::Relaxed)).await,
///     "the task never ran"
/// );
/// # }
/// ```
#[must_use = "assert the result: false means the condition never held"]
pub async fn eventually(within: Duration, mut condition: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if condition().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}
