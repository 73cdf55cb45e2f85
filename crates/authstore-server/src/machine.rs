//! Guards of the machine endpoints (`/token`, `/revoke`, `/introspect`): the introspection policy (which client may see which token) and the per-IP and per-client limits on client authentication that keep argon2id from being used to exhaust the CPU.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use authstore::ratelimit::{Limit, RateLimiter};
use authstore::{MemoryStore, PutOptions, SharedClock, Store};

/// Who may introspect which tokens at `/introspect` (RFC 7662).
///
/// Only clients named here may introspect at all; any other client,
/// confidential or not, learns nothing (`{"active":false}` for every
/// token). A resource server sees the access tokens whose audience (the
/// grant's RFC 8707 `resource`) is one of its resources. A token issued
/// without a `resource` (client credentials, or a code flow without one)
/// has the server's configured resource (`resource` in the config,
/// [`Settings::resource`](crate::Settings::resource)) as its audience; with
/// none configured, only trusted introspectors see it. Refresh tokens are
/// never shown to resource servers (RFC 6749 §1.5: they are for the
/// authorization server only). A trusted introspector sees every active
/// token, refresh tokens included.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntrospectionPolicy {
    /// Resource servers: client id → the resources whose tokens it may introspect.
    pub resource_servers: BTreeMap<String, Vec<String>>,
    /// Client ids that may introspect every token (operators' tools, gateways
    /// that front several resources).
    pub trusted: Vec<String>,
}

/// What a token is, for [`IntrospectionPolicy::may_see`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An access token.
    Access,
    /// A refresh token.
    Refresh,
}

impl IntrospectionPolicy {
    /// Whether `client_id` may introspect at all.
    pub fn may_introspect(&self, client_id: &str) -> bool {
        self.is_trusted(client_id) || self.resource_servers.contains_key(client_id)
    }

    /// Whether `client_id` is a trusted introspector.
    pub fn is_trusted(&self, client_id: &str) -> bool {
        self.trusted.iter().any(|t| t == client_id)
    }

    /// Whether `client_id` may learn about an active token of `kind` whose
    /// audience is `audience` (`None`: issued without a `resource`, so
    /// `default_resource` stands in).
    pub fn may_see(
        &self,
        client_id: &str,
        kind: TokenKind,
        audience: Option<&str>,
        default_resource: Option<&str>,
    ) -> bool {
        if self.is_trusted(client_id) {
            return true;
        }
        if kind == TokenKind::Refresh {
            return false;
        }
        let Some(audience) = audience.or(default_resource) else {
            return false;
        };
        self.resource_servers
            .get(client_id)
            .is_some_and(|resources| resources.iter().any(|r| r == audience))
    }
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// Requests per client IP.
    Ip,
    /// argon2id secret checks per (client id, client IP).
    ClientIdFromIp,
    /// argon2id secret checks per client id, from every address.
    ClientId,
}

impl LimitKind {
    /// `"ip"`, `"client_id_ip"` or `"client_id"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ip => "ip",
            Self::ClientIdFromIp => "client_id_ip",
            Self::ClientId => "client_id",
        }
    }
}

/// The limits on client authentication at the machine endpoints, counted
/// in this process's memory: they protect this process's CPU, and a flood
/// writes nothing to the store.
///
/// - Per client IP: requests that are not authenticated by a secret this
///   process remembers as verified (see
///   [`OAuthConfig::secret_cache_ttl`](authstore::oauth::OAuthConfig::secret_cache_ttl)).
/// - Per client id and client IP, then per client id from all addresses:
///   argon2id checks of a secret this process has never seen pass for that
///   client. A secret that passed before (the client's own) is exempt, so a
///   flood of wrong secrets on a client id cannot lock out a client that
///   authenticated before; and since a flood from one address spends only
///   that address's share, a client authenticating for the first time from
///   another address gets through unless the flood comes from many
///   addresses at once.
#[derive(Debug, Clone)]
pub struct MachineLimits {
    by_ip: Option<RateLimiter>,
    by_client_ip: Option<RateLimiter>,
    by_client: Option<RateLimiter>,
    /// Also holds the markers that keep refusals from being audited more
    /// than once a minute per key.
    local: Arc<dyn Store>,
}

