//! A key ring: several CloudFront key-pair ids, one active signer, rotated at run time.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use reel_core::{HotSwap, SecretSource};

use crate::Error;
use crate::cookies::{CookieOptions, SignedCookies};
use crate::policy::Policy;
use crate::signer::{SignedPolicy, Signer};

/// Several signers by key-pair id, one of them active.
///
/// Reads are lock-free (`reel_core::HotSwap`): every signing call loads the active signer, so
/// [`activate`](Self::activate) takes effect for the next signature in every thread. Clones
/// share the ring. `Debug` lists key-pair ids, never keys.
///
/// The rotation flow CloudFront needs, with the trusted key group of the distribution:
///
/// 1. generate a new key pair and upload its public key (feature `key-management`, or the
///    console), which gives a new key-pair id;
/// 2. add that public key to the distribution's key group, so CloudFront accepts both;
/// 3. [`insert`](Self::insert) the new signer and [`activate`](Self::activate) it; new URLs and
///    cookies carry the new id;
/// 4. when every URL signed with the old key has expired, remove the old public key from the
///    key group and [`retire`](Self::retire) it here.
#[derive(Clone)]
pub struct KeyRing {
    state: HotSwap<RingState>,
    writer: Arc<Mutex<()>>,
}

#[derive(Clone)]
struct RingState {
    active: Signer,
    signers: BTreeMap<String, Signer>,
}

impl KeyRing {
    /// A ring holding `active` only.
    pub fn new(active: Signer) -> Self {
        let mut signers = BTreeMap::new();
        signers.insert(active.key_pair_id().to_owned(), active.clone());
        Self {
            state: HotSwap::new(RingState { active, signers }),
            writer: Arc::new(Mutex::new(())),
        }
    }

    /// Loads every `(key-pair id, PEM source)` pair through its [`SecretSource`] and activates
    /// `active`. Each key gets its default hash algorithm (SHA-1 for RSA, SHA-256 for ECDSA).
    pub fn from_sources<I, S>(keys: I, active: &str) -> Result<Self, Error>
    where
        I: IntoIterator<Item = (S, SecretSource)>,
        S: Into<String>,
    {
        let mut signers = BTreeMap::new();
        for (key_pair_id, source) in keys {
            let signer = Signer::from_secret(key_pair_id, &source)?;
            signers.insert(signer.key_pair_id().to_owned(), signer);
        }
        if signers.is_empty() {
            return Err(Error::EmptyKeyRing);
        }
        let active = signers
            .get(active)
            .cloned()
            .ok_or_else(|| Error::UnknownKeyPairId {
                id: active.to_owned(),
            })?;
        Ok(Self {
            state: HotSwap::new(RingState { active, signers }),
            writer: Arc::new(Mutex::new(())),
        })
    }

    fn write<T>(
        &self,
        change: impl FnOnce(&mut RingState) -> Result<T, Error>,
    ) -> Result<T, Error> {
        // Writers are serialised so that a check and its change see the same state; a poisoned
        // lock only means another writer panicked before storing, so the state is intact.
        let _writer = self
            .writer
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let mut state = RingState::clone(&self.state.load());
        let result = change(&mut state)?;
        self.state.store(state);
        Ok(result)
    }

    /// Adds `signer`, or replaces the signer with the same key-pair id (also when it is the
    /// active one). It does not become active.
    pub fn insert(&self, signer: Signer) {
        let _ = self.write(|state| {
            if state.active.key_pair_id() == signer.key_pair_id() {
                state.active = signer.clone();
            }
            state
                .signers
                .insert(signer.key_pair_id().to_owned(), signer);
            Ok(())
        });
    }

    /// Makes `key_pair_id` the signer of every following signature.
    pub fn activate(&self, key_pair_id: &str) -> Result<(), Error> {
        self.write(|state| {
            let signer =
                state
                    .signers
                    .get(key_pair_id)
                    .cloned()
                    .ok_or_else(|| Error::UnknownKeyPairId {
                        id: key_pair_id.to_owned(),
                    })?;
            tracing::info!(key_pair_id, "CloudFront signing key activated");
            state.active = signer;
            Ok(())
        })
    }

    /// Removes a key that is no longer active and returns its signer.
    pub fn retire(&self, key_pair_id: &str) -> Result<Signer, Error> {
        self.write(|state| {
            if state.active.key_pair_id() == key_pair_id {
                return Err(Error::RetireActiveKey {
                    id: key_pair_id.to_owned(),
                });
            }
            let signer =
                state
                    .signers
                    .remove(key_pair_id)
                    .ok_or_else(|| Error::UnknownKeyPairId {
                        id: key_pair_id.to_owned(),
                    })?;
            tracing::info!(key_pair_id, "CloudFront signing key retired");
            Ok(signer)
        })
    }

    /// The active signer.
    pub fn active(&self) -> Signer {
        self.state.load().active.clone()
    }

    /// The signer for `key_pair_id`, active or not.
    pub fn get(&self, key_pair_id: &str) -> Option<Signer> {
        self.state.load().signers.get(key_pair_id).cloned()
    }

    /// Every key-pair id in the ring, sorted.
    pub fn key_pair_ids(&self) -> Vec<String> {
        self.state.load().signers.keys().cloned().collect()
    }

    /// How many times the ring has changed (insert, activate, retire).
    pub fn version(&self) -> u64 {
        self.state.version()
    }

    /// Signs `policy` with the active key; see [`Signer::sign`].
    pub fn sign(&self, policy: &Policy) -> Result<SignedPolicy, Error> {
        self.state.load().active.sign(policy)
    }

    /// A signed URL from the active key; see [`Signer::signed_url`].
    pub fn signed_url(&self, url: &str, policy: &Policy) -> Result<String, Error> {
        self.state.load().active.signed_url(url, policy)
    }

    /// A canned-policy URL from the active key; see [`Signer::canned_url`].
    pub fn canned_url(&self, url: &str, expires: u64) -> Result<String, Error> {
        self.state.load().active.canned_url(url, expires)
    }

    /// Signed cookies from the active key; see [`Signer::signed_cookies`].
    pub fn signed_cookies(
        &self,
        policy: &Policy,
        options: &CookieOptions,
    ) -> Result<SignedCookies, Error> {
        self.state.load().active.signed_cookies(policy, options)
    }
}

impl From<Signer> for KeyRing {
    fn from(signer: Signer) -> Self {
        Self::new(signer)
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.load();
        f.debug_struct("KeyRing")
            .field("active", &state.active.key_pair_id())
            .field("key_pair_ids", &state.signers.keys().collect::<Vec<_>>())
            .finish()
    }
}
