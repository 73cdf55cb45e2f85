//! Server-side sessions on any [`Store`]: hashed 256-bit ids, versioned saves that never resurrect a logged-out session, idle and absolute expiry, per-user listing and revocation.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use authstore::session::{SessionManager, SessionMeta, SessionUser};
//!
//! let store = authstore::open("memory://").await?;
//! let sessions = SessionManager::new(store);
//! let mut s = sessions.create(None, SessionMeta::default()).await?;
//! s.insert("cart", vec![42])?;
//! sessions.save(&mut s).await?;
//! // Log in: a new id (fixation defence), listed under the user.
//! sessions.login(&mut s, SessionUser::new("u1")).await?;
//! let cookie = s.id().expose().to_owned();
//! let again = sessions.load(&authstore::session::SessionId::parse(&cookie).unwrap()).await?;
//! assert_eq!(again.unwrap().get::<Vec<i32>>("cart")?, Some(vec![42]));
//! # Ok(()) }
//! ```
//!
//! **Storage.** A session is the JSON record under `session:<sha256(id)>`,
//! so a dump of the store cannot be replayed as cookies. Its TTL is the idle
//! timeout, capped by the absolute end. Sessions of a user are listed under
//! the index key `session-user:<user id>`.
//!
//! **Concurrency.** `save` is a compare-and-set on the version read by
//! `load` (`PutMode::IfVersion`): a second writer gets
//! [`Error::VersionConflict`], never a silent lost update, and a save after
//! logout gets [`Error::NotFound`], never a resurrected session.

mod record;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use record::{RECORD_VERSION, SessionRecord};
pub use record::{Session, SessionHandle, SessionId, SessionInfo, SessionMeta, SessionUser};

use crate::audit::{AuditEvent, AuditSink, NoAudit, Outcome, emit};
use crate::clock::{Clock, SharedClock, duration_to_millis, millis_to_system_time};
use crate::error::{Error, Result};
use crate::ext::StoreExt;
use crate::store::Store;
use crate::types::PutOptions;

/// How many times `create` draws a new id if one is taken (it never is, in practice).
const CREATE_ATTEMPTS: usize = 4;

/// Session lifetimes and limits.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionConfig {
    /// A session unused this long expires (default 30 min).
    pub idle_timeout: Duration,
    /// A session ends this long after creation however active (default 7 days).
    pub absolute_lifetime: Duration,
    /// `load` extends the idle expiry only once less than this share of the
    /// idle timeout remains (default 0.5), so most reads do not write.
    pub touch_below: f64,
    /// Most sessions one user may have; creating more ends the oldest (default none).
    pub max_per_user: Option<usize>,
    /// Largest encoded record, in bytes (default 1 MiB).
    pub max_size: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30 * 60),
            absolute_lifetime: Duration::from_secs(7 * 24 * 3600),
            touch_below: 0.5,
            max_per_user: None,
            max_size: 1024 * 1024,
        }
    }
}

/// Counts since this manager was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Sessions stored now (live or not yet purged), counted by a scan.
    pub active: u64,
    /// Sessions created.
    pub created: u64,
    /// Sessions found past their absolute end and removed.
    pub expired: u64,
    /// Sessions destroyed or revoked.
    pub destroyed: u64,
}

#[derive(Debug, Default)]
struct Counts {
    created: AtomicU64,
    expired: AtomicU64,
    destroyed: AtomicU64,
}

/// Creates, loads, saves and revokes sessions on a [`Store`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SessionManager {
    store: Arc<dyn Store>,
    clock: SharedClock,
    config: Arc<SessionConfig>,
    counts: Arc<Counts>,
    audit: Arc<dyn AuditSink>,
}

fn user_index(user_id: &str) -> String {
    format!("session-user:{user_id}")
}

