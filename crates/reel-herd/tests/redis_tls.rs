//! TLS to a real redis-server started with `--tls-port` and certificates generated here
//! (rcgen): commands work with the right CA, and a wrong CA is a clear error.
#![cfg(feature = "redis-tls")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test and bench helpers: a panic is a failed run.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use reel_herd::{ClusterBuilder, Error, RedisCluster, RedisSettings, RedisTls, StaticDiscovery};
use reel_testkit::{free_port, wait_for_port};

/// A CA and a server certificate for `localhost` / `127.0.0.1` signed by it, as PEM.
struct Pki {
    ca: String,
    server_cert: String,
    server_key: String,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn pki() -> Pki {
    let ca = ca("reel-herd test CA");
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    Pki {
        ca: ca.pem(),
        server_cert: cert.pem(),
        server_key: key.serialize_pem(),
    }
}

/// redis-server listening with TLS only, on loopback; killed on drop.
struct TlsRedis {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl TlsRedis {
    fn start(pki: &Pki) -> Self {
        let port = free_port().unwrap();
        let dir = std::env::temp_dir().join(format!("reel-herd-tls-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path.to_string_lossy().into_owned()
        };
        let cert = write("server.crt", &pki.server_cert);
        let key = write("server.key", &pki.server_key);
        let ca = write("ca.crt", &pki.ca);
        let child = Command::new("redis-server")
            .args([
                "--port",
                "0",
                "--bind",
                "127.0.0.1",
                "127.0.0.2",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--tls-port", &port.to_string()])
            .args(["--tls-cert-file", &cert, "--tls-key-file", &key])
            .args(["--tls-ca-cert-file", &ca, "--tls-auth-clients", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (install it or run cargo xtask setup)");
        let server = Self { child, port, dir };
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        assert!(
            wait_for_port(addr, Duration::from_secs(10)),
            "redis-server with TLS did not start (a build without TLS support?)"
        );
        server
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn cluster(host: &str, port: u16, tls: RedisTls) -> RedisCluster {
    ClusterBuilder::new(StaticDiscovery::parse(&format!("{host}:{port}")).unwrap())
        .build_redis_with(RedisSettings::new().tls(tls))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_go_over_tls_and_a_wrong_ca_is_a_clear_error() {
    let pki = pki();
    let server = TlsRedis::start(&pki);

    // The right CA, by name and by address.
    for host in ["localhost", "127.0.0.1"] {
        let cache = cluster(host, server.port, RedisTls::new().ca_pem(pki.ca.clone())).await;
        let () = cache
            .query("tls:key", redis::cmd("SET").arg("tls:key").arg(host))
            .await
            .unwrap();
        let value: Option<String> = cache
            .query("tls:key", redis::cmd("GET").arg("tls:key"))
            .await
            .unwrap();
        assert_eq!(value.as_deref(), Some(host));
    }

    // Another CA (another name, or the same name with another key): a TLS error that says
    // what to check, not held against the node.
    for wrong in [ca("some other CA"), ca("reel-herd test CA")] {
        let cache = cluster(
            "localhost",
            server.port,
            RedisTls::new().ca_pem(wrong.pem()),
        )
        .await;
        let error = cache
            .query::<Option<String>>("tls:key", redis::cmd("GET").arg("tls:key"))
            .await
            .unwrap_err();
        assert!(matches!(error, Error::Tls { .. }), "{error:?}");
        assert!(!error.is_node_failure());
        let message = error.to_string();
        assert!(
            message.contains(&format!("localhost:{}", server.port))
                && message.contains("TLS handshake failed")
                && message.contains("CA certificate"),
            "{message}"
        );
        println!("wrong CA: {message}");
    }
    // A certificate that does not name the host connected to.
    let cache = cluster(
        "127.0.0.2",
        server.port,
        RedisTls::new().ca_pem(pki.ca.clone()),
    )
    .await;
    let error = cache
        .query::<Option<String>>("tls:key", redis::cmd("GET").arg("tls:key"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::Tls { .. }) && error.to_string().contains("not valid for name"),
        "{error}"
    );
}
