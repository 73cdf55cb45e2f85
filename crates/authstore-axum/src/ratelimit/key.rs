//! [`KeyExtractor`]: who a request is counted against (client IP, user, API token, route, or a closure).

use std::sync::Arc;

use axum::extract::MatchedPath;
use http::header::AUTHORIZATION;
use http::request::Parts;

use super::client_ip::ClientIp;

/// A closure that names the key a request is counted against; `None` lets
/// the request through unlimited. The key should be `namespace:id`
/// (e.g. `tenant:acme`); one that is not a valid authstore key is hashed
/// into one (`hashed:<sha256 hex>`).
pub type KeyFn = Arc<dyn Fn(&Parts) -> Option<String> + Send + Sync>;

/// Who a request is counted against.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum KeyExtractor {
    /// The client address, `ip:203.0.113.9` (the default).
    #[default]
    ClientIp,
    /// The logged-in user of the request's [`RequestSession`](crate::RequestSession),
    /// `user:<id>`; the client address when nobody is logged in (or there
    /// is no `SessionLayer` outside the rate-limit layer).
    User,
    /// The `Authorization: Bearer <token>` credential, `token:<sha256 hex>`
    /// (the token itself is never stored); the client address without one.
    ApiToken,
    /// The route and the client address, `route:<matched path>|<ip>`: each
    /// client gets a separate budget per route.
    Route,
    /// A closure; see [`KeyFn`].
    Custom(KeyFn),
}

impl std::fmt::Debug for KeyExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::ClientIp => "ClientIp",
            Self::User => "User",
            Self::ApiToken => "ApiToken",
            Self::Route => "Route",
            Self::Custom(_) => "Custom(..)",
        })
    }
}

impl KeyExtractor {
    /// A [`Custom`](Self::Custom) extractor from a closure.
    pub fn custom<F>(f: F) -> Self
    where
        F: Fn(&Parts) -> Option<String> + Send + Sync + 'static,
    {
        Self::Custom(Arc::new(f))
    }

    /// The key of a request whose client is `ip` (already a key, see
    /// [`ClientIp::key`]); `None` when it is not limited.
    pub(super) async fn key(&self, parts: &Parts, ip: &str) -> Option<String> {
        let key = match self {
            Self::ClientIp => ip.to_owned(),
            Self::User => match user_id(parts).await {
                Some(id) => format!("user:{id}"),
                None => ip.to_owned(),
            },
            Self::ApiToken => match bearer_token(parts) {
                Some(token) => format!("token:{}", authstore::secret::sha256_hex(token)),
                None => ip.to_owned(),
            },
            Self::Route => format!("route:{}|{ip}", matched_path(parts)),
            Self::Custom(f) => f(parts)?,
        };
        Some(valid_key(key))
    }
}

/// The route pattern the request matched, or `?` when routing has not
/// happened yet (the layer wraps the whole router rather than its routes).
pub(super) fn matched_path(parts: &Parts) -> &str {
    parts
        .extensions
        .get::<MatchedPath>()
        .map_or("?", MatchedPath::as_str)
}

/// The logged-in user's id from the request's session, if any.
async fn user_id(parts: &Parts) -> Option<String> {
    let session = parts.extensions.get::<crate::RequestSession>()?;
    match session.user().await {
        Ok(user) => user.map(|u| u.id),
        Err(e) => {
            tracing::warn!(error = %e, "rate limit: session unreadable; counting by client address");
            None
        }
    }
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive).
pub(super) fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// `key` if it is a valid authstore key, else a digest of it that is.
pub(super) fn valid_key(key: String) -> String {
    if authstore::validate_key(&key).is_ok() {
        key
    } else {
        format!("hashed:{}", authstore::secret::sha256_hex(&key))
    }
}

/// The key under a per-route limiter: `route:<path>|<key>`, so that the
/// route's state never mixes with another limiter's on the same store.
pub(super) fn route_key(path: &str, key: String) -> String {
    if key.starts_with("route:") {
        key
    } else {
        valid_key(format!("route:{path}|{key}"))
    }
}

/// For use by the layer: a resolved client's key, or the shared key of
/// requests whose client is unknown.
pub(super) fn ip_key(client: Option<ClientIp>, ipv6_prefix: Option<u8>) -> String {
    match client {
        Some(ip) => ip.key(ipv6_prefix),
        None => "ip:unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;

    fn parts(auth: Option<&str>) -> Parts {
        let mut req = Request::builder().uri("/x");
        if let Some(a) = auth {
            req = req.header(AUTHORIZATION, a);
        }
        req.body(()).unwrap().into_parts().0
    }

    #[test]
    fn bearer_tokens() {
        assert_eq!(bearer_token(&parts(Some("Bearer abc"))), Some("abc"));
        assert_eq!(bearer_token(&parts(Some("bearer   abc "))), Some("abc"));
        assert_eq!(bearer_token(&parts(Some("Basic abc"))), None);
        assert_eq!(bearer_token(&parts(Some("Bearer "))), None);
        assert_eq!(bearer_token(&parts(Some("Bearer"))), None);
        assert_eq!(bearer_token(&parts(None)), None);
    }

    #[tokio::test]
    async fn keys_by_kind() {
        let ip = "ip:203.0.113.9";
        let p = parts(Some("Bearer t0k"));
        let token = KeyExtractor::ApiToken.key(&p, ip).await.unwrap();
        assert_eq!(
            token,
            format!("token:{}", authstore::secret::sha256_hex("t0k"))
        );
        assert_eq!(
            KeyExtractor::ApiToken.key(&parts(None), ip).await,
            Some(ip.into())
        );
        assert_eq!(KeyExtractor::User.key(&p, ip).await, Some(ip.into()));
        assert_eq!(
            KeyExtractor::Route.key(&p, ip).await,
            Some("route:?|ip:203.0.113.9".into())
        );
        let none = KeyExtractor::custom(|_| None);
        assert_eq!(none.key(&p, ip).await, None);
        let bad = KeyExtractor::custom(|_| Some("no namespace".into()));
        let hashed = bad.key(&p, ip).await.unwrap();
        assert!(hashed.starts_with("hashed:") && authstore::validate_key(&hashed).is_ok());
        assert_eq!(format!("{none:?}"), "Custom(..)");
    }

    #[test]
    fn route_keys_stay_valid() {
        assert_eq!(route_key("/a", "ip:1.2.3.4".into()), "route:/a|ip:1.2.3.4");
        assert_eq!(route_key("/a", "route:/a|ip:1".into()), "route:/a|ip:1");
        let long = route_key(&"/x".repeat(400), "ip:1.2.3.4".into());
        assert!(long.starts_with("hashed:"));
        assert_eq!(ip_key(None, None), "ip:unknown");
    }
}
