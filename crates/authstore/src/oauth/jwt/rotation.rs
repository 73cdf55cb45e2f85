//! Rotating the signing keys of every algorithm in use, on demand or when the current key is older than a maximum age (safe when several server instances do it at once).

use std::time::Duration;

use super::{Current, SigningAlg, StoredKey, current_key};
use crate::ext::StoreExt;
use crate::oauth::kek::key_key;
use crate::oauth::{OAuth, OAuthError};

impl OAuth {
    /// The algorithms that have a current signing key in the store (in the
    /// order of [`SigningAlg::ALL`]).
    ///
    /// # Errors
    /// Store errors.
    pub async fn signing_algs_in_use(&self) -> Result<Vec<SigningAlg>, OAuthError> {
        Ok(self
            .current_kids()
            .await?
            .into_iter()
            .map(|(alg, _)| alg)
            .collect())
    }

    /// Rotates the signing key of every algorithm in use (see
    /// [`rotate_signing_key`](Self::rotate_signing_key)); returns each
    /// algorithm with its new key id. An algorithm without a key yet gets
    /// none: its first key is created on first use.
    ///
    /// # Errors
    /// Store errors; the keys rotated before the error stay rotated.
    pub async fn rotate_signing_keys(&self) -> Result<Vec<(SigningAlg, String)>, OAuthError> {
        let mut rotated = Vec::new();
        for alg in self.signing_algs_in_use().await? {
            rotated.push((alg, self.rotate_signing_key(alg).await?));
        }
        Ok(rotated)
    }

    /// Rotates each current signing key created `max_age` ago or earlier;
    /// returns each algorithm rotated with its new key id.
    ///
    /// Safe to run from several server instances at once: the new key
    /// becomes current by a compare-and-set on the current-key pointer as
    /// it was read, so of instances racing to rotate the same key, one
    /// succeeds and the others discard the key they made (and see a young
    /// key next time).
    ///
    /// # Errors
    /// Store errors; the keys rotated before the error stay rotated.
    pub async fn rotate_due_signing_keys(
        &self,
        max_age: Duration,
    ) -> Result<Vec<(SigningAlg, String)>, OAuthError> {
        let mut rotated = Vec::new();
        for alg in SigningAlg::ALL {
            let pointer = current_key(alg);
            let Some(current) = self.store.get_json::<Current>(&pointer).await? else {
                continue;
            };
            let record = self
                .store
                .get_json::<StoredKey>(&key_key(&current.value.kid))
                .await?;
            let due = record.is_none_or(|r| {
                self.now_secs().saturating_sub(r.value.created_at) >= max_age.as_secs()
            });
            if !due {
                continue;
            }
            let kid = self.create_key(alg).await?;
            if self.swap_current(alg, &kid, Some(current.version)).await? {
                self.keys.forget(&current.value.kid);
                self.retire(&current.value.kid).await?;
                rotated.push((alg, kid));
            } else {
                // Another instance rotated it first.
                self.store.delete(&key_key(&kid)).await?;
            }
        }
        Ok(rotated)
    }
}
