//! A gzip bomb from a hostile mirror is refused with bounded memory (default limits).
//!
//! Its own test binary: the peak RSS (`VmHWM`) is per process, so no other test may run
//! alongside. The bomb is generated streaming (zeros through a gzip encoder; about 2 MB of
//! compressed bytes) and never stored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write;

use reel_geoip::{DownloadSource, GeoIp, Slot};
use support::maxmind_standin::server;

const GIB: u64 = 1 << 30;

fn vm_hwm_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// A `.tar.gz` whose one entry, `bomb.mmdb`, is 2 GiB of zeros, as the header says.
fn tar_gz_bomb() -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut header = tar::Header::new_ustar();
    header.set_path("GeoLite2-City_20261120/bomb.mmdb").unwrap();
    header.set_size(2 * GIB);
    header.set_mode(0o644);
    header.set_cksum();
    gz.write_all(header.as_bytes()).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..2048 {
        gz.write_all(&zeros).unwrap();
    }
    gz.write_all(&[0u8; 1024]).unwrap();
    gz.finish().unwrap()
}

#[tokio::test]
async fn a_two_gib_gzip_bomb_is_refused_with_bounded_memory() {
    let bomb = tar_gz_bomb();
    let compressed = bomb.len();
    let (base, served) = server().await;
    served
        .lock()
        .unwrap()
        .files
        .push(("bomb.tar.gz".into(), bomb));
    let geoip = GeoIp::new();
    let before = vm_hwm_bytes();
    let err = DownloadSource::url(format!("{base}/files/bomb.tar.gz"))
        .check_now(&geoip)
        .await
        .unwrap_err();
    let peak = vm_hwm_bytes();
    println!(
        "2 GiB bomb ({compressed} bytes compressed): peak RSS {} MiB before, {} MiB after",
        before >> 20,
        peak >> 20
    );
    assert!(err.to_string().contains("larger than"), "{err}");
    assert!(!geoip.is_loaded(&Slot::Location));
    assert!(
        peak < before + (64 << 20),
        "peak RSS grew by {} MiB",
        (peak - before) >> 20
    );
}
