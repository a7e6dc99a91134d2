//! Configured size limits: a `.mmdb.gz` gzip bomb inflates no further than
//! `max_database_bytes`, and a body larger than `max_download_bytes` is refused.
//!
//! Its own test binary so the peak RSS (`VmHWM`, per process) measures this test alone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write;

use reel_geoip::{DownloadSource, Error, GeoIp};
use support::maxmind_standin::server;

fn vm_hwm_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[tokio::test]
async fn limits_bound_inflation_and_the_body() {
    // 2 GiB of zeros gzipped as a plain `.mmdb.gz`, generated streaming.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..2048 {
        gz.write_all(&zeros).unwrap();
    }
    let bomb = gz.finish().unwrap();
    let (base, served) = server().await;
    {
        let mut s = served.lock().unwrap();
        s.files.push(("bomb.mmdb.gz".into(), bomb));
        s.files.push(("big.mmdb".into(), vec![7u8; 4 << 20]));
    }
    let geoip = GeoIp::new();
    let before = vm_hwm_bytes();
    let err = DownloadSource::url(format!("{base}/files/bomb.mmdb.gz"))
        .max_database_bytes(32 << 20)
        .check_now(&geoip)
        .await
        .unwrap_err();
    let peak = vm_hwm_bytes();
    println!(
        "2 GiB .mmdb.gz bomb, 32 MiB limit: peak RSS {} MiB before, {} MiB after",
        before >> 20,
        peak >> 20
    );
    assert!(
        matches!(err, Error::TooLarge { limit, .. } if limit == 32 << 20),
        "{err}"
    );
    assert!(
        peak < before + (96 << 20),
        "peak RSS grew by {} MiB",
        (peak - before) >> 20
    );

    let err = DownloadSource::url(format!("{base}/files/big.mmdb"))
        .max_download_bytes(1 << 20)
        .check_now(&geoip)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::TooLarge { limit, .. } if limit == 1 << 20),
        "{err}"
    );
    assert!(!err.is_transient());
}
