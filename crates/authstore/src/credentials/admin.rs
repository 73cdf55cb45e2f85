//! Operator actions on stored users: list and look them up, disable and enable, set a password without the current one, delete.

use std::time::SystemTime;

use super::{CredentialRecord, Credentials, normalize};
use crate::audit::{AuditEvent, Outcome, emit};
use crate::clock::millis_to_system_time;
use crate::error::{Error, Result};
use crate::ext::StoreExt;
use crate::types::PutOptions;

/// Lost compare-and-set races after which an update gives up.
const UPDATE_ATTEMPTS: u32 = 8;

/// Entries read per scan page when listing users.
const PAGE: usize = 500;

/// A stored user as an operator sees it (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// The login name as registered (surrounding spaces removed).
    pub username: String,
    /// The stable id: the session user and the OAuth subject.
    pub user_id: String,
    /// When the user was registered.
    pub created_at: SystemTime,
    /// When an operator disabled the user; `None` while enabled.
    pub disabled_at: Option<SystemTime>,
}

impl UserInfo {
    fn of(record: &CredentialRecord) -> Self {
        Self {
            username: record.username.clone(),
            user_id: record.user_id.clone(),
            created_at: millis_to_system_time(record.created_at),
            disabled_at: record.disabled_at.map(millis_to_system_time),
        }
    }

    /// Whether the user may not sign in.
    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }
}

impl Credentials {
    /// One page of users in key order (`limit` at most per page, at least
    /// one) and the cursor of the next page, `None` after the last.
    /// Entries that are not readable user records are skipped.
    ///
    /// # Errors
    /// Store errors.
    pub async fn users_page(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<UserInfo>, Option<String>)> {
        let page = self
            .store
            .scan("credential:", cursor, limit.clamp(1, PAGE))
            .await?;
        let users = page
            .entries
            .iter()
            .filter_map(|e| serde_json::from_slice::<CredentialRecord>(&e.value).ok())
            .map(|record| UserInfo::of(&record))
            .collect();
        Ok((users, page.cursor))
    }

    /// Every user, in the order of their normalized usernames.
    ///
    /// # Errors
    /// Store errors.
    pub async fn users(&self) -> Result<Vec<UserInfo>> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let (users, next) = self.users_page(cursor.as_deref(), PAGE).await?;
            all.extend(users);
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        all.sort_by_key(|u| normalize(&u.username));
        Ok(all)
    }

    /// The user registered as `username` (compared as at sign-in).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a username no key can hold; store errors.
    pub async fn user(&self, username: &str) -> Result<Option<UserInfo>> {
        let key = Self::checked_key(username)?;
        let found = self.store.get_json::<CredentialRecord>(&key).await?;
        Ok(found.map(|f| UserInfo::of(&f.value)))
    }

    /// The user whose id is `user_id`: a scan over every user, for
    /// operators who start from a session or a grant.
    ///
    /// # Errors
    /// Store errors.
    pub async fn user_by_id(&self, user_id: &str) -> Result<Option<UserInfo>> {
        Ok(self
            .users()
            .await?
            .into_iter()
            .find(|u| u.user_id == user_id))
    }

    /// Disables (`true`) or enables the user. A disabled user's right
    /// password gives [`LoginOutcome::Disabled`](super::LoginOutcome::Disabled)
    /// and changes nothing else: ending the user's sessions and grants is
    /// the caller's part. Setting the state the user already has writes
    /// nothing.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown user; [`Error::Contended`] after
    /// repeated concurrent changes; store errors.
    pub async fn set_disabled(&self, username: &str, disabled: bool) -> Result<UserInfo> {
        let now = self.clock.now_millis();
        let (user, changed) = self
            .update(username, |record| {
                if record.disabled_at.is_some() == disabled {
                    return false;
                }
                record.disabled_at = disabled.then_some(now);
                true
            })
            .await?;
        if changed {
            let action = if disabled {
                "auth.disabled"
            } else {
                "auth.enabled"
            };
            emit(&*self.audit, || {
                AuditEvent::new(action, Outcome::Success)
                    .user(normalize(username))
                    .resource(&user.user_id)
            })
            .await;
        }
        Ok(user)
    }

    /// Replaces the password without the current one (an operator's
    /// reset). Failed-login waits already running are not lifted.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty password; [`Error::NotFound`]
    /// for an unknown user; store errors.
    pub async fn set_password(&self, username: &str, new: &str) -> Result<()> {
        if new.is_empty() {
            return Err(Error::InvalidArgument("the password must not be empty"));
        }
        let hash = self.hasher.hash(new).await?;
        let (user, _) = self
            .update(username, |record| {
                record.hash.clone_from(&hash);
                true
            })
            .await?;
        emit(&*self.audit, || {
            AuditEvent::new("auth.password_set", Outcome::Success)
                .user(normalize(username))
                .resource(&user.user_id)
        })
        .await;
        Ok(())
    }

    /// Removes the user's credential in one step and returns what it was;
    /// `None` if there was none. The user's sessions, grants and other
    /// entries are the caller's to remove.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a username no key can hold; store errors.
    pub async fn delete_user(&self, username: &str) -> Result<Option<UserInfo>> {
        let key = Self::checked_key(username)?;
        let Some(record) = self.store.take_json::<CredentialRecord>(&key).await? else {
            return Ok(None);
        };
        let user = UserInfo::of(&record);
        emit(&*self.audit, || {
            AuditEvent::new("auth.deleted", Outcome::Success)
                .user(normalize(username))
                .resource(&user.user_id)
        })
        .await;
        Ok(Some(user))
    }

    fn checked_key(username: &str) -> Result<String> {
        let key = Self::key(username);
        if normalize(username).is_empty() || crate::key::validate_key(&key).is_err() {
            return Err(Error::InvalidArgument(
                "usernames must be non-empty, without control characters, at most 500 bytes",
            ));
        }
        Ok(key)
    }

    /// Applies `change` to the stored record with a version check, retried
    /// on a concurrent write; `change` returns whether to write at all.
    pub(super) async fn update(
        &self,
        username: &str,
        mut change: impl FnMut(&mut CredentialRecord) -> bool,
    ) -> Result<(UserInfo, bool)> {
        let key = Self::checked_key(username)?;
        for _ in 0..UPDATE_ATTEMPTS {
            let found = self
                .store
                .get_json::<CredentialRecord>(&key)
                .await?
                .ok_or_else(|| Error::NotFound { key: key.clone() })?;
            let mut record = found.value;
            if !change(&mut record) {
                return Ok((UserInfo::of(&record), false));
            }
            let options = PutOptions::new().if_version(found.version);
            match self.store.put_json(&key, &record, options).await {
                Ok(_) => return Ok((UserInfo::of(&record), true)),
                Err(e) if e.is_condition_failed() => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Contended {
            key,
            attempts: UPDATE_ATTEMPTS,
        })
    }
}
