//! CloudFront public keys and key groups through `aws-sdk-cloudfront` (feature
//! `key-management`).
//!
//! # Rotation flow
//!
//! A distribution trusts a *key group*; a key group lists *public keys*; a signed URL names the
//! public key's id as `Key-Pair-Id`. Rotating without breaking a single URL:
//!
//! 1. generate a new key pair (`openssl genrsa -out new.pem 2048` or
//!    `openssl ecparam -name prime256v1 -genkey -noout -out new.pem`);
//! 2. [`KeyManager::upload_public_key`] — CloudFront answers with the new key's id;
//! 3. [`KeyManager::add_key_to_group`] — the distribution now accepts both keys;
//! 4. [`KeyRing::insert`](crate::KeyRing::insert) a signer for the new id and
//!    [`KeyRing::activate`](crate::KeyRing::activate) it — new URLs use the new key;
//! 5. once the longest-lived URL signed with the old key has expired,
//!    [`KeyManager::remove_key_from_group`], [`KeyRing::retire`](crate::KeyRing::retire) and
//!    [`KeyManager::delete_public_key`].
//!
//! ```no_run
//! # async fn rotate(manager: reel_cloudfront::key_management::KeyManager,
//! #                 ring: reel_cloudfront::KeyRing) -> Result<(), reel_cloudfront::Error> {
//! use reel_cloudfront::{Signer, SigningKey};
//!
//! let key = SigningKey::from_pem(&std::fs::read_to_string("new.pem").unwrap_or_default())?;
//! let uploaded = manager.upload_public_key("media-2026-11", &key.public_key(), None).await?;
//! manager.add_key_to_group("KG-MEDIA", &uploaded.id).await?;
//! let old = ring.active().key_pair_id().to_owned();
//! ring.insert(Signer::new(uploaded.id.clone(), key)?);
//! ring.activate(&uploaded.id)?;
//! // ... after the longest URL lifetime:
//! manager.remove_key_from_group("KG-MEDIA", &old).await?;
//! ring.retire(&old)?;
//! manager.delete_public_key(&old).await?;
//! # Ok(()) }
//! ```
//!
//! # What is tested
//!
//! The test suite runs against `moto_server` (PyPI `moto[server]`) on loopback, which
//! implements `CreatePublicKey`, `GetPublicKey`, `ListPublicKeys`, `DeletePublicKey`,
//! `CreateKeyGroup`, `GetKeyGroup` and `ListKeyGroups`: upload, list, delete and key-group
//! creation and listing are tested. moto does not implement `UpdateKeyGroup`, so
//! [`KeyManager::add_key_to_group`] and [`KeyManager::remove_key_from_group`] are not tested
//! against a server; they read the group with `GetKeyGroup` and write it back with
//! `UpdateKeyGroup` under the `ETag` (`If-Match`), so a concurrent change fails instead of being
//! lost.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_cloudfront::Client;
use aws_sdk_cloudfront::error::DisplayErrorContext;
use aws_sdk_cloudfront::types::{KeyGroupConfig, PublicKeyConfig};

use crate::Error;
use crate::key::PublicKey;

fn failed(operation: &'static str, error: impl std::error::Error) -> Error {
    Error::KeyManagement {
        operation,
        message: DisplayErrorContext(&error).to_string(),
    }
}

fn missing(operation: &'static str, what: &str) -> Error {
    Error::KeyManagement {
        operation,
        message: format!("the response has no {what}"),
    }
}

/// A public key stored in CloudFront.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredPublicKey {
    /// The id CloudFront assigned: the `Key-Pair-Id` of signed URLs.
    pub id: String,
    /// The name given at upload.
    pub name: String,
    /// The PEM CloudFront stores.
    pub encoded_key: String,
    /// The comment, if any.
    pub comment: Option<String>,
}

/// A key group: the public keys a distribution trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyGroup {
    /// The key group's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The ids of its public keys.
    pub key_ids: Vec<String>,
    /// The `ETag` of this version, needed to change it.
    pub etag: Option<String>,
}

