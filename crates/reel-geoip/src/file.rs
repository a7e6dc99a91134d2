//! A local `.mmdb` file, reloaded when it changes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use reel_core::BackgroundTask;

use crate::{DatabaseInfo, Error, GeoIp, Slot};

/// What identifies one version of the file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
    /// Permission bits and status-change time: a `chmod` that makes an unreadable file
    /// readable changes neither content nor mtime, and must still trigger a reload.
    mode: u32,
    changed: (i64, i64),
}

fn fingerprint(path: &Path) -> Option<Fingerprint> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let (inode, mode, changed) = {
        use std::os::unix::fs::MetadataExt;
        (meta.ino(), meta.mode(), (meta.ctime(), meta.ctime_nsec()))
    };
    #[cfg(not(unix))]
    let (inode, mode, changed) = (0, 0, (0, 0));
    Some(Fingerprint {
        len: meta.len(),
        modified: meta.modified().ok(),
        inode,
        mode,
        changed,
    })
}

/// A local `.mmdb` file that is loaded into a [`GeoIp`] slot and reloaded when it changes.
///
/// Changes are noticed through file-system events (with the `watch` feature, on the file's
/// directory so the atomic-rename pattern — write `db.mmdb.tmp`, rename over `db.mmdb` — is
/// seen) and by polling the file's size, modification time and inode every
/// [`poll_interval`](Self::poll_interval), which also covers systems and network file systems
/// without events. After a change the source waits [`settle_delay`](Self::settle_delay) and
/// loads the file; a half-written file fails the [`Check`](crate::Check) and is ignored (the
/// failure is reported, the current database keeps serving), and the next change is tried
/// again. Replace files by renaming a complete file over the old one where you can.
///
/// A permission change counts as a change (a file made readable by `chmod` is loaded), and a
/// deleted file is reported once as a failure in the slot status and events (the loaded
/// database keeps serving) and loaded again when it reappears.
///
/// ```
/// use std::time::Duration;
/// use reel_geoip::{FileSource, GeoIp, Slot};
/// use reel_geoip::testdata::{CityDatabase, SAMPLE_V4};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = std::env::temp_dir().join(format!("reel-geoip-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("GeoLite2-City.mmdb");
/// std::fs::write(&path, CityDatabase::new().version(1).build()?)?;
///
/// let geoip = GeoIp::new();
/// let source = FileSource::new(&path, Slot::Location).poll_interval(Duration::from_millis(20));
/// source.load_now(&geoip)?; // serve at once, fail fast on a bad file
/// let watcher = source.spawn(geoip.clone());
///
/// // Publish version 2 the safe way: write elsewhere, rename over.
/// let mut changes = geoip.events();
/// std::fs::write(dir.join("next.tmp"), CityDatabase::new().version(2).build()?)?;
/// std::fs::rename(dir.join("next.tmp"), &path)?;
/// changes.recv().await?;
/// assert_eq!(geoip.location(SAMPLE_V4.parse()?)?.unwrap().accuracy_radius, Some(2));
///
/// watcher.shutdown().await?;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct FileSource {
    path: PathBuf,
    slot: Slot,
    poll_interval: Duration,
    settle_delay: Duration,
    use_events: bool,
    /// The file as it was just before the last read by `load_now`.
    last_read: Arc<Mutex<Option<Fingerprint>>>,
}

impl FileSource {
    /// A source for `path` feeding `slot`; polls every 5 s, settles 200 ms after a change.
    pub fn new(path: impl Into<PathBuf>, slot: Slot) -> Self {
        Self {
            path: path.into(),
            slot,
            poll_interval: Duration::from_secs(5),
            settle_delay: Duration::from_millis(200),
            use_events: true,
            last_read: Arc::default(),
        }
    }

    /// How often the file's metadata is compared, events or not.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// How long to wait after a file-system event before reading, so that a writer that
    /// writes in several steps is usually done.
    pub fn settle_delay(mut self, delay: Duration) -> Self {
        self.settle_delay = delay;
        self
    }