/// How long a refusal for one key is audited only once.
const AUDIT_EVERY: Duration = Duration::from_secs(60);

impl MachineLimits {
    /// `per_ip` requests, `per_client_ip` secret checks per (client id,
    /// client IP) and `per_client` secret checks per client id, each per
    /// minute (`None`: unlimited).
    ///
    /// # Errors
    /// Never in practice (a memory store and fixed namespaces).
    pub fn new(
        per_ip: Option<u32>,
        per_client_ip: Option<u32>,
        per_client: Option<u32>,
        clock: SharedClock,
    ) -> authstore::Result<Self> {
        let local: Arc<dyn Store> = Arc::new(
            MemoryStore::builder()
                .max_entries(65_536)
                .clock(Arc::clone(&clock))
                .build()?,
        );
        let limiter = |per_minute: Option<u32>, namespace: &str| {
            per_minute
                .map(|n| {
                    RateLimiter::with_clock(
                        Arc::clone(&local),
                        Limit::per(n.max(1), Duration::from_secs(60)),
                        Arc::clone(&clock),
                    )
                    .namespace(namespace)
                })
                .transpose()
        };
        Ok(Self {
            by_ip: limiter(per_ip, "rl-machine-ip:")?,
            by_client_ip: limiter(per_client_ip, "rl-machine-client-ip:")?,
            by_client: limiter(per_client, "rl-machine-client:")?,
            local,
        })
    }

    /// Counts a request from `ip_key`; `Some(retry_after)` when refused.
    ///
    /// # Errors
    /// Store errors of the in-memory counter.
    pub async fn check_ip(&self, ip_key: &str) -> authstore::Result<Option<Duration>> {
        Self::check(self.by_ip.as_ref(), ip_key).await
    }

    /// Counts a secret check for `client_id` from `ip_key`: first against
    /// the (client id, IP) limit, then, if that allows it, against the
    /// client id's; the refusing limit and `retry_after` when refused.
    ///
    /// # Errors
    /// Store errors of the in-memory counters.
    pub async fn check_client(
        &self,
        client_id: &str,
        ip_key: &str,
    ) -> authstore::Result<Option<(LimitKind, Duration)>> {
        let pair = format!("{client_id}|{ip_key}");
        if let Some(retry) = Self::check(self.by_client_ip.as_ref(), &pair).await? {
            return Ok(Some((LimitKind::ClientIdFromIp, retry)));
        }
        let refused = Self::check(self.by_client.as_ref(), client_id).await?;
        Ok(refused.map(|retry| (LimitKind::ClientId, retry)))
    }

    async fn check(
        limiter: Option<&RateLimiter>,
        key: &str,
    ) -> authstore::Result<Option<Duration>> {
        let Some(limiter) = limiter else {
            return Ok(None);
        };
        let decision = limiter.check(key, 1).await?;
        Ok((!decision.allowed).then(|| decision.retry_after.max(Duration::from_secs(1))))
    }

