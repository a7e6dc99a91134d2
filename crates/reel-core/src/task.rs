//! A background task that stops gracefully on request or when its handle is dropped.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Tells a background task that it should stop; from [`BackgroundTask::spawn`].
///
/// Tasks check it between units of work, usually with `tokio::select!` on
/// [`cancelled`](Self::cancelled).
#[derive(Debug, Clone)]
pub struct ShutdownSignal {
    receiver: watch::Receiver<bool>,
}

impl ShutdownSignal {
    /// Completes once shutdown has been requested (at once if it already was).
    pub async fn cancelled(&mut self) {
        // An error means every sender is gone, which only happens when the handle was dropped:
        // that is a shutdown request too.
        let _ = self.receiver.wait_for(|stop| *stop).await;
    }

    /// Whether shutdown has been requested.
    pub fn is_cancelled(&self) -> bool {
        *self.receiver.borrow() || self.receiver.has_changed().is_err()
    }

    /// Sleeps for `duration` unless shutdown is requested first; returns `false` when the task
    /// should stop.
    pub async fn sleep(&mut self, duration: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(duration) => !self.is_cancelled(),
            () = self.cancelled() => false,
        }
    }
}

/// Why a background task did not end cleanly.
#[derive(Debug)]
#[non_exhaustive]
pub enum TaskError {
    /// The task panicked.
    Panicked(String),
    /// The task did not stop within the grace period and was aborted.
    TimedOut(Duration),
    /// The task was aborted.
    Aborted,
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Panicked(message) => write!(f, "background task panicked: {message}"),
            Self::TimedOut(grace) => write!(
                f,
                "background task did not stop within {grace:?} and was aborted"
            ),
            Self::Aborted => f.write_str("background task was aborted"),
        }
    }
}

impl std::error::Error for TaskError {}

/// A spawned tokio task with graceful shutdown.
///
/// The task receives a [`ShutdownSignal`]. [`shutdown`](Self::shutdown) requests a stop and
/// waits for the task to finish; dropping the handle requests a stop without waiting (the task
/// still finishes its current step).
///
/// ```
/// use std::time::Duration;
/// use reel_core::BackgroundTask;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let poller = BackgroundTask::spawn("discovery-poller", |mut shutdown| async move {
///     let mut polls = 0u32;
///     while shutdown.sleep(Duration::from_millis(10)).await {
///         polls += 1; // poll the discovery endpoint here
///     }
///     // clean-up runs here before the task ends
/// });
/// tokio::time::sleep(Duration::from_millis(30)).await;
/// poller.shutdown().await.expect("stopped cleanly");
/// # }
/// ```
pub struct BackgroundTask {
    name: String,
    stop: watch::Sender<bool>,
    handle: Option<JoinHandle<()>>,
}

impl fmt::Debug for BackgroundTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackgroundTask")
            .field("name", &self.name)
            .field("stop_requested", &*self.stop.borrow())
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl BackgroundTask {
    /// Spawns `task` on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// Panics when called outside a tokio runtime, like [`tokio::spawn`].
    pub fn spawn<F, Fut>(name: impl Into<String>, task: F) -> Self
    where
        F: FnOnce(ShutdownSignal) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let name = name.into();
        let (stop, receiver) = watch::channel(false);
        let future = task(ShutdownSignal { receiver });
        let span = tracing::debug_span!("background_task", task = %name);
        let handle = tokio::spawn(tracing::Instrument::instrument(future, span));
        tracing::debug!(task = %name, "background task started");
        Self {
            name,
            stop,
            handle: Some(handle),
        }
    }

    /// The name given at spawn, used in logs.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Asks the task to stop without waiting for it.
    pub fn request_shutdown(&self) {
        self.stop.send_replace(true);
    }

    /// Whether the task has ended.
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Asks the task to stop and waits until it has.
    pub async fn shutdown(mut self) -> Result<(), TaskError> {
        self.request_shutdown();
        match self.handle.take() {
            Some(handle) => join(handle).await,
            None => Ok(()),
        }
    }

    /// Asks the task to stop, waits up to `grace`, then aborts it.
    pub async fn shutdown_timeout(mut self, grace: Duration) -> Result<(), TaskError> {
        self.request_shutdown();
        let Some(mut handle) = self.handle.take() else {
            return Ok(());
        };
        match tokio::time::timeout(grace, &mut handle).await {
            Ok(result) => result_of(result),
            Err(_) => {
                handle.abort();
                tracing::warn!(task = %self.name, ?grace, "background task aborted after grace period");
                Err(TaskError::TimedOut(grace))
            }
        }
    }

    /// Stops the task at its next await point without letting it clean up.
    pub fn abort(&self) {
        if let Some(handle) = &self.handle {
            handle.abort();
        }
    }
}

async fn join(handle: JoinHandle<()>) -> Result<(), TaskError> {
    result_of(handle.await)
}

fn result_of(result: Result<(), tokio::task::JoinError>) -> Result<(), TaskError> {
    match result {
        Ok(()) => Ok(()),
        Err(error) if error.is_panic() => {
            let payload = error.into_panic();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_owned());
            Err(TaskError::Panicked(message))
        }
        Err(_) => Err(TaskError::Aborted),
    }
}

impl Drop for BackgroundTask {
    fn drop(&mut self) {
        if self.handle.is_some() {
            self.request_shutdown();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    #[tokio::test]
    async fn shutdown_really_stops_the_task_and_runs_cleanup() {
        let ticks = Arc::new(AtomicU32::new(0));
        let cleaned = Arc::new(AtomicBool::new(false));
        let (t, c) = (Arc::clone(&ticks), Arc::clone(&cleaned));
        let task = BackgroundTask::spawn("ticker", move |mut stop| async move {
            while stop.sleep(Duration::from_millis(1)).await {
                t.fetch_add(1, Ordering::SeqCst);
            }
            c.store(true, Ordering::SeqCst);
        });
        while ticks.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        task.shutdown().await.unwrap();
        assert!(cleaned.load(Ordering::SeqCst));
        let after = ticks.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            ticks.load(Ordering::SeqCst),
            after,
            "task kept running after shutdown"
        );
    }

    #[tokio::test]
    async fn drop_requests_shutdown() {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let task = BackgroundTask::spawn("dropped", move |mut stop| async move {
            stop.cancelled().await;
            let _ = done_tx.send(());
        });
        drop(task);
        tokio::time::timeout(Duration::from_secs(5), done_rx)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn stubborn_task_is_aborted_after_grace() {
        let task = BackgroundTask::spawn("stubborn", |_stop| async move {
            std::future::pending::<()>().await;
        });
        let err = task
            .shutdown_timeout(Duration::from_millis(20))
            .await
            .unwrap_err();
        assert!(matches!(err, TaskError::TimedOut(_)), "{err}");
    }

    #[tokio::test]
    async fn panics_are_reported() {
        let task = BackgroundTask::spawn("panicky", |_stop| async move { panic!("boom") });
        tokio::time::sleep(Duration::from_millis(10)).await;
        match task.shutdown().await {
            Err(TaskError::Panicked(message)) => assert_eq!(message, "boom"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn signal_reports_state() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = BackgroundTask::spawn("state", move |stop| async move {
            let _ = tx.send(stop);
        });
        let stop = rx.await.unwrap();
        assert!(!stop.is_cancelled());
        task.request_shutdown();
        assert!(stop.is_cancelled());
        task.shutdown().await.unwrap();
    }
}
