//! OAuth Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document): a `client_id` that is an https URL names a JSON document the server fetches, checks and caches as a public, unverified client.
//!
//! The rules of the URL ([`DocumentUrl`]), of the addresses it may be
//! fetched from ([`classify`]) and of the document ([`parse_document`]) are
//! always available; fetching (`ClientMetadataResolver`) needs the
//! `client-metadata` feature.
//!
//! **Storage**: `oauth-cimd:<sha256 of the URL>`, the parsed [`Client`],
//! kept as long as the document's `Cache-Control: max-age` (or `Expires`)
//! says, within [`ClientMetadataConfig::min_cache`] and
//! [`ClientMetadataConfig::max_cache`]. [`OAuth::client`] reads it for
//! URL-shaped client ids, so codes, token exchanges and refreshes of such a
//! client work like any other client's once the document was resolved.
//! Nothing is cached for a refused document.

mod address;
mod document;
#[cfg(feature = "client-metadata")]
pub(crate) mod fetch;
#[cfg(feature = "client-metadata")]
mod resolver;
mod url;

use std::sync::Arc;
use std::time::Duration;

pub use address::{AddressKind, classify};
pub use document::{MAX_DOCUMENT_BYTES, parse_document};
#[cfg(feature = "client-metadata")]
pub use fetch::certificates_from_pem;
#[cfg(feature = "client-metadata")]
pub use resolver::ClientMetadataResolver;
pub use url::{DocumentHost, DocumentUrl, MAX_URL_BYTES, is_document_url};

use super::{Client, ClientOrigin, OAuth, OAuthError};
use crate::ext::StoreExt;

/// The store key of the cached document client of `url`.
pub fn cache_key(url: &str) -> String {
    format!("oauth-cimd:{}", crate::secret::sha256_hex(url))
}

/// How client metadata documents are fetched and cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMetadataConfig {
    /// Development only: accept `127.0.0.1`, `[::1]` and `localhost`
    /// document URLs, over https or plain http, and fetch them from
    /// loopback addresses (default false; never enable it on a server
    /// reachable by others).
    pub allow_loopback: bool,
    /// Certificates (DER) trusted as roots for https document fetches in
    /// addition to the webpki roots, such as a private CA's (default none;
    /// see `certificates_from_pem`). The host name is verified all the same.
    pub extra_roots: Vec<Vec<u8>>,
    /// A fetch (name resolution, connection, TLS, request and the whole
    /// body) must finish within this (default 5 s).
    pub timeout: Duration,
    /// A document is cached at least this long, whatever its headers say
    /// (`no-store` and `no-cache` included; default 5 min).
    pub min_cache: Duration,
    /// And at most this long (default 24 h).
    pub max_cache: Duration,
    /// Requests that need a fetch, per requester (the caller's key, such
    /// as its client IP) per minute (default 20). Requests for a cached
    /// document never count.
    pub fetches_per_minute: u32,
    /// Fetches in progress at once in this process; more are refused as
    /// busy (default 16).
    pub max_concurrent_fetches: usize,
    /// The scopes a document client may request (`None`: those its
    /// document names). A document's `scope` is cut down to these; a
    /// document without one gets all of them.
    pub scopes: Option<Vec<String>>,
}

impl Default for ClientMetadataConfig {
    fn default() -> Self {
        Self {
            allow_loopback: false,
            extra_roots: Vec::new(),
            timeout: Duration::from_secs(5),
            min_cache: Duration::from_secs(5 * 60),
            max_cache: Duration::from_secs(24 * 3600),
            fetches_per_minute: 20,
            max_concurrent_fetches: 16,
            scopes: None,
        }
    }
}

/// `d` for people: `300 ms`, `5 s`.
pub(crate) fn shown_duration(d: Duration) -> String {
    if d.as_millis() < 1000 || d.subsec_millis() != 0 {
        format!("{} ms", d.as_millis())
    } else {
        format!("{} s", d.as_secs())
    }
}

/// Why a client metadata document was not accepted. Each is an
/// `invalid_client` error; [`Display`](std::fmt::Display) is its
/// description, safe to show (it never echoes the document beyond short
/// quoted values).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentRefusal {
    /// The `client_id` URL breaks a rule of the draft.
    #[error("{0}")]
    BadUrl(String),
    /// The host is, or resolves to, an address that is not public.
    #[error("the host resolves to a {} address", .0.as_str())]
    NonPublicAddress(AddressKind),
    /// The host name does not resolve.
    #[error("the client metadata document's host name does not resolve")]
    UnknownHost,
    /// No connection, TLS failed, or the answer was not HTTP.
    #[error("the client metadata document server could not be reached: {0}")]
    Unreachable(String),
    /// The fetch did not finish in time.
    #[error("the client metadata document server did not answer within {}", shown_duration(*.0))]
    Timeout(Duration),
    /// A 3xx answer.
    #[error(
        "the client metadata document server answered with a redirect (HTTP {0}); redirects are not followed"
    )]
    Redirect(u16),
    /// Another status than 200.
    #[error("the client metadata document server answered HTTP {0}")]
    Status(u16),
    /// The body is larger than [`MAX_DOCUMENT_BYTES`].
    #[error("the client metadata document is larger than 5 KiB")]
    TooLarge,
    /// The body is not JSON.
    #[error("the client metadata document is not JSON")]
    NotJson,
    /// The document breaks a rule (`client_id` mismatch, redirect URIs, authentication method…).
    #[error("{0}")]
    Invalid(String),
}

/// Why `ClientMetadataResolver::resolve` gave no client.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The document was refused (`invalid_client`).
    #[error("invalid_client: {0}")]
    Refused(DocumentRefusal),
    /// Too many fetches: from this requester in the last minute, or in
    /// progress in this process (`temporarily_unavailable`, HTTP 429).
    #[error("temporarily_unavailable: {reason}")]
    Busy {
        /// Why.
        reason: &'static str,
        /// When to try again.
        retry_after: Duration,
    },
    /// The store failed.
    #[error("{0}")]
    Store(Arc<OAuthError>),
}

impl ResolveError {
    /// The OAuth error code: `invalid_client`, `temporarily_unavailable`,
    /// or the store error's.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Refused(_) => "invalid_client",
            Self::Busy { .. } => "temporarily_unavailable",
            Self::Store(e) => e.code(),
        }
    }

    /// A description safe to show.
    pub fn description(&self) -> String {
        match self {
            Self::Refused(refusal) => refusal.to_string(),
            Self::Busy { reason, .. } => (*reason).to_owned(),
            Self::Store(e) => e.description(),
        }
    }
}

impl From<OAuthError> for ResolveError {
    fn from(e: OAuthError) -> Self {
        Self::Store(Arc::new(e))
    }
}

impl From<DocumentRefusal> for ResolveError {
    fn from(refusal: DocumentRefusal) -> Self {
        Self::Refused(refusal)
    }
}

impl OAuth {
    /// The cached client of the metadata document at `url`, if any.
    pub(super) async fn cached_document_client(
        &self,
        url: &str,
    ) -> Result<Option<Client>, OAuthError> {
        let found = self.store.get_json::<Client>(&cache_key(url)).await?;
        Ok(found
            .filter(|f| {
                f.value.client_id == url && f.value.origin == ClientOrigin::MetadataDocument
            })
            .map(|found| Client {
                expires_at: found
                    .expires_at
                    .map(|at| crate::clock::system_time_to_millis(at) / 1000),
                ..found.value
            }))
    }
}
