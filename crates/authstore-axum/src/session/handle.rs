//! The [`RequestSession`] extractor: the request's session, loaded on first use and saved after the handler only if it changed.

use std::collections::BTreeMap;
use std::sync::Arc;

use authstore::session::{
    Session as StoredSession, SessionHandle, SessionId, SessionMeta, SessionUser,
};
use axum::extract::FromRequestParts;
use http::StatusCode;
use http::request::Parts;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{Mutex, MutexGuard};

use super::Shared;
use crate::error::Error;

/// What the response must do with the cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum CookieAction {
    #[default]
    Keep,
    Set,
    Clear,
}

/// The per-request state behind the lock.
#[derive(Debug, Default)]
pub(crate) struct State {
    loaded: bool,
    pub(crate) session: Option<StoredSession>,
    /// Data changes since the load, replayed onto a fresh copy after a
    /// version conflict (`None` = removed).
    pub(crate) changes: BTreeMap<String, Option<Value>>,
    pub(crate) cookie: CookieAction,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) shared: Arc<Shared>,
    /// The id the request presented (cookie or header), if well-formed and correctly signed.
    pub(crate) presented: Option<SessionId>,
    /// Whether that id came in the header rather than the cookie.
    pub(crate) via_header: bool,
    pub(crate) meta: SessionMeta,
    pub(crate) state: Mutex<State>,
}

/// The request's session, put in the request by [`SessionLayer`](crate::SessionLayer).
///
/// Nothing is read from the store until a method needs it, and nothing is
/// written unless the session changed. Writes go through the version check
/// of [`SessionManager::save`](authstore::session::SessionManager::save)
/// after the handler returns; a request still in flight cannot bring back
/// a session that was logged out meanwhile.
///
/// A request without a session gets one on its first write
/// (`insert`, `set_user`), and the response sets the cookie.
#[derive(Debug, Clone)]
pub struct RequestSession {
    pub(crate) inner: Arc<Inner>,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestSession {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<RequestSession>()
            .cloned()
            .ok_or_else(|| {
                Error::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "missing_session_layer",
                    "the RequestSession extractor needs SessionLayer around the route",
                )
            })
    }
}

