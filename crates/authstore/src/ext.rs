//! [`StoreExt`]: typed JSON helpers on top of any [`Store`].

use std::future::Future;
use std::time::SystemTime;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::store::Store;
use crate::types::PutOptions;

/// A decoded value with its version and expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    /// The decoded value.
    pub value: T,
    /// The entry's version, for a later [`PutMode::IfVersion`](crate::PutMode::IfVersion).
    pub version: u64,
    /// When the entry expires, if ever.
    pub expires_at: Option<SystemTime>,
}

/// Typed conveniences for every [`Store`] (including `dyn Store`).
///
/// Blanket-implemented: do not implement it yourself.
pub trait StoreExt: Store {
    /// Reads the entry under `key` and decodes it from JSON.
    ///
    /// # Errors
    /// [`Error::Serde`] if the stored bytes are not the JSON of a `T`.
    fn get_json<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<Versioned<T>>>> + Send {
        async move {
            let entry = match self.get_inline(key) {
                Some(answer) => answer?,
                None => self.get(key).await?,
            };
            let Some(entry) = entry else {
                return Ok(None);
            };
            let value = serde_json::from_slice(&entry.value).map_err(|source| Error::Serde {
                key: key.to_owned(),
                source,
            })?;
            Ok(Some(Versioned {
                value,
                version: entry.version,
                expires_at: entry.expires_at,
            }))
        }
    }

    /// Encodes `value` as JSON and puts it under `key`; returns the new version.
    ///
    /// # Errors
    /// As [`Store::put`], plus [`Error::Serde`] if `value` cannot be encoded.
    fn put_json<T: Serialize + Sync>(
        &self,
        key: &str,
        value: &T,
        options: PutOptions,
    ) -> impl Future<Output = Result<u64>> + Send {
        async move {
            let bytes = serde_json::to_vec(value).map_err(|source| Error::Serde {
                key: key.to_owned(),
                source,
            })?;
            self.put(key, &bytes, options).await
        }
    }

    /// Takes (gets and deletes) the entry under `key` and decodes it from JSON.
    ///
    /// # Errors
    /// [`Error::Serde`] if the bytes are not the JSON of a `T`; the entry is gone either way.
    fn take_json<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<T>>> + Send {
        async move {
            let Some(entry) = self.take(key).await? else {
                return Ok(None);
            };
            serde_json::from_slice(&entry.value)
                .map(Some)
                .map_err(|source| Error::Serde {
                    key: key.to_owned(),
                    source,
                })
        }
    }
}

impl<S: Store + ?Sized> StoreExt for S {}