    /// Whether to use file-system events when the `watch` feature is on (default `true`);
    /// `false` relies on polling alone, e.g. on network file systems without events.
    pub fn use_events(mut self, use_events: bool) -> Self {
        self.use_events = use_events;
        self
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads and loads the file now (blocking). Failures keep the current database and are
    /// reported in the slot status.
    pub fn load_now(&self, geoip: &GeoIp) -> Result<DatabaseInfo, Error> {
        let source = self.path.display().to_string();
        // Taken before reading: a change during the read shows up as a new fingerprint later.
        let before = fingerprint(&self.path);
        *self.last_read.lock().unwrap_or_else(|p| p.into_inner()) = before;
        match std::fs::read(&self.path) {
            Ok(bytes) => geoip.replace(&self.slot, bytes, &source),
            Err(io) => {
                let error = Error::Io {
                    action: "reading",
                    path: self.path.clone(),
                    source: io,
                };
                geoip.report_failure(&self.slot, &source, &error);
                Err(error)
            }
        }
    }

    /// Watches the file in a background task on the current tokio runtime and reloads it on
    /// every change. The file is loaded at start if the slot is empty. Stop it with
    /// [`BackgroundTask::shutdown`] (or by dropping the handle).
    pub fn spawn(self, geoip: GeoIp) -> BackgroundTask {
        let name = format!("reel-geoip file {}", self.path.display());
        // Decided now, not when the task first runs: a change made between this call and the
        // task's first poll must still count as a change.
        let last_read = *self.last_read.lock().unwrap_or_else(|p| p.into_inner());
        let mut seen = match last_read {
            Some(fp) if geoip.is_loaded(&self.slot) => Some(fp),
            _ if geoip.is_loaded(&self.slot) => fingerprint(&self.path),
            _ => None,
        };
        BackgroundTask::spawn(name, move |mut shutdown| async move {
            let (tx, mut events) = tokio::sync::mpsc::unbounded_channel::<()>();
            let _watcher = if self.use_events {
                watch(&self.path, tx)
            } else {
                None
            };
            let mut first = !geoip.is_loaded(&self.slot);
            loop {
                if !first {
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(self.poll_interval) => {}
                        Some(()) = events.recv() => {
                            if !shutdown.sleep(self.settle_delay).await { break; }
                            while events.try_recv().is_ok() {}
                        }
                    }
                }
                first = false;
                let current = fingerprint(&self.path);
                if current.is_none() {
                    if seen.is_some() {
                        // Say so once; the loaded database keeps serving, and the file is
                        // loaded again as soon as it reappears.
                        seen = None;
                        let error = Error::Io {
                            action: "watching",
                            path: self.path.clone(),
                            source: std::io::Error::new(
                                std::io::ErrorKind::NotFound,
                                "the database file was deleted; the last loaded database keeps serving",
                            ),
                        };
                        geoip.report_failure(&self.slot, &self.path.display().to_string(), &error);
                    }
                    continue;
                }
                if current == seen {
                    continue;
                }
                seen = current;
                let source = self.clone();
                let geoip = geoip.clone();
                // Reading and verifying a 60 MB database is blocking work.
                let _ = tokio::task::spawn_blocking(move || source.load_now(&geoip)).await;
            }
        })
    }
}

#[cfg(feature = "watch")]
fn watch(
    path: &Path,
    tx: tokio::sync::mpsc::UnboundedSender<()>,
) -> Option<notify::RecommendedWatcher> {
    use notify::{RecursiveMode, Watcher};
    let file_name = path.file_name()?.to_owned();
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            // Events on siblings (the temporary file of an atomic rename) matter only once
            // the rename lands on our name, which is itself an event on our name.
            if event
                .paths
                .iter()
                .any(|p| p.file_name() == Some(&file_name))
            {
                let _ = tx.send(());
            }
        }
    })
    .map_err(|error| tracing::warn!(%error, "file watcher unavailable; polling only"))
    .ok()?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(|error| tracing::warn!(%error, dir = %dir.display(), "cannot watch directory; polling only"))
        .ok()?;
    Some(watcher)
}

#[cfg(not(feature = "watch"))]
fn watch(_path: &Path, _tx: tokio::sync::mpsc::UnboundedSender<()>) -> Option<()> {
    None
}