impl RequestSession {
    /// The state, loaded from the store on first use.
    pub(crate) async fn state(&self) -> Result<MutexGuard<'_, State>, Error> {
        let mut state = self.inner.state.lock().await;
        if !state.loaded {
            if let Some(id) = &self.inner.presented {
                state.session = self.inner.shared.manager.load(id).await?;
                if state.session.is_none() && !self.inner.via_header {
                    // A stale or revoked cookie: tell the browser to drop it.
                    state.cookie = CookieAction::Clear;
                }
            }
            state.loaded = true;
        }
        Ok(state)
    }

    /// The state with a session, created (and stored) if there was none.
    async fn state_with_session(&self) -> Result<MutexGuard<'_, State>, Error> {
        let mut state = self.state().await?;
        if state.session.is_none() {
            let created = self
                .inner
                .shared
                .manager
                .create(None, self.inner.meta.clone())
                .await?;
            state.session = Some(created);
            state.cookie = CookieAction::Set;
        }
        Ok(state)
    }

    /// Makes sure the session exists (creating it, and setting the cookie, if not).
    ///
    /// # Errors
    /// Store errors.
    pub async fn ensure(&self) -> Result<(), Error> {
        self.state_with_session().await.map(drop)
    }

    /// Whether the request has a live session.
    ///
    /// # Errors
    /// Store errors.
    pub async fn exists(&self) -> Result<bool, Error> {
        Ok(self.state().await?.session.is_some())
    }

    /// The value under `key`, or `None` (also when there is no session).
    ///
    /// # Errors
    /// Store errors; a value that does not decode as `T`.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, Error> {
        let state = self.state().await?;
        match &state.session {
            Some(s) => Ok(s.get(key)?),
            None => Ok(None),
        }
    }

    /// Stores `value` under `key`, creating the session if needed.
    ///
    /// # Errors
    /// Store errors; a value that does not encode as JSON.
    pub async fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<(), Error> {
        let json = serde_json::to_value(value).map_err(|e| {
            Error::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "invalid_session_data",
                e.to_string(),
            )
        })?;
        let mut state = self.state_with_session().await?;
        let session = state.session.as_mut().expect("just ensured");
        session.insert(key, &json)?;
        state.changes.insert(key.to_owned(), Some(json));
        Ok(())
    }

    /// Removes `key`; returns whether it was there.
    ///
    /// # Errors
    /// Store errors.
    pub async fn remove(&self, key: &str) -> Result<bool, Error> {
        let mut state = self.state().await?;
        let removed = state.session.as_mut().is_some_and(|s| s.remove(key));
        if removed {
            state.changes.insert(key.to_owned(), None);
        }
        Ok(removed)
    }

    /// All data of the session (empty without one).
    ///
    /// # Errors
    /// Store errors.
    pub async fn data(&self) -> Result<BTreeMap<String, Value>, Error> {
        let state = self.state().await?;
        Ok(state
            .session
            .as_ref()
            .map(|s| s.data().clone())
            .unwrap_or_default())
    }

    /// The logged-in user, if any.
    ///
    /// # Errors
    /// Store errors.
    pub async fn user(&self) -> Result<Option<SessionUser>, Error> {
        let state = self.state().await?;
        Ok(state.session.as_ref().and_then(|s| s.user().cloned()))
    }

    /// Logs `user` in: sets the user and moves the session to a new id
    /// (fixation defence), creating the session if needed.
    ///
    /// # Errors
    /// Store errors; [`authstore::Error::NotFound`] if the session was
    /// destroyed by a concurrent request.
    pub async fn set_user(&self, user: SessionUser) -> Result<(), Error> {
        let mut state = self.state_with_session().await?;
        let session = state.session.as_mut().expect("just ensured");
        self.inner.shared.manager.login(session, user).await?;
        // The login stored the record with every pending change.
        state.changes.clear();
        state.cookie = CookieAction::Set;
        Ok(())
    }

    /// Moves the session to a new id and kills the old one. Returns
    /// `false` when there is no session.
    ///
    /// # Errors
    /// Store errors.
    pub async fn regenerate(&self) -> Result<bool, Error> {
        let mut state = self.state().await?;
        let Some(session) = state.session.as_mut() else {
            return Ok(false);
        };
        self.inner.shared.manager.regenerate(session).await?;
        state.changes.clear();
        state.cookie = CookieAction::Set;
        Ok(true)
    }

    /// Ends the session (logout) and clears the cookie. Returns whether there was one.
    ///
    /// # Errors
    /// Store errors.
    pub async fn destroy(&self) -> Result<bool, Error> {
        let mut state = self.state().await?;
        let Some(session) = state.session.take() else {
            return Ok(false);
        };
        self.inner.shared.manager.destroy(session.id()).await?;
        state.changes.clear();
        state.cookie = CookieAction::Clear;
        Ok(true)
    }

    /// The session's public handle (for listing and revoking), if there is one.
    ///
    /// # Errors
    /// Store errors.
    pub async fn handle(&self) -> Result<Option<SessionHandle>, Error> {
        let state = self.state().await?;
        Ok(state.session.as_ref().map(StoredSession::handle))
    }

    /// Runs `f` on the loaded session (`None` when there is none), for
    /// read access to everything the stored session offers.
    ///
    /// # Errors
    /// Store errors.
    pub async fn inspect<R>(
        &self,
        f: impl FnOnce(Option<&StoredSession>) -> R,
    ) -> Result<R, Error> {
        let state = self.state().await?;
        Ok(f(state.session.as_ref()))
    }

    /// The session manager behind this session (for listing and revoking
    /// other sessions of the user, stats, …).
    pub fn manager(&self) -> &authstore::session::SessionManager {
        &self.inner.shared.manager
    }

    /// Runs `f` on the stored session, creating it if needed, for
    /// operations of the `authstore` API that take one (e.g.
    /// [`authstore::csrf::session_token`]). Changes `f` makes to the data
    /// are saved like any other.
    ///
    /// # Errors
    /// Store errors.
    pub async fn with_stored<R>(
        &self,
        f: impl FnOnce(&mut StoredSession) -> R,
    ) -> Result<R, Error> {
        let mut state = self.state_with_session().await?;
        let session = state.session.as_mut().expect("just ensured");
        let before = session.data().clone();
        let out = f(session);
        let after = session.data().clone();
        let mut changes = Vec::new();
        for (key, value) in &after {
            if before.get(key) != Some(value) {
                changes.push((key.clone(), Some(value.clone())));
            }
        }
        for key in before.keys().filter(|k| !after.contains_key(*k)) {
            changes.push((key.clone(), None));
        }
        state.changes.extend(changes);
        Ok(out)
    }
}