impl SessionManager {
    /// Sessions on `store` with the default [`SessionConfig`], judging time
    /// by the store's [`clock`](Store::clock).
    pub fn new(store: Arc<dyn Store>) -> Self {
        let clock = store.clock();
        Self::with_config(store, SessionConfig::default(), clock)
    }

    /// Sessions on `store` with `config`, judging time by `clock` (use the
    /// same clock as the store).
    pub fn with_config(store: Arc<dyn Store>, config: SessionConfig, clock: impl Clock) -> Self {
        Self {
            store,
            clock: crate::clock::share(clock),
            config: Arc::new(config),
            counts: Arc::default(),
            audit: Arc::new(NoAudit),
        }
    }

    /// Sends `session.create`, `session.login` and `session.revoke` events to `sink`.
    pub fn with_audit(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit = sink;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    fn now(&self) -> u64 {
        self.clock.now_millis()
    }

    /// The TTL a write at `now` gives: the idle timeout, capped by the absolute end.
    fn ttl(&self, record: &SessionRecord, now: u64) -> Option<Duration> {
        let idle = duration_to_millis(self.config.idle_timeout);
        let left = record.ends_at.saturating_sub(now).min(idle);
        (left > 0).then(|| Duration::from_millis(left))
    }

    fn options(&self, record: &SessionRecord, ttl: Duration) -> PutOptions {
        let mut options = PutOptions::new().ttl(ttl);
        if let Some(user) = &record.user {
            options = options.index(user_index(&user.id));
        }
        options
    }

    fn encode(&self, record: &SessionRecord) -> Result<Vec<u8>> {
        let bytes = serde_json::to_vec(record)
            .map_err(|_| Error::InvalidArgument("session data cannot be encoded as JSON"))?;
        if bytes.len() > self.config.max_size {
            return Err(Error::ValueTooLarge {
                size: bytes.len(),
                max: self.config.max_size,
            });
        }
        Ok(bytes)
    }

    /// Creates and stores a new session (create-only: an id is never reused).
    ///
    /// # Errors
    /// Store errors; [`Error::ValueTooLarge`] over the size limit.
    pub async fn create(&self, user: Option<SessionUser>, meta: SessionMeta) -> Result<Session> {
        let now = self.now();
        let record = SessionRecord {
            v: RECORD_VERSION,
            created_at: now,
            updated_at: now,
            last_seen: now,
            ends_at: now.saturating_add(duration_to_millis(self.config.absolute_lifetime)),
            user,
            data: Default::default(),
            meta,
        };
        let session = self.insert_new(record, now).await?;
        self.counts.created.fetch_add(1, Ordering::Relaxed);
        emit(&*self.audit, || {
            let mut e = AuditEvent::new("session.create", Outcome::Success)
                .resource(session.handle().as_str())
                .client(session.meta().ip.clone(), session.meta().user_agent.clone());
            e.user = session.user().map(|u| u.id.clone());
            e
        })
        .await;
        if let (Some(max), Some(user)) = (self.config.max_per_user, session.user()) {
            self.evict_beyond(&user.id.clone(), max, &session.handle())
                .await?;
        }
        Ok(session)
    }

    /// Stores `record` under a fresh id, drawing again on the (astronomically
    /// unlikely) collision instead of overwriting.
    async fn insert_new(&self, record: SessionRecord, now: u64) -> Result<Session> {
        let ttl = self
            .ttl(&record, now)
            .ok_or(Error::InvalidArgument("the session has already ended"))?;
        let bytes = self.encode(&record)?;
        for _ in 0..CREATE_ATTEMPTS {
            let id = SessionId::generate()?;
            let options = self.options(&record, ttl).create_only();
            match self.store.put(&id.handle().key(), &bytes, options).await {
                Ok(version) => {
                    return Ok(Session {
                        id,
                        record,
                        version,
                        expires_at: Some(millis_to_system_time(now + duration_to_millis(ttl))),
                        changed: false,
                        extended: false,
                    });
                }
                Err(Error::AlreadyExists { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::internal(
            "drawing an unused session id",
            "every random id drawn was already taken",
        ))
    }

    /// Loads the session with this id, or `None` if it does not exist,
    /// idled out or passed its absolute end. Extends the idle expiry when
    /// less than [`touch_below`](SessionConfig::touch_below) of it remains.
    ///
    /// # Errors
    /// Store errors; [`Error::Serde`] if the stored record is corrupt.
    pub async fn load(&self, id: &SessionId) -> Result<Option<Session>> {
        let key = id.handle().key();
        let Some(found) = self.store.get_json::<SessionRecord>(&key).await? else {
            return Ok(None);
        };
        let now = self.now();
        let record = found.value;
        if record.ends_at <= now {
            if self.store.delete(&key).await? {
                self.counts.expired.fetch_add(1, Ordering::Relaxed);
            }
            return Ok(None);
        }
        let mut expires_at = found.expires_at;
        let mut extended = false;
        let idle = self.config.idle_timeout.as_secs_f64();
        let left = found
            .expires_at
            .and_then(|at| at.duration_since(millis_to_system_time(now)).ok())
            .map_or(f64::INFINITY, |d| d.as_secs_f64());
        if left < idle * self.config.touch_below
            && let Some(ttl) = self.ttl(&record, now)
            && self.store.touch(&key, ttl).await?
        {
            expires_at = Some(millis_to_system_time(now + duration_to_millis(ttl)));
            extended = true;
        }
        Ok(Some(Session {
            id: id.clone(),
            record,
            version: found.version,
            expires_at,
            changed: false,
            extended,
        }))
    }

    /// Saves `session` if it still has the version it was loaded at.
    ///
    /// # Errors
    /// [`Error::VersionConflict`] if someone else saved it meanwhile (reload
    /// and retry); [`Error::NotFound`] if it was destroyed, revoked or
    /// expired meanwhile (it is not brought back); [`Error::ValueTooLarge`].
    pub async fn save(&self, session: &mut Session) -> Result<()> {
        let now = self.now();
        let mut record = session.record.clone();
        record.updated_at = now;
        record.last_seen = now;
        let ttl = self.ttl(&record, now).ok_or_else(|| Error::NotFound {
            key: session.handle().key(),
        })?;
        let bytes = self.encode(&record)?;
        let options = self.options(&record, ttl).if_version(session.version);
        session.version = self
            .store
            .put(&session.handle().key(), &bytes, options)
            .await?;
        session.record = record;
        session.expires_at = Some(millis_to_system_time(now + duration_to_millis(ttl)));
        session.changed = false;
        Ok(())
    }

    /// Moves the session to a new id and kills the old one, for login and
    /// privilege changes. The old id is taken atomically first, so of two
    /// concurrent regenerations only one succeeds; the loser gets
    /// [`Error::NotFound`]. Unsaved changes of `session` are carried over.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the session no longer exists; store errors.
    pub async fn regenerate(&self, session: &mut Session) -> Result<()> {
        let old = session.handle().key();
        if self.store.take(&old).await?.is_none() {
            return Err(Error::NotFound { key: old });
        }
        let now = self.now();
        let mut record = session.record.clone();
        record.updated_at = now;
        record.last_seen = now;
        *session = self.insert_new(record, now).await?;
        Ok(())
    }

    /// Sets the user and regenerates the id (fixation defence).
    ///
    /// # Errors
    /// As [`regenerate`](Self::regenerate).
    pub async fn login(&self, session: &mut Session, user: SessionUser) -> Result<()> {
        session.record.user = Some(user.clone());
        self.regenerate(session).await?;
        emit(&*self.audit, || {
            AuditEvent::new("session.login", Outcome::Success)
                .user(&user.id)
                .resource(session.handle().as_str())
                .client(session.meta().ip.clone(), session.meta().user_agent.clone())
        })
        .await;
        if let Some(max) = self.config.max_per_user {
            self.evict_beyond(&user.id, max, &session.handle()).await?;
        }
        Ok(())
    }

    /// Ends the session with this id. Returns whether it existed.
    ///
    /// # Errors
    /// Store errors.
    pub async fn destroy(&self, id: &SessionId) -> Result<bool> {
        self.revoke(&id.handle()).await
    }

    /// Ends the session with this handle. Returns whether it existed.
    ///
    /// # Errors
    /// Store errors.
    pub async fn revoke(&self, handle: &SessionHandle) -> Result<bool> {
        let gone = self.store.delete(&handle.key()).await?;
        if gone {
            self.counts.destroyed.fetch_add(1, Ordering::Relaxed);
            emit(&*self.audit, || {
                AuditEvent::new("session.revoke", Outcome::Success).resource(handle.as_str())
            })
            .await;
        }
        Ok(gone)
    }

    /// The user's live sessions, oldest first.
    ///
    /// # Errors
    /// Store errors; corrupt records are skipped, not fatal.
    pub async fn list_for_user(&self, user_id: &str) -> Result<Vec<SessionInfo>> {
        let mut out = Vec::new();
        for key in self.store.list_index(&user_index(user_id)).await? {
            let Some(handle) = key.strip_prefix("session:").and_then(SessionHandle::parse) else {
                continue;
            };
            let Ok(Some(found)) = self.store.get_json::<SessionRecord>(&key).await else {
                continue;
            };
            if found.value.user.as_ref().is_none_or(|u| u.id != user_id) {
                continue;
            }
            out.push(SessionInfo {
                handle,
                created_at: millis_to_system_time(found.value.created_at),
                last_seen: millis_to_system_time(found.value.last_seen),
                expires_at: found.expires_at,
                meta: found.value.meta,
            });
        }
        out.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then(a.handle.cmp(&b.handle))
        });
        Ok(out)
    }

    /// Ends every session of the user; returns how many.
    ///
    /// # Errors
    /// Store errors.
    pub async fn revoke_all(&self, user_id: &str) -> Result<u64> {
        let n = self.store.delete_index(&user_index(user_id)).await?;
        self.counts.destroyed.fetch_add(n, Ordering::Relaxed);
        emit(&*self.audit, || {
            AuditEvent::new("session.revoke_all", Outcome::Success)
                .user(user_id)
                .meta("count", n)
        })
        .await;
        Ok(n)
    }

    /// Ends every session of the user except `keep` ("log out other devices").
    ///
    /// # Errors
    /// Store errors.
    pub async fn revoke_all_but(&self, user_id: &str, keep: &SessionHandle) -> Result<u64> {
        let mut n = 0;
        for info in self.list_for_user(user_id).await? {
            if &info.handle != keep && self.revoke(&info.handle).await? {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Ends the user's oldest sessions beyond `max`, never `keep`.
    async fn evict_beyond(&self, user_id: &str, max: usize, keep: &SessionHandle) -> Result<()> {
        let sessions = self.list_for_user(user_id).await?;
        let excess = sessions.len().saturating_sub(max.max(1));
        for info in sessions.iter().filter(|i| &i.handle != keep).take(excess) {
            self.revoke(&info.handle).await?;
        }
        Ok(())
    }

    /// Counts of sessions: stored now (a scan) and since this manager was built.
    ///
    /// # Errors
    /// Store errors.
    pub async fn stats(&self) -> Result<SessionStats> {
        let mut active = 0;
        let mut cursor: Option<String> = None;
        loop {
            let page = self.store.scan("session:", cursor.as_deref(), 1000).await?;
            active += page.entries.len() as u64;
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(SessionStats {
            active,
            created: self.counts.created.load(Ordering::Relaxed),
            expired: self.counts.expired.load(Ordering::Relaxed),
            destroyed: self.counts.destroyed.load(Ordering::Relaxed),
        })
    }
}
