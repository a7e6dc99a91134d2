//! A read-mostly value with lock-free reads and atomic replacement.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;

/// A temporary read of a [`HotSwap`] value; dereferences to `T`.
///
/// Hold it only briefly (for one lookup): a long-lived read should use
/// [`HotSwap::load_full`], which returns an owned `Arc`.
pub struct Guard<T>(arc_swap::Guard<Arc<T>>);

impl<T> std::ops::Deref for Guard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: fmt::Debug> fmt::Debug for Guard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T> Guard<T> {
    /// Turns the temporary read into an owned handle.
    pub fn into_arc(self) -> Arc<T> {
        arc_swap::Guard::into_inner(self.0)
    }
}

/// A shared value that many threads read without locks while a writer replaces it atomically.
///
/// Readers see either the old value or the new one, never a mix; a reader that loaded the old
/// value keeps it alive until it is done, and the old value is freed when the last reader lets
/// go. Clones share the same value. Every replacement increments a [`version`](Self::version);
/// with the `tokio` feature, [`subscribe`](Self::subscribe) waits for replacements.
///
/// ```
/// use std::sync::Arc;
/// use reel_core::HotSwap;
///
/// let db = HotSwap::new(String::from("GeoLite2-City 2026-11-20"));
/// let reader = db.clone();
/// let in_flight: Arc<String> = reader.load_full();
/// let old = db.swap(String::from("GeoLite2-City 2026-11-24"));
/// assert_eq!(*old, "GeoLite2-City 2026-11-20");
/// assert_eq!(*in_flight, "GeoLite2-City 2026-11-20"); // still valid
/// assert_eq!(*reader.load(), "GeoLite2-City 2026-11-24");
/// assert_eq!(db.version(), 1);
/// ```
pub struct HotSwap<T> {
    inner: Arc<Inner<T>>,
}

struct Inner<T> {
    value: ArcSwap<T>,
    version: AtomicU64,
    #[cfg(feature = "tokio")]
    notify: tokio::sync::watch::Sender<u64>,
}

impl<T> Clone for HotSwap<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for HotSwap<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HotSwap")
            .field("value", &*self.load())
            .field("version", &self.version())
            .finish()
    }
}

impl<T: Default> Default for HotSwap<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> HotSwap<T> {
    /// Wraps `value`; its version is 0.
    pub fn new(value: T) -> Self {
        Self::from_arc(Arc::new(value))
    }

    /// Wraps an already shared value.
    pub fn from_arc(value: Arc<T>) -> Self {
        Self {
            inner: Arc::new(Inner {
                value: ArcSwap::new(value),
                version: AtomicU64::new(0),
                #[cfg(feature = "tokio")]
                notify: tokio::sync::watch::Sender::new(0),
            }),
        }
    }

    /// A cheap, lock-free read for immediate use.
    pub fn load(&self) -> Guard<T> {
        Guard(self.inner.value.load())
    }

    /// An owned handle to the current value, for reads that outlive a replacement.
    pub fn load_full(&self) -> Arc<T> {
        self.inner.value.load_full()
    }

    /// Replaces the value.
    pub fn store(&self, value: T) {
        let _old = self.swap_arc(Arc::new(value));
    }

    /// Replaces the value and returns the previous one.
    pub fn swap(&self, value: T) -> Arc<T> {
        self.swap_arc(Arc::new(value))
    }

    /// Replaces the value with an already shared one and returns the previous one.
    pub fn swap_arc(&self, value: Arc<T>) -> Arc<T> {
        let old = self.inner.value.swap(value);
        self.bump();
        old
    }

    /// Replaces the value with `update(current)`, retrying if another writer got in between
    /// (read-copy-update). `update` may run more than once. Returns the new value.
    pub fn update<F>(&self, mut update: F) -> Arc<T>
    where
        F: FnMut(&T) -> T,
    {
        let mut new = None;
        self.inner.value.rcu(|current| {
            let next = Arc::new(update(current));
            new = Some(Arc::clone(&next));
            next
        });
        self.bump();
        new.unwrap_or_else(|| self.load_full())
    }

    /// How many times the value has been replaced.
    pub fn version(&self) -> u64 {
        self.inner.version.load(Ordering::Acquire)
    }

