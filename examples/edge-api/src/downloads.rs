//! Download links: each asset's `links.download` is a CloudFront signed URL.
//!
//! With `REEL_CLOUDFRONT_KEY_PAIR_ID` and `REEL_CLOUDFRONT_PRIVATE_KEY` the real key signs;
//! otherwise a development RSA-2048 key pair is generated on first run into the data directory
//! (`cloudfront-dev-private.pem`, `cloudfront-dev-public.pem`) and reused afterwards.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reel_cloudfront::{CachingSigner, KeyRing, Signer};
use reel_core::SecretSource;
use reel_jsonapi::Context;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};

use crate::model::Asset;

/// The key-pair id of the generated development key (CloudFront does not know it).
pub const DEV_KEY_PAIR_ID: &str = "KDEVELOPMENT0";
/// The development private key's file name in the data directory.
pub const DEV_PRIVATE_KEY_FILE: &str = "cloudfront-dev-private.pem";
/// The development public key's file name in the data directory (upload it to a key group
/// to try the URLs against a real distribution).
pub const DEV_PUBLIC_KEY_FILE: &str = "cloudfront-dev-public.pem";

/// How long a download link stays valid.
const LINK_TTL: Duration = Duration::from_secs(3600);

/// Signs the download links of assets; the per-request [`Context`] of asset documents carries
/// it so that each resource object gets its `links.download`.
#[derive(Debug)]
pub struct DownloadSigner {
    signer: CachingSigner,
    base_url: String,
    key_pair_id: String,
}

fn fail(reason: impl std::fmt::Display) -> crate::StartError {
    crate::StartError::CloudFront(reason.to_string())
}

/// Reads the development key from `dir`, generating and writing it first if it is missing.
fn development_key(dir: &Path) -> Result<String, crate::StartError> {
    let private_path: PathBuf = dir.join(DEV_PRIVATE_KEY_FILE);
    if let Ok(pem) = std::fs::read_to_string(&private_path) {
        return Ok(pem);
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
    let key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048)
        .map_err(|e| fail(format!("cannot generate a development key: {e}")))?;
    let private_pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| fail(format!("cannot encode the development key: {e}")))?;
    let public_pem = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| fail(format!("cannot encode the development public key: {e}")))?;
    std::fs::write(dir.join(DEV_PUBLIC_KEY_FILE), public_pem.as_bytes())
        .and_then(|()| std::fs::write(&private_path, private_pem.as_bytes()))
        .map_err(|e| {
            fail(format!(
                "cannot write the development key into {}: {e}",
                dir.display()
            ))
        })?;
    tracing::warn!(
        path = %private_path.display(),
        "generated a development CloudFront key pair; set REEL_CLOUDFRONT_KEY_PAIR_ID and REEL_CLOUDFRONT_PRIVATE_KEY for real links"
    );
    Ok(private_pem.to_string())
}

impl DownloadSigner {
    pub(crate) fn from_config(config: &crate::Config) -> Result<Self, crate::StartError> {
        let signer = match (
            &config.cloudfront_key_pair_id,
            &config.cloudfront_private_key,
        ) {
            (Some(id), Some(source)) => {
                let source: SecretSource = source
                    .parse()
                    .map_err(|e| fail(format!("REEL_CLOUDFRONT_PRIVATE_KEY: {e}")))?;
                Signer::from_secret(id.clone(), &source).map_err(fail)?
            }
            _ => {
                let pem = development_key(&config.data_dir)?;
                Signer::from_pem(DEV_KEY_PAIR_ID, &pem).map_err(fail)?
            }
        };
        let key_pair_id = signer.key_pair_id().to_owned();
        tracing::info!(key_pair_id, "download links signed for CloudFront");
        Ok(Self {
            signer: CachingSigner::new(KeyRing::new(signer), Duration::from_secs(300), 10_000),
            base_url: config.cloudfront_url.trim_end_matches('/').to_owned(),
            key_pair_id,
        })
    }

    pub(crate) fn key_pair_id(&self) -> &str {
        &self.key_pair_id
    }

    fn url(&self, asset: &Asset) -> Option<String> {
        let url = format!("{}/assets/{}/{}", self.base_url, asset.id, asset.file_name);
        match self.signer.canned_url(&url, LINK_TTL) {
            Ok(signed) => Some(signed),
            Err(error) => {
                tracing::error!(%error, asset = asset.id, "cannot sign a download link");
                None
            }
        }
    }
}

/// The `download` link of an asset: a CloudFront signed URL (none when signing fails, which is
/// logged). `#[derive(Resource)]` on [`Asset`] calls it for every asset it writes, primary or
/// included.
pub fn download_link(
    asset: &Asset,
    context: &Context<crate::model::AssetAssigns>,
) -> Option<String> {
    context.assigns().signer.url(asset)
}