/// Manages CloudFront public keys and key groups.
#[derive(Debug, Clone)]
pub struct KeyManager {
    client: Client,
}

impl KeyManager {
    /// Uses an SDK client (built from `aws-config` or an explicit `aws_sdk_cloudfront::Config`).
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The SDK client, for operations this type does not wrap.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Uploads `key` under `name` (`CreatePublicKey`) and returns what CloudFront stored,
    /// including the new key-pair id.
    pub async fn upload_public_key(
        &self,
        name: &str,
        key: &PublicKey,
        comment: Option<&str>,
    ) -> Result<StoredPublicKey, Error> {
        const OP: &str = "CreatePublicKey";
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let config = PublicKeyConfig::builder()
            .caller_reference(format!("reel-cloudfront-{name}-{nanos}"))
            .name(name)
            .encoded_key(key.to_pem()?)
            .set_comment(comment.map(str::to_owned))
            .build()
            .map_err(|e| failed(OP, e))?;
        let output = self
            .client
            .create_public_key()
            .public_key_config(config)
            .send()
            .await
            .map_err(|e| failed(OP, e))?;
        let stored = output
            .public_key()
            .ok_or_else(|| missing(OP, "public key"))?;
        let config = stored
            .public_key_config()
            .ok_or_else(|| missing(OP, "public key config"))?;
        tracing::info!(id = stored.id(), name, "CloudFront public key uploaded");
        Ok(StoredPublicKey {
            id: stored.id().to_owned(),
            name: config.name().to_owned(),
            encoded_key: config.encoded_key().to_owned(),
            comment: config.comment().map(str::to_owned),
        })
    }

