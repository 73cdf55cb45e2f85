//! argon2id hashing of passwords and client secrets, off the async threads and at most one per core at a time, with a dummy hash so unknown names cost the same as known ones.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::error::{Error, Result};

/// argon2id with fixed parameters. Cheap to clone.
///
/// Clones share a limit of one hash or verification running per core
/// (`std::thread::available_parallelism`); more wait their turn. Each run
/// allocates its memory cost (19 MiB by default), so without the limit a
/// burst of N logins would take N times that at once and slow every one of
/// them down, while the CPU can only finish one per core anyway.
#[derive(Clone)]
pub struct SecretHasher {
    argon: Arc<Argon2<'static>>,
    running: Arc<Semaphore>,
    /// Verified against when there is no stored hash, so both paths cost the same.
    dummy_hash: Arc<str>,
}

impl std::fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretHasher")
            .field("params", self.argon.params())
            .finish_non_exhaustive()
    }
}

fn salt() -> Result<SaltString> {
    SaltString::encode_b64(&crate::secret::random_bytes()?[..16])
        .map_err(|_| Error::InvalidArgument("salt"))
}

impl SecretHasher {
    /// argon2id with `memory_kib` KiB, `iterations` passes and `parallelism` lanes.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for parameters out of range.
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Self> {
        let params = Params::new(memory_kib, iterations, parallelism, None)
            .map_err(|_| Error::InvalidArgument("argon2 parameters out of range"))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy_hash = argon
            .hash_password(b"authstore-dummy-secret", &salt()?)
            .map_err(|_| Error::InvalidArgument("argon2 could not hash"))?
            .to_string();
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Ok(Self {
            argon: Arc::new(argon),
            running: Arc::new(Semaphore::new(cores)),
            dummy_hash: dummy_hash.into(),
        })
    }

    /// The PHC string (`$argon2id$v=19$m=…`) of `secret`, hashed on a blocking thread.
    ///
    /// # Errors
    /// [`Error::Backend`] if the blocking task fails.
    pub async fn hash(&self, secret: &str) -> Result<String> {
        let (argon, secret, salt) = (Arc::clone(&self.argon), secret.to_owned(), salt()?);
        let turn = self.turn().await?;
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            argon
                .hash_password(secret.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|_| Error::InvalidArgument("argon2 could not hash the secret"))
        })
        .await
        .map_err(|e| Error::backend("argon2", e))?
    }

    /// Whether `secret` matches `hash` (argon2's verification is constant
    /// time). With `None` it checks against a dummy hash and returns
    /// `false`, at the same cost.
    ///
    /// # Errors
    /// [`Error::Corrupt`] for a stored hash that is not a PHC string.
    pub async fn verify(&self, hash: Option<&str>, secret: &str) -> Result<bool> {
        let known = hash.is_some();
        let hash = hash.map_or_else(|| self.dummy_hash.to_string(), str::to_owned);
        let (argon, secret) = (Arc::clone(&self.argon), secret.to_owned());
        let turn = self.turn().await?;
        let matched = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            let parsed = PasswordHash::new(&hash)
                .map_err(|_| Error::corrupt(None, "stored secret hash is not a PHC string"))?;
            Ok::<_, Error>(argon.verify_password(secret.as_bytes(), &parsed).is_ok())
        })
        .await
        .map_err(|e| Error::backend("argon2", e))??;
        Ok(known && matched)
    }

    /// Waits for a free core. The permit moves into the blocking task, so a
    /// caller that gives up does not free the core before the work ends.
    async fn turn(&self) -> Result<tokio::sync::OwnedSemaphorePermit> {
        Arc::clone(&self.running)
            .acquire_owned()
            .await
            .map_err(|e| Error::backend("argon2", e))
    }
}
