//! What the server knows of a user for OpenID Connect `/userinfo` (the login name, and the address when the login name is one), recorded at each sign-in.

use authstore::PutOptions;
use authstore::Store;
use authstore::StoreExt;
use serde::{Deserialize, Serialize};

/// A user's profile claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Profile {
    /// The login name, as the credentials store compares it (trimmed, lowercase).
    pub(crate) preferred_username: String,
}

impl Profile {
    /// The profile of a user who signs in as `username`.
    pub(crate) fn of_login(username: &str) -> Self {
        Self {
            preferred_username: username.trim().to_lowercase(),
        }
    }

    /// The login name as an e-mail address, when it is one (`local@domain`).
    pub(crate) fn email(&self) -> Option<&str> {
        let (local, domain) = self.preferred_username.split_once('@')?;
        let plausible = !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && !self.preferred_username.contains(char::is_whitespace);
        plausible.then_some(self.preferred_username.as_str())
    }
}

/// The store key of `user_id`'s profile (hashed: a user id may hold any character).
fn key(user_id: &str) -> String {
    format!("oidc-profile:{}", authstore::secret::sha256_hex(user_id))
}

/// Records `user_id`'s profile (one write, kept without expiry like the user).
pub(crate) async fn remember(
    store: &dyn Store,
    user_id: &str,
    profile: &Profile,
) -> authstore::Result<()> {
    store
        .put_json(&key(user_id), profile, PutOptions::new())
        .await?;
    Ok(())
}

/// `user_id`'s profile, if one was recorded.
pub(crate) async fn load(store: &dyn Store, user_id: &str) -> authstore::Result<Option<Profile>> {
    Ok(store
        .get_json::<Profile>(&key(user_id))
        .await?
        .map(|found| found.value))
}

/// Removes `user_id`'s profile; whether there was one.
pub(crate) async fn forget(store: &dyn Store, user_id: &str) -> authstore::Result<bool> {
    store.delete(&key(user_id)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_only_when_the_login_name_is_an_address() {
        assert_eq!(
            Profile::of_login(" Ada@Example.com ").email(),
            Some("ada@example.com")
        );
        for name in [
            "ada",
            "ada@",
            "@example.com",
            "ada@localhost",
            "a b@example.com",
        ] {
            assert_eq!(Profile::of_login(name).email(), None, "{name}");
        }
    }
}
