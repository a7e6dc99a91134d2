//! Key management against `moto_server` (PyPI `moto[server]`) on loopback: what moto
//! implements (public keys: create, get, list, delete; key groups: create, get, list).
//! `UpdateKeyGroup` (adding or removing a key) is not implemented by moto and is not tested.
#![cfg(feature = "key-management")]
// Test helpers panic on broken fixtures or missing tools; that is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_cloudfront::config::{BehaviorVersion, Credentials, Region};
use reel_cloudfront::key_management::KeyManager;
use reel_cloudfront::{HashAlgorithm, Policy, PublicKey, Signer, SigningKey};

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys");

/// A moto server on a free loopback port, killed on drop.
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    fn start() -> Self {
        let program = reel_testkit::venv_bin("moto_server");
        assert!(
            program.exists(),
            "{} is missing: install `moto[server]` into reel-venv (`cargo xtask setup`)",
            program.display()
        );
        let port = reel_testkit::free_port().unwrap();
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut moto = Self { child, port };
        assert!(
            reel_testkit::wait_for_port(addr, Duration::from_secs(30)),
            "moto_server did not listen on {addr}"
        );
        assert!(
            moto.child.try_wait().unwrap().is_none(),
            "moto_server exited"
        );
        moto
    }

    fn manager(&self) -> KeyManager {
        let config = aws_sdk_cloudfront::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(format!("http://127.0.0.1:{}", self.port))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
            .build();
        KeyManager::new(aws_sdk_cloudfront::Client::from_conf(config))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn key(name: &str) -> SigningKey {
    SigningKey::from_pem(&std::fs::read_to_string(format!("{KEYS}/{name}")).unwrap()).unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn upload_list_group_and_delete_public_keys() {
    let moto = Moto::start();
    let manager = moto.manager();

    let rsa = key("rsa2048-pkcs1.pem");
    let ecdsa = key("p256-sec1.pem");
    let first = manager
        .upload_public_key("media-2026-10", &rsa.public_key(), Some("old key"))
        .await
        .unwrap();
    let second = manager
        .upload_public_key("media-2026-11", &ecdsa.public_key(), None)
        .await
        .unwrap();
    assert_ne!(first.id, second.id);
    assert_eq!(first.name, "media-2026-10");
    // moto 5.2 does not echo the comment back, so it is not checked here.
    // What CloudFront stores is the key we sign with.
    assert_eq!(
        PublicKey::from_pem(&first.encoded_key).unwrap(),
        rsa.public_key()
    );
    assert_eq!(
        PublicKey::from_pem(&second.encoded_key).unwrap(),
        ecdsa.public_key()
    );

    let listed = manager.list_public_keys().await.unwrap();
    let mut ids: Vec<&str> = listed.iter().map(|k| k.id.as_str()).collect();
    ids.sort_unstable();
    let mut expected = vec![first.id.as_str(), second.id.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected);

    let group = manager
        .create_key_group(
            "media",
            std::slice::from_ref(&first.id),
            Some("trusted by the media distribution"),
        )
        .await
        .unwrap();
    assert_eq!(group.name, "media");
    assert_eq!(group.key_ids, std::slice::from_ref(&first.id));
    assert_eq!(
        manager.key_group_keys(&group.id).await.unwrap(),
        std::slice::from_ref(&first.id)
    );
    let groups = manager.list_key_groups().await.unwrap();
    assert!(
        groups
            .iter()
            .any(|g| g.id == group.id && g.key_ids == std::slice::from_ref(&first.id))
    );

    // The id CloudFront assigned is the Key-Pair-Id of signed URLs; the stored key verifies them.
    let signer = Signer::new(second.id.clone(), ecdsa).unwrap();
    let policy =
        Policy::canned("https://d111111abcdef8.cloudfront.net/a.jpg", 4_102_444_800).unwrap();
    let signed = signer.sign(&policy).unwrap();
    assert_eq!(signed.key_pair_id(), second.id);
    let stored = PublicKey::from_pem(&second.encoded_key).unwrap();
    let signature = reel_cloudfront::cloudfront_base64_decode(signed.signature()).unwrap();
    assert!(stored.verify(policy.json().as_bytes(), &signature, HashAlgorithm::Sha256));

    manager.delete_public_key(&second.id).await.unwrap();
    let remaining: Vec<String> = manager
        .list_public_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.id)
        .collect();
    assert_eq!(remaining, std::slice::from_ref(&first.id));

    // Errors name the operation and carry the service's message.
    let error = manager.delete_public_key("KNOSUCHKEY").await.unwrap_err();
    assert!(error.to_string().contains("GetPublicKey"), "{error}");
    let error = manager.key_group("no-such-group").await.unwrap_err();
    assert!(error.to_string().contains("GetKeyGroup"), "{error}");
}

#[tokio::test(flavor = "current_thread")]
async fn unreachable_endpoint_is_a_clear_error() {
    let port = reel_testkit::free_port().unwrap();
    let config = aws_sdk_cloudfront::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .retry_config(aws_sdk_cloudfront::config::retry::RetryConfig::disabled())
        .build();
    let manager = KeyManager::new(aws_sdk_cloudfront::Client::from_conf(config));
    let error = manager.list_public_keys().await.unwrap_err();
    assert!(error.to_string().contains("ListPublicKeys"), "{error}");
}
