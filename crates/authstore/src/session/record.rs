//! What a session is: its secret id, the stored record, and the in-hand [`Session`] a request works on.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::clock::millis_to_system_time;
use crate::error::{Error, Result};
use crate::secret;

/// The schema version written into every record.
pub(crate) const RECORD_VERSION: u32 = 1;

/// A session id: 256 bits from the OS CSPRNG as 43 base64url characters.
///
/// It is a bearer secret: only its SHA-256 is stored, and `Debug` hides it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SessionId(String);

impl SessionId {
    /// A fresh random id.
    ///
    /// # Errors
    /// [`Error::Internal`] if the OS has no randomness to give.
    pub fn generate() -> Result<Self> {
        secret::random_token().map(Self)
    }

    /// Accepts `text` (e.g. from a cookie) if it has the shape of an id.
    /// Anything else is `None`, so a forged cookie never reaches the store.
    pub fn parse(text: &str) -> Option<Self> {
        secret::is_token_shaped(text).then(|| Self(text.to_owned()))
    }

    /// The secret text, for the cookie. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The public handle of this session: the SHA-256 of the id, as stored.
    /// Safe to show (e.g. in a device list) and to use for revocation.
    pub fn handle(&self) -> SessionHandle {
        SessionHandle(secret::sha256_hex(&self.0))
    }
}

impl std::fmt::Debug for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionId(<redacted>)")
    }
}

/// The stored name of a session (SHA-256 of its id, hex). Not a secret:
/// knowing it does not let anyone use the session.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SessionHandle(pub(crate) String);

impl SessionHandle {
    /// Accepts 64 lowercase hex digits.
    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == 64
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Self(text.to_owned()))
    }

    /// The hex text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn key(&self) -> String {
        format!("session:{}", self.0)
    }
}

/// The user a session is logged in as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionUser {
    /// The user's id.
    pub id: String,
    /// The user's email, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The user's roles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

impl SessionUser {
    /// A user with just an id.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            email: None,
            roles: Vec::new(),
        }
    }
}

/// Where a session comes from, kept apart from its data (for device lists).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionMeta {
    /// Client IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// The `User-Agent` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// A label for the device ("Firefox on Linux").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

/// The stored form of a session (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SessionRecord {
    pub(crate) v: u32,
    pub(crate) created_at: u64,
    pub(crate) updated_at: u64,
    pub(crate) last_seen: u64,
    /// The absolute end of the session (ms); the idle expiry is the entry's TTL.
    pub(crate) ends_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) user: Option<SessionUser>,
    #[serde(default)]
    pub(crate) data: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub(crate) meta: SessionMeta,
}

/// A session as a request holds it: change it, then [`save`](super::SessionManager::save) it.
#[derive(Clone)]
pub struct Session {
    pub(crate) id: SessionId,
    pub(crate) record: SessionRecord,
    /// The store version this copy was read at (for the compare-and-set on save).
    pub(crate) version: u64,
    pub(crate) expires_at: Option<SystemTime>,
    pub(crate) changed: bool,
    /// Whether the load that produced this copy extended the idle expiry.
    pub(crate) extended: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("handle", &self.id.handle())
            .field("user", &self.record.user.as_ref().map(|u| &u.id))
            .field("keys", &self.record.data.keys().collect::<Vec<_>>())
            .field("version", &self.version)
            .field("changed", &self.changed)
            .finish()
    }
}

impl Session {
    /// Whether the [`load`](super::SessionManager::load) that returned this
    /// session extended its idle expiry (so a cookie's `Max-Age` should follow).
    pub fn was_extended(&self) -> bool {
        self.extended
    }

    /// The secret id (for the cookie).
    pub fn id(&self) -> &SessionId {
        &self.id
    }

    /// The public handle.
    pub fn handle(&self) -> SessionHandle {
        self.id.handle()
    }

    /// The value under `name`, decoded.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if it is not a `T`.
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        self.record
            .data
            .get(name)
            .map(|v| {
                T::deserialize(v)
                    .map_err(|_| Error::InvalidArgument("session value has another type"))
            })
            .transpose()
    }

    /// Sets `name` to `value`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `value` cannot be encoded as JSON.
    pub fn insert<T: Serialize>(&mut self, name: &str, value: T) -> Result<()> {
        let value = serde_json::to_value(value)
            .map_err(|_| Error::InvalidArgument("session value cannot be encoded as JSON"))?;
        self.record.data.insert(name.to_owned(), value);
        self.changed = true;
        Ok(())
    }

    /// Removes `name`; returns whether it was there.
    pub fn remove(&mut self, name: &str) -> bool {
        let removed = self.record.data.remove(name).is_some();
        self.changed |= removed;
        removed
    }

    /// Every stored value.
    pub fn data(&self) -> &BTreeMap<String, serde_json::Value> {
        &self.record.data
    }

    /// The logged-in user, if any.
    pub fn user(&self) -> Option<&SessionUser> {
        self.record.user.as_ref()
    }

    /// Where the session comes from.
    pub fn meta(&self) -> &SessionMeta {
        &self.record.meta
    }

    /// When the session was created.
    pub fn created_at(&self) -> SystemTime {
        millis_to_system_time(self.record.created_at)
    }

    /// When it was last saved.
    pub fn last_seen(&self) -> SystemTime {
        millis_to_system_time(self.record.last_seen)
    }

    /// When it ends at the latest, however active it is.
    pub fn ends_at(&self) -> SystemTime {
        millis_to_system_time(self.record.ends_at)
    }

    /// When it expires if idle from now on (as last loaded or saved).
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// Time left before idle expiry as seen at `now`.
    pub fn ttl_at(&self, now: SystemTime) -> Option<Duration> {
        self.expires_at
            .map(|at| at.duration_since(now).unwrap_or(Duration::ZERO))
    }

    /// Whether this copy has unsaved changes.
    pub fn is_changed(&self) -> bool {
        self.changed
    }

    /// The store version this copy was read or last saved at.
    pub fn version(&self) -> u64 {
        self.version
    }
}

/// A session as listed for its user: everything but the secret id and the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// The public handle (for revocation).
    pub handle: SessionHandle,
    /// When it was created.
    pub created_at: SystemTime,
    /// When it was last saved.
    pub last_seen: SystemTime,
    /// When it expires if idle.
    pub expires_at: Option<SystemTime>,
    /// Where it comes from.
    pub meta: SessionMeta,
}
