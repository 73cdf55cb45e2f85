//! authstore's errors: [`Error`] for every store operation, [`OpenError`] for [`open`](crate::open), and the [`Result`] alias.

use std::time::Duration;

/// A boxed error from a lower layer (a driver, a parser), kept as the source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with authstore's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a key (or index key, or prefix) was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyProblem {
    /// The key is empty.
    Empty,
    /// The key is longer than [`MAX_KEY_LEN`](crate::MAX_KEY_LEN) bytes.
    TooLong,
    /// The key contains a control character (U+0000–U+001F or U+007F–U+009F).
    ControlCharacter,
    /// The key is not of the form `namespace:id` with a non-empty namespace and id.
    MissingNamespace,
}

impl std::fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Empty => f.write_str("it is empty"),
            Self::TooLong => write!(f, "it is longer than {} bytes", crate::MAX_KEY_LEN),
            Self::ControlCharacter => f.write_str("it contains a control character"),
            Self::MissingNamespace => f.write_str("it is not of the form `namespace:id`"),
        }
    }
}

/// Every error authstore returns, except [`open`](crate::open)'s [`OpenError`].
///
/// The outcomes of conditional writes ([`AlreadyExists`](Error::AlreadyExists),
/// [`NotFound`](Error::NotFound), [`VersionConflict`](Error::VersionConflict))
/// are ordinary variants, so callers `match` on them. Failures of a lower layer
/// keep that layer's error as [`source`](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key, index key or key prefix was rejected before reaching the backend.
    #[error("invalid key {key:?}: {problem}")]
    InvalidKey {
        /// The rejected key, truncated to 64 bytes and with control characters escaped.
        key: String,
        /// What is wrong with it.
        problem: KeyProblem,
    },
    /// A value is larger than the store's configured maximum.
    #[error("value of {size} bytes exceeds the maximum of {max} bytes")]
    ValueTooLarge {
        /// Size of the rejected value in bytes.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
    /// More index keys than [`MAX_INDEX_KEYS`](crate::MAX_INDEX_KEYS) were named in one put.
    #[error("{count} index keys given, at most {max} are allowed")]
    TooManyIndexKeys {
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A TTL of zero was given; an entry must live for at least one millisecond.
    #[error("a TTL must be at least one millisecond")]
    ZeroTtl,
    /// An argument is out of its allowed range (for example a rate-limit cost above the burst).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    /// `CreateOnly` put: a live entry already exists under the key.
    #[error("an entry already exists under {key:?}")]
    AlreadyExists {
        /// The key.
        key: String,
    },
    /// `UpdateOnly` or `IfVersion` put on a key with no live entry.
    #[error("no entry under {key:?}")]
    NotFound {
        /// The key.
        key: String,
    },
    /// `IfVersion` put whose expected version is not the current one. Nothing changed.
    #[error("version conflict on {key:?}: expected {expected}, found {actual}")]
    VersionConflict {
        /// The key.
        key: String,
        /// The version the caller expected.
        expected: u64,
        /// The version actually stored.
        actual: u64,
    },
    /// `incr` on an entry whose value is not a decimal 64-bit integer.
    #[error("the value under {key:?} is not a counter")]
    NotACounter {
        /// The key.
        key: String,
    },
    /// `incr` would overflow a signed 64-bit counter. Nothing changed.
    #[error("counter {key:?} would overflow")]
    CounterOverflow {
        /// The key.
        key: String,
    },
    /// Data read back from the backend is not what authstore wrote.
    #[error("corrupt data{}: {detail}", key.as_ref().map(|k| format!(" for {k:?}")).unwrap_or_default())]
    Corrupt {
        /// The key whose data is corrupt, if known.
        key: Option<String>,
        /// What is wrong.
        detail: String,
        /// The decoding error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// A typed value could not be serialized or deserialized (see [`StoreExt`](crate::StoreExt)).
    #[error("could not (de)serialize the value under {key:?}")]
    Serde {
        /// The key.
        key: String,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// A store URL could not be parsed or has bad parameters (from a
    /// backend's `connect`/builder; [`open`](crate::open) reports it as
    /// [`OpenError::InvalidUrl`]).
    #[error("invalid store URL {url}: {reason}")]
    InvalidUrl {
        /// The URL with any password redacted.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A compare-and-set update lost to concurrent writers `attempts` times in a row and gave up. Nothing changed.
    #[error("gave up on {key:?} after losing {attempts} write races to concurrent updates")]
    Contended {
        /// The key.
        key: String,
        /// How many attempts were made.
        attempts: u32,
    },
    /// The operation did not finish within its deadline.
    #[error("{backend}: operation timed out after {after:?}")]
    Timeout {
        /// The backend name.
        backend: &'static str,
        /// The deadline that passed.
        after: Duration,
    },
    /// The backend refused the operation for lack of permission (e.g. a Redis ACL).
    #[error("{backend}: permission denied")]
    PermissionDenied {
        /// The backend name.
        backend: &'static str,
        /// The backend's error.
        #[source]
        source: BoxError,
    },
    /// The storage backend or its driver failed (connection lost, server
    /// error, …). Worth retrying: callers answer it as "temporarily
    /// unavailable". A full secret-hasher queue
    /// ([`HasherBusy`](crate::password::HasherBusy), backend `"argon2"`) is
    /// reported here too, as it passes the same way.
    #[error("{backend} backend error")]
    Backend {
        /// The backend name.
        backend: &'static str,
        /// The backend's error.
        #[source]
        source: BoxError,
    },
    /// Something other than the store failed: password hashing, signing or
    /// key generation, the OS random generator, reading or writing an
    /// export file. Not the caller's fault and not a store outage; the
    /// message names what failed and never carries secret material.
    #[error("{what} failed")]
    Internal {
        /// What failed, e.g. `"argon2 hashing"` or `"export file I/O"`.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
}

/// Why [`open`](crate::open) could not open a store: the URL (a
/// configuration problem) or the store itself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The URL cannot be parsed, or a parameter in it is bad. Covers both
    /// `open`'s own parsing and a backend's rejection of its URL parameters.
    #[error("invalid store URL {url}: {reason}")]
    InvalidUrl {
        /// The URL with any password redacted.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The URL names a backend whose cargo feature is not compiled in.
    #[error("the {scheme}:// backend needs authstore's `{feature}` cargo feature")]
    FeatureDisabled {
        /// The URL scheme.
        scheme: String,
        /// The cargo feature that provides it.
        feature: &'static str,
    },
    /// The URL scheme names no known backend.
    #[error("unknown store URL scheme {scheme:?}")]
    UnknownScheme {
        /// The URL scheme.
        scheme: String,
    },
    /// The URL is fine but the store could not be set up (connection
    /// refused, authentication failed, a bad setting outside the URL, …).
    /// Shows the store error's message, which is also its source.
    #[error("{0}")]
    Store(#[source] Error),
}

impl OpenError {
    /// True when the URL is at fault (bad URL or parameter, unknown
    /// scheme, backend not compiled in): fixing the configuration is
    /// needed, retrying will not help. False for [`OpenError::Store`].
    pub fn is_configuration(&self) -> bool {
        matches!(
            self,
            Self::InvalidUrl { .. } | Self::FeatureDisabled { .. } | Self::UnknownScheme { .. }
        )
    }

    /// The store error behind an [`OpenError::Store`].
    pub fn store_error(&self) -> Option<&Error> {
        match self {
            Self::Store(e) => Some(e),
            _ => None,
        }
    }
}

/// A backend's [`Error::InvalidUrl`] becomes [`OpenError::InvalidUrl`], so
/// every URL problem is one variant; anything else is [`OpenError::Store`].
impl From<Error> for OpenError {
    fn from(error: Error) -> Self {
        match error {
            Error::InvalidUrl { url, reason } => Self::InvalidUrl { url, reason },
            other => Self::Store(other),
        }
    }
}

impl Error {
    /// A [`Error::Backend`] wrapping `source`.
    pub fn backend(backend: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Backend {
            backend,
            source: source.into(),
        }
    }

    /// A [`Error::Internal`]: `what` failed with `source`.
    pub fn internal(what: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Internal {
            what,
            source: source.into(),
        }
    }

    /// A [`Error::Corrupt`] with a message and no source.
    pub fn corrupt(key: Option<&str>, detail: impl Into<String>) -> Self {
        Self::Corrupt {
            key: key.map(str::to_owned),
            detail: detail.into(),
            source: None,
        }
    }

    /// True for the typed outcomes of a conditional put
    /// (`AlreadyExists`, `NotFound`, `VersionConflict`).
    pub fn is_condition_failed(&self) -> bool {
        matches!(
            self,
            Self::AlreadyExists { .. } | Self::NotFound { .. } | Self::VersionConflict { .. }
        )
    }
}

/// `error` and its sources, joined by `: ` (for logs, health details and
/// messages to an operator): `redis backend error: connection refused`.
///
/// A source whose text the message already ends with (an error that shows
/// its cause in its own message) is not repeated.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn backend_error_keeps_its_source_chain() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "peer reset");
        let err = Error::backend("redis", io);
        let source = err.source().expect("source kept");
        assert_eq!(source.to_string(), "peer reset");
        assert!(!err.is_condition_failed());
        assert_eq!(error_chain(&err), "redis backend error: peer reset");
    }

    #[test]
    fn an_internal_error_names_what_failed_and_keeps_the_cause_apart() {
        let err = Error::internal("argon2 hashing", "password hunter2 rejected");
        assert_eq!(err.to_string(), "argon2 hashing failed");
        assert!(!err.to_string().contains("hunter2"));
        assert!(err.source().is_some());
        assert!(!err.is_condition_failed());
    }

    #[test]
    fn a_backend_url_rejection_is_an_open_configuration_error() {
        let err = OpenError::from(Error::InvalidUrl {
            url: "redis://h".into(),
            reason: "bad timeout_ms".into(),
        });
        assert!(matches!(err, OpenError::InvalidUrl { .. }), "{err:?}");
        assert!(err.is_configuration());
        assert!(err.store_error().is_none());
        assert_eq!(
            err.to_string(),
            "invalid store URL redis://h: bad timeout_ms"
        );
        let scheme = OpenError::UnknownScheme {
            scheme: "ftp".into(),
        };
        assert!(scheme.is_configuration());
    }

    #[test]
    fn a_store_failure_on_open_is_not_configuration_and_reads_as_the_store_error() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = OpenError::from(Error::backend("redis", io));
        assert!(!err.is_configuration());
        assert!(matches!(err.store_error(), Some(Error::Backend { .. })));
        assert!(err.source().is_some_and(|s| s.is::<Error>()));
        assert_eq!(error_chain(&err), "redis backend error: refused");
    }

    #[test]
    fn a_chain_does_not_repeat_a_cause_the_message_shows() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer: {0}")]
        struct Shows(#[source] std::io::Error);
        let err = Shows(std::io::Error::other("inner"));
        assert_eq!(error_chain(&err), "outer: inner");
    }

    #[test]
    fn a_too_long_key_names_the_limit() {
        let text = KeyProblem::TooLong.to_string();
        assert_eq!(
            text,
            format!("it is longer than {} bytes", crate::MAX_KEY_LEN)
        );
    }

    #[test]
    fn condition_outcomes_are_classified() {
        let e = Error::VersionConflict {
            key: "s:1".into(),
            expected: 1,
            actual: 2,
        };
        assert!(e.is_condition_failed());
        assert_eq!(
            e.to_string(),
            "version conflict on \"s:1\": expected 1, found 2"
        );
    }
}
