//! The operator's actions on users, clients, grants and sessions, shared by the `authstore` commands: typed results that print as text or JSON, and one error type.

pub(crate) mod audit;
pub(crate) mod clients;
pub(crate) mod users;
pub(crate) mod views;

use authstore::oauth::OAuthError;

/// Why an operator's action failed.
#[derive(Debug)]
pub(crate) enum AdminError {
    /// No such user, client, grant or session.
    NotFound(String),
    /// The request breaks a rule (bad metadata, an empty password, …).
    Invalid(String),
    /// It would replace something that exists (a taken username).
    Conflict(String),
    /// The store failed.
    Store(authstore::Error),
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound(what) | Self::Invalid(what) | Self::Conflict(what) => f.write_str(what),
            Self::Store(e) => write!(f, "the store failed: {}", authstore::error_chain(e)),
        }
    }
}

impl std::error::Error for AdminError {}

impl From<authstore::Error> for AdminError {
    fn from(e: authstore::Error) -> Self {
        match e {
            authstore::Error::InvalidArgument(why) => Self::Invalid(why.to_owned()),
            // An id that no stored entry can have: empty, too long, or with
            // control characters.
            authstore::Error::InvalidKey { problem, .. } => Self::Invalid(format!(
                "not a valid user id, client id or grant id ({problem})"
            )),
            other => Self::Store(other),
        }
    }
}

impl From<OAuthError> for AdminError {
    fn from(e: OAuthError) -> Self {
        match e {
            OAuthError::Store(e) => e.into(),
            other => Self::Invalid(other.to_string()),
        }
    }
}

impl From<AdminError> for crate::command_prelude::Failure {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Invalid(_) => Self::config(e.to_string()),
            AdminError::NotFound(_) | AdminError::Conflict(_) | AdminError::Store(_) => {
                Self::runtime(e.to_string())
            }
        }
    }
}

/// Seconds since the epoch of `t` (0 before it).
pub(crate) fn secs(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests;