    /// True the first time in a minute that `kind` refuses `key`: the
    /// refusal is worth an audit event; later ones within the minute are not.
    pub async fn first_refusal(&self, kind: LimitKind, key: &str) -> bool {
        let marker = format!("audited-refusal:{}|{key}", kind.as_str());
        let options = PutOptions::new().ttl(AUDIT_EVERY).create_only();
        self.local.put(&marker, b"", options).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use authstore::FakeClock;

    fn policy() -> IntrospectionPolicy {
        IntrospectionPolicy {
            resource_servers: BTreeMap::from([
                ("api".into(), vec!["https://api.example".into()]),
                (
                    "multi".into(),
                    vec!["https://a.example".into(), "https://b.example".into()],
                ),
            ]),
            trusted: vec!["ops".into()],
        }
    }

    #[test]
    fn resource_servers_see_their_own_audience_only() {
        let p = policy();
        let api = Some("https://api.example");
        assert!(p.may_see("api", TokenKind::Access, api, None));
        assert!(!p.may_see(
            "api",
            TokenKind::Access,
            Some("https://other.example"),
            None
        ));
        assert!(p.may_see("multi", TokenKind::Access, Some("https://b.example"), None));
        assert!(!p.may_see("multi", TokenKind::Access, api, None));
        assert!(
            !p.may_see("api", TokenKind::Refresh, api, None),
            "never refresh tokens"
        );
        assert!(!p.may_see("stranger", TokenKind::Access, api, None));
        assert!(!p.may_introspect("stranger"));
        assert!(p.may_introspect("api") && p.may_introspect("ops"));
    }

    #[test]
    fn tokens_without_a_resource_belong_to_the_configured_one() {
        let p = policy();
        assert!(
            !p.may_see("api", TokenKind::Access, None, None),
            "no audience at all"
        );
        assert!(p.may_see("api", TokenKind::Access, None, Some("https://api.example")));
        assert!(!p.may_see(
            "multi",
            TokenKind::Access,
            None,
            Some("https://api.example")
        ));
        assert!(p.may_see("ops", TokenKind::Access, None, None));
    }

    #[test]
    fn trusted_introspectors_see_everything() {
        let p = policy();
        for kind in [TokenKind::Access, TokenKind::Refresh] {
            assert!(p.may_see("ops", kind, Some("https://x.example"), None));
        }
    }

    #[tokio::test]
    async fn limits_refuse_past_the_budget_and_refusals_are_audited_once_a_minute() {
        let clock = FakeClock::new();
        let limits = MachineLimits::new(Some(2), None, None, Arc::new(clock.clone())).unwrap();
        assert_eq!(limits.check_ip("ip:a").await.unwrap(), None);
        assert_eq!(limits.check_ip("ip:a").await.unwrap(), None);
        let retry = limits.check_ip("ip:a").await.unwrap().expect("refused");
        assert!(retry >= Duration::from_secs(1));
        assert_eq!(limits.check_ip("ip:b").await.unwrap(), None, "per key");
        for _ in 0..100 {
            assert_eq!(
                limits.check_client("c", "ip:a").await.unwrap(),
                None,
                "unlimited"
            );
        }
        assert!(limits.first_refusal(LimitKind::Ip, "ip:a").await);
        assert!(!limits.first_refusal(LimitKind::Ip, "ip:a").await);
        assert!(limits.first_refusal(LimitKind::ClientId, "ip:a").await);
        clock.advance(AUDIT_EVERY);
        assert!(limits.first_refusal(LimitKind::Ip, "ip:a").await);
    }

    #[tokio::test]
    async fn one_address_spends_only_its_share_of_a_client_ids_checks() {
        let clock = FakeClock::new();
        let limits = MachineLimits::new(None, Some(2), Some(3), Arc::new(clock)).unwrap();
        for _ in 0..2 {
            assert_eq!(limits.check_client("c", "ip:flood").await.unwrap(), None);
        }
        for _ in 0..5 {
            let refused = limits.check_client("c", "ip:flood").await.unwrap();
            assert_eq!(refused.map(|r| r.0), Some(LimitKind::ClientIdFromIp));
        }
        assert_eq!(limits.check_client("c", "ip:other").await.unwrap(), None);
        let refused = limits.check_client("c", "ip:third").await.unwrap();
        assert_eq!(
            refused.map(|r| r.0),
            Some(LimitKind::ClientId),
            "3 per id in all"
        );
        assert_eq!(limits.check_client("d", "ip:flood").await.unwrap(), None);
    }
}
