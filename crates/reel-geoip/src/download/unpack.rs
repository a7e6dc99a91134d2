//! The `.mmdb` inside a download: plain, gzip, tar or tar.gz, recognised by content and
//! unpacked within the size limits.

use std::io::Read;

use crate::Error;

/// A reader that fails once more than `left` bytes have been read through it.
struct Limited<R> {
    inner: R,
    left: u64,
    exceeded: bool,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        match self.left.checked_sub(n as u64) {
            Some(left) => {
                self.left = left;
                Ok(n)
            }
            None => {
                self.exceeded = true;
                Err(std::io::Error::other("size limit exceeded"))
            }
        }
    }
}

/// The `.mmdb` inside a download: plain, gzip, tar or tar.gz, recognised by content, never
/// more than `max` bytes in memory. Gzip is inflated as a stream: a tar is read entry by
/// entry from the inflating stream, and all the inflated bytes together (other entries
/// included) are limited to `max` plus 64 MiB.
pub(super) fn unpack(body: &[u8], what: &str, max: u64) -> Result<Vec<u8>, Error> {
    let archive = |message: String| Error::Archive {
        what: what.to_owned(),
        message,
    };
    let too_large = || Error::TooLarge {
        what: format!("the database unpacked from {what}"),
        limit: max,
        hint: " (raise DownloadSource::max_database_bytes if the file is genuine)",
    };
    let budget = max.saturating_add(64 << 20);
    if body.starts_with(&[0x1f, 0x8b]) {
        let mut stream = Limited {
            inner: flate2::read::GzDecoder::new(body),
            left: budget,
            exceeded: false,
        };
        // Enough of the inflated stream to tell a tar from a plain database.
        let mut head = Vec::with_capacity(512);
        let read = (&mut stream).take(512).read_to_end(&mut head);
        if stream.exceeded {
            return Err(too_large());
        }
        read.map_err(|e| archive(format!("gzip: {e}")))?;
        let result = if is_tar(&head) {
            from_tar(std::io::Cursor::new(head).chain(&mut stream), max, &archive)
        } else {
            let mut out = head;
            (&mut stream)
                .take(max.saturating_add(1).saturating_sub(out.len() as u64))
                .read_to_end(&mut out)
                .map_err(|e| archive(format!("gzip: {e}")))
                .and_then(|_| {
                    if out.len() as u64 > max {
                        Err(too_large())
                    } else {
                        Ok(out)
                    }
                })
        };
        if stream.exceeded {
            return Err(too_large());
        }
        result
    } else if is_tar(body) {
        from_tar(body, max, &archive)
    } else if body.len() as u64 > max {
        Err(too_large())
    } else {
        Ok(body.to_vec())
    }
}

fn is_tar(data: &[u8]) -> bool {
    data.len() > 262 && &data[257..262] == b"ustar"
}

fn from_tar<R: Read>(
    reader: R,
    max: u64,
    archive: &dyn Fn(String) -> Error,
) -> Result<Vec<u8>, Error> {
    let mut tar = tar::Archive::new(reader);
    let entries = tar.entries().map_err(|e| archive(format!("tar: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| archive(format!("tar: {e}")))?;
        let is_mmdb = entry
            .path()
            .ok()
            .and_then(|p| p.extension().map(|ext| ext == "mmdb"))
            .unwrap_or(false);
        if is_mmdb && entry.header().entry_type().is_file() {
            let size = entry.size();
            if size > max {
                return Err(Error::TooLarge {
                    what: "the .mmdb entry of the archive".to_owned(),
                    limit: max,
                    hint: " (raise DownloadSource::max_database_bytes if the file is genuine)",
                });
            }
            // The header's size is bounded above but not trusted for the allocation.
            let mut out = Vec::with_capacity(size.min(16 << 20) as usize);
            entry
                .by_ref()
                .take(max)
                .read_to_end(&mut out)
                .map_err(|e| archive(format!("tar entry: {e}")))?;
            if (out.len() as u64) < size {
                return Err(archive(format!(
                    "the .mmdb entry is cut short ({} of {size} bytes)",
                    out.len()
                )));
            }
            return Ok(out);
        }
    }
    Err(archive("the archive has no .mmdb file".to_owned()))
}