    /// Every public key of the account (`ListPublicKeys`).
    pub async fn list_public_keys(&self) -> Result<Vec<StoredPublicKey>, Error> {
        const OP: &str = "ListPublicKeys";
        let mut keys = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let output = self
                .client
                .list_public_keys()
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| failed(OP, e))?;
            let Some(list) = output.public_key_list() else {
                break;
            };
            keys.extend(list.items().iter().map(|item| StoredPublicKey {
                id: item.id().to_owned(),
                name: item.name().to_owned(),
                encoded_key: item.encoded_key().to_owned(),
                comment: item.comment().map(str::to_owned),
            }));
            match list.next_marker() {
                Some(next) if !next.is_empty() && marker.as_deref() != Some(next) => {
                    marker = Some(next.to_owned());
                }
                _ => break,
            }
        }
        Ok(keys)
    }

    /// Deletes a public key that no key group uses any more (`GetPublicKey` for the `ETag`,
    /// then `DeletePublicKey`).
    pub async fn delete_public_key(&self, id: &str) -> Result<(), Error> {
        let current = self
            .client
            .get_public_key()
            .id(id)
            .send()
            .await
            .map_err(|e| failed("GetPublicKey", e))?;
        self.client
            .delete_public_key()
            .id(id)
            .set_if_match(current.e_tag().map(str::to_owned))
            .send()
            .await
            .map_err(|e| failed("DeletePublicKey", e))?;
        tracing::info!(id, "CloudFront public key deleted");
        Ok(())
    }

    /// Creates a key group trusting `key_ids` (`CreateKeyGroup`).
    pub async fn create_key_group(
        &self,
        name: &str,
        key_ids: &[String],
        comment: Option<&str>,
    ) -> Result<KeyGroup, Error> {
        const OP: &str = "CreateKeyGroup";
        let config = KeyGroupConfig::builder()
            .name(name)
            .set_items(Some(key_ids.to_vec()))
            .set_comment(comment.map(str::to_owned))
            .build()
            .map_err(|e| failed(OP, e))?;
        let output = self
            .client
            .create_key_group()
            .key_group_config(config)
            .send()
            .await
            .map_err(|e| failed(OP, e))?;
        let group = output.key_group().ok_or_else(|| missing(OP, "key group"))?;
        to_key_group(OP, group, output.e_tag())
    }

    /// A key group and its keys (`GetKeyGroup`).
    pub async fn key_group(&self, id: &str) -> Result<KeyGroup, Error> {
        const OP: &str = "GetKeyGroup";
        let output = self
            .client
            .get_key_group()
            .id(id)
            .send()
            .await
            .map_err(|e| failed(OP, e))?;
        let group = output.key_group().ok_or_else(|| missing(OP, "key group"))?;
        to_key_group(OP, group, output.e_tag())
    }

    /// The ids of a key group's public keys.
    pub async fn key_group_keys(&self, id: &str) -> Result<Vec<String>, Error> {
        Ok(self.key_group(id).await?.key_ids)
    }

    /// Every key group of the account (`ListKeyGroups`, first page of up to 100).
    pub async fn list_key_groups(&self) -> Result<Vec<KeyGroup>, Error> {
        const OP: &str = "ListKeyGroups";
        let output = self
            .client
            .list_key_groups()
            .send()
            .await
            .map_err(|e| failed(OP, e))?;
        let Some(list) = output.key_group_list() else {
            return Ok(Vec::new());
        };
        list.items()
            .iter()
            .filter_map(|summary| summary.key_group())
            .map(|group| to_key_group(OP, group, None))
            .collect()
    }

    /// Adds a public key to a key group (`GetKeyGroup`, then `UpdateKeyGroup` with `If-Match`).
    /// Adding a key already in the group changes nothing.
    pub async fn add_key_to_group(&self, group_id: &str, key_id: &str) -> Result<KeyGroup, Error> {
        self.change_group(group_id, |keys| {
            if !keys.iter().any(|k| k == key_id) {
                keys.push(key_id.to_owned());
            }
        })
        .await
    }

    /// Removes a public key from a key group (`GetKeyGroup`, then `UpdateKeyGroup`).
    pub async fn remove_key_from_group(
        &self,
        group_id: &str,
        key_id: &str,
    ) -> Result<KeyGroup, Error> {
        self.change_group(group_id, |keys| keys.retain(|k| k != key_id))
            .await
    }

    async fn change_group(
        &self,
        group_id: &str,
        change: impl FnOnce(&mut Vec<String>),
    ) -> Result<KeyGroup, Error> {
        const OP: &str = "UpdateKeyGroup";
        let output = self
            .client
            .get_key_group()
            .id(group_id)
            .send()
            .await
            .map_err(|e| failed("GetKeyGroup", e))?;
        let group = output
            .key_group()
            .ok_or_else(|| missing("GetKeyGroup", "key group"))?;
        let config = group
            .key_group_config()
            .ok_or_else(|| missing("GetKeyGroup", "key group config"))?;
        let mut keys = config.items().to_vec();
        change(&mut keys);
        if keys.is_empty() {
            return Err(Error::KeyManagement {
                operation: OP,
                message: "a key group needs at least one public key".into(),
            });
        }
        let new_config = KeyGroupConfig::builder()
            .name(config.name())
            .set_items(Some(keys))
            .set_comment(config.comment().map(str::to_owned))
            .build()
            .map_err(|e| failed(OP, e))?;
        let updated = self
            .client
            .update_key_group()
            .id(group_id)
            .set_if_match(output.e_tag().map(str::to_owned))
            .key_group_config(new_config)
            .send()
            .await
            .map_err(|e| failed(OP, e))?;
        let group = updated
            .key_group()
            .ok_or_else(|| missing(OP, "key group"))?;
        tracing::info!(group_id, "CloudFront key group updated");
        to_key_group(OP, group, updated.e_tag())
    }
}

fn to_key_group(
    operation: &'static str,
    group: &aws_sdk_cloudfront::types::KeyGroup,
    etag: Option<&str>,
) -> Result<KeyGroup, Error> {
    let config = group
        .key_group_config()
        .ok_or_else(|| missing(operation, "key group config"))?;
    Ok(KeyGroup {
        id: group.id().to_owned(),
        name: config.name().to_owned(),
        key_ids: config.items().to_vec(),
        etag: etag.map(str::to_owned),
    })
}