    fn bump(&self) {
        let version = self.inner.version.fetch_add(1, Ordering::AcqRel) + 1;
        #[cfg(feature = "tokio")]
        self.inner.notify.send_replace(version);
        #[cfg(not(feature = "tokio"))]
        let _ = version;
    }

    /// A subscription that wakes when the value is replaced.
    ///
    /// ```
    /// use reel_core::HotSwap;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let topology = HotSwap::new(2_usize);
    /// let mut changes = topology.subscribe();
    /// topology.store(4);
    /// changes.changed().await;
    /// assert_eq!(*topology.load(), 4);
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub fn subscribe(&self) -> Subscription {
        Subscription {
            receiver: self.inner.notify.subscribe(),
        }
    }
}

/// Waits for replacements of a [`HotSwap`] value; from [`HotSwap::subscribe`].
#[cfg(feature = "tokio")]
#[derive(Debug)]
pub struct Subscription {
    receiver: tokio::sync::watch::Receiver<u64>,
}

#[cfg(feature = "tokio")]
impl Subscription {
    /// Completes when the value has been replaced since the subscription was created or since
    /// the last call, and returns the new version. Replacements in between are coalesced.
    pub async fn changed(&mut self) -> u64 {
        // The sender lives inside the HotSwap, which outlives nothing we hold: if every HotSwap
        // handle is gone no change can come, so wait forever like a closed channel would.
        if self.receiver.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
        *self.receiver.borrow_and_update()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn concurrent_readers_never_see_a_torn_value() {
        // Each value is a vector whose elements all equal its first element; a torn read
        // would show two different numbers. The writer keeps replacing until the readers have
        // done real work, so the test means something even on a loaded machine.
        const MIN_STORES: u64 = 2_000;
        const MIN_READS: u64 = 20_000;
        let shared = HotSwap::new(vec![0u64; 64]);
        let stop = Arc::new(AtomicBool::new(false));
        let reads = Arc::new(AtomicU64::new(0));
        let barrier = Arc::new(std::sync::Barrier::new(5));
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let (shared, stop, reads, barrier) = (
                    shared.clone(),
                    Arc::clone(&stop),
                    Arc::clone(&reads),
                    Arc::clone(&barrier),
                );
                std::thread::spawn(move || {
                    barrier.wait();
                    let mut last = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let v = shared.load();
                        assert!(v.iter().all(|x| *x == v[0]), "torn read");
                        assert!(v[0] >= last, "went back in time");
                        last = v[0];
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        barrier.wait();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut n = 0u64;
        while n < MIN_STORES
            || (reads.load(Ordering::Relaxed) < MIN_READS && std::time::Instant::now() < deadline)
        {
            n += 1;
            shared.store(vec![n; 64]);
            if n.is_multiple_of(64) {
                std::thread::yield_now();
            }
        }
        stop.store(true, Ordering::Relaxed);
        readers.into_iter().for_each(|r| r.join().unwrap());
        assert!(
            reads.load(Ordering::Relaxed) >= MIN_READS,
            "readers barely ran"
        );
        assert_eq!(shared.version(), n);
        assert_eq!(shared.load()[0], n);
    }

    #[test]
    fn old_value_is_freed_after_last_reader() {
        let shared = HotSwap::new(String::from("old"));
        let held = shared.load_full();
        let weak = Arc::downgrade(&held);
        shared.store(String::from("new"));
        assert!(weak.upgrade().is_some());
        drop(held);
        assert!(weak.upgrade().is_none(), "old value leaked");
    }

    #[test]
    fn update_is_read_copy_update() {
        let counter = HotSwap::new(0u64);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let counter = counter.clone();
                std::thread::spawn(move || {
                    for _ in 0..1_000 {
                        counter.update(|n| n + 1);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(*counter.load(), 4_000);
    }

    #[cfg(feature = "tokio")]
    #[tokio::test]
    async fn subscribers_wake_on_change() {
        let shared = HotSwap::new(1);
        let mut sub = shared.subscribe();
        let writer = shared.clone();
        tokio::spawn(async move { writer.store(2) });
        let version = tokio::time::timeout(std::time::Duration::from_secs(5), sub.changed())
            .await
            .expect("no change notification");
        assert_eq!(version, 1);
        assert_eq!(*shared.load(), 2);
    }
}
