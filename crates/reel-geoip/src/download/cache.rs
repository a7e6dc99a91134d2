//! The cache directory: the validators recorded beside a cached file, and the writes that
//! several processes sharing the directory can do safely (an advisory lock, exclusively
//! created temporary files, fsync, rename, directory fsync).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Validators of the last download, sent back as `If-None-Match` / `If-Modified-Since`.
///
/// They are tied to the URL they came from and to the cached file they describe: after a
/// mirror change, or when the cached file is not the one they were recorded for (another
/// updater replaced it, or it was moved aside), they are not sent, so a stale validator can
/// never keep an old database alive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Validators {
    /// The URL (credentials redacted) the validators came from.
    pub(super) url: Option<String>,
    /// SHA-256 of the `.mmdb` they describe.
    pub(super) sha256: Option<String>,
    pub(super) etag: Option<String>,
    pub(super) last_modified: Option<String>,
}

impl Validators {
    pub(super) fn parse(text: &str) -> Self {
        let mut v = Self::default();
        for line in text.lines() {
            if let Some(url) = line.strip_prefix("url: ") {
                v.url = Some(url.to_owned());
            } else if let Some(sha) = line.strip_prefix("sha256: ") {
                v.sha256 = Some(sha.to_owned());
            } else if let Some(etag) = line.strip_prefix("etag: ") {
                v.etag = Some(etag.to_owned());
            } else if let Some(date) = line.strip_prefix("last-modified: ") {
                v.last_modified = Some(date.to_owned());
            }
        }
        v
    }

    pub(super) fn render(&self) -> String {
        let mut out = String::new();
        for (name, value) in [
            ("url", &self.url),
            ("sha256", &self.sha256),
            ("etag", &self.etag),
            ("last-modified", &self.last_modified),
        ] {
            if let Some(value) = value {
                out.push_str(&format!("{name}: {value}\n"));
            }
        }
        out
    }
}

pub(super) fn meta_path(path: &Path) -> PathBuf {
    path.with_extension("mmdb.validators")
}

/// An exclusive advisory lock (`flock`) on `<cache file>.lock`, held while the cache file
/// and its validators are written, so updaters sharing a directory take turns.
pub(super) struct CacheLock {
    _file: std::fs::File,
}

impl CacheLock {
    pub(super) fn acquire(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path.with_extension("mmdb.lock"))?;
        file.lock()?;
        Ok(Self { _file: file })
    }
}

/// A name no other process or thread uses: not the process id (every container is PID 1).
fn unique_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // RandomState is seeded from the OS's random source once per process.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    format!("{:016x}", hasher.finish())
}

/// Writes `bytes` to a new temporary file next to `path` (created exclusively, never
/// truncating someone else's), fsyncs it and returns its name.
pub(super) fn stage(path: &Path, bytes: &[u8]) -> Result<PathBuf, std::io::Error> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut attempts = 0;
    let (tmp, mut file) = loop {
        let tmp = path.with_file_name(format!("{file_name}.tmp-{}", unique_suffix()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(file) => break (tmp, file),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempts < 8 => {
                attempts += 1;
            }
            Err(e) => return Err(e),
        }
    };
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(tmp)
}

/// Renames `tmp` over `path` and fsyncs the directory so the rename survives a crash.
pub(super) fn commit(tmp: &Path, path: &Path) -> Result<(), std::io::Error> {
    std::fs::rename(tmp, path)?;
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

pub(super) fn sync_dir(dir: &Path) -> Result<(), std::io::Error> {
    #[cfg(unix)]
    {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        std::fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), std::io::Error> {
    let tmp = stage(path, bytes)?;
    commit(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
