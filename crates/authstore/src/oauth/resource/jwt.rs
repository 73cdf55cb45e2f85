//! RFC 9068 JWT access tokens checked locally against the authorization server's published JWK set: signature (EdDSA, ES256, RS256, pinned per key), type, issuer, lifetime, audience and claims.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::http_client::{HttpClient, is_http_url};
use super::jwks::{Alg, KeySet, KeySource};
use super::verdicts::{Verdict, Verdicts, token_key};
use super::{AccessToken, InvalidToken, TokenValidator, ValidationError};
use crate::clock::{Clock, SharedClock, SystemClock, duration_to_millis};
use crate::error::{Error, Result};

/// Longest token read.
const MAX_TOKEN: usize = 8192;
/// Header parameters that point at keys or extensions this validator never
/// follows: a token naming one is refused.
const REFUSED_HEADERS: [&str; 5] = ["crit", "jku", "x5u", "jwk", "x5c"];

/// Where a [`JwtValidator`] finds the keys of its authorization server, and
/// how it judges time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtConfig {
    /// The authorization server's issuer identifier; a token's `iss` must
    /// equal it exactly.
    pub issuer: String,
    /// The JWK set URL. `None` (the default) discovers it from the issuer's
    /// metadata: RFC 8414 `/.well-known/oauth-authorization-server` (inserted
    /// before the issuer's path), else `/.well-known/openid-configuration`
    /// (appended); the metadata's `issuer` must equal [`issuer`](Self::issuer).
    pub jwks_uri: Option<String>,
    /// Tolerated clock difference for `exp`, `nbf` and `iat` (default 30 s).
    pub leeway: Duration,
    /// The JWK set is fetched again once it is this old (default 10 min).
    pub jwks_max_age: Duration,
    /// A token naming an unknown key fetches the set again at most once per
    /// this interval; so does a failed fetch while no set is known (default 10 s).
    pub min_refetch_interval: Duration,
    /// Deadline of each HTTP request (default 5 s).
    pub timeout: Duration,
    /// A token whose signature and claims were verified is remembered (by
    /// its SHA-256, in this process) this long, and never past its `exp`
    /// plus the leeway, so a client calling again is not verified again.
    /// Zero verifies every request (default 60 s).
    pub verified_cache: Duration,
    /// At most this many verified tokens are remembered (default 100,000).
    pub cache_entries: usize,
}

impl JwtConfig {
    /// Tokens of `issuer`, with its JWK set discovered and the defaults.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            jwks_uri: None,
            leeway: Duration::from_secs(30),
            jwks_max_age: Duration::from_secs(600),
            min_refetch_interval: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            verified_cache: Duration::from_secs(60),
            cache_entries: 100_000,
        }
    }

    /// The JWK set URL, instead of discovering it.
    pub fn jwks_uri(mut self, uri: impl Into<String>) -> Self {
        self.jwks_uri = Some(uri.into());
        self
    }

    /// Tolerated clock difference.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Age after which the JWK set is fetched again.
    pub fn jwks_max_age(mut self, age: Duration) -> Self {
        self.jwks_max_age = age;
        self
    }

    /// Least time between two fetches for unknown keys.
    pub fn min_refetch_interval(mut self, interval: Duration) -> Self {
        self.min_refetch_interval = interval;
        self
    }

    /// Deadline of each HTTP request.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long a verified token is remembered (zero: never).
    pub fn verified_cache(mut self, verified_cache: Duration) -> Self {
        self.verified_cache = verified_cache;
        self
    }

    /// How many verified tokens are remembered at most.
    pub fn cache_entries(mut self, entries: usize) -> Self {
        self.cache_entries = entries;
        self
    }
}

/// Validates RFC 9068 JWT access tokens locally, with the authorization
/// server's published keys: no call to the authorization server per
/// request. Cheap to clone.
///
/// The key set is discovered and fetched on the first validation (so the
/// resource server may start before the authorization server), fetched
/// again after [`JwtConfig::jwks_max_age`], and when a token names an
/// unknown key (at most once per [`JwtConfig::min_refetch_interval`]). A
/// failed refetch keeps the known set; while no set could ever be fetched,
/// validation is [`ValidationError::Unavailable`].
///
/// Each key is pinned to one algorithm: its JWK `alg`, else the one its
/// type implies (Ed25519 → `EdDSA`, P-256 → `ES256`, RSA of 2048 bits or
/// more → `RS256`). A token whose header names another algorithm — `none`,
/// an HMAC, or another signature scheme — is refused, and keys or URLs in a
/// token's header (`jwk`, `jku`, `x5u`, `x5c`) are never used.
///
/// **Revocation cannot be seen in this mode**: a revoked token stays valid
/// here until its `exp`. Keep access-token lifetimes short, or use
/// [`SameStoreValidator`](super::SameStoreValidator) or
/// [`IntrospectionValidator`](super::IntrospectionValidator) where
/// revocation must take effect at once.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use authstore::oauth::resource::{JwtConfig, JwtValidator, ResourceConfig, ResourceServer};
///
/// let validator = JwtValidator::new(JwtConfig::new("https://auth.example.com"))?;
/// let api = ResourceServer::new(
///     ResourceConfig::new("https://api.example.com/mcp", ["https://auth.example.com"]),
///     validator,
/// )?;
/// let token = api.authenticate(Some("Bearer eyJ...")).await?;
/// println!("{} via {}", token.subject.unwrap_or_default(), token.client_id);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct JwtValidator {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    issuer: String,
    leeway_ms: u64,
    clock: SharedClock,
    keys: KeySource,
    verified_cache_ms: u64,
    verified: Verdicts,
}

impl JwtValidator {
    /// A validator for `config`'s issuer, with the system clock.
    ///
    /// # Errors
    /// As [`with_clock`](Self::with_clock).
    pub fn new(config: JwtConfig) -> Result<Self> {
        Self::with_clock(config, SystemClock)
    }

    /// A validator judging time (token lifetimes, key-set age, refetch
    /// intervals) by `clock`. Nothing is fetched yet.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty issuer, a `jwks_uri` that is
    /// not an http(s) URL, no `jwks_uri` and an issuer that is not an http(s)
    /// URL without query or fragment, or a zero timeout; [`Error::Internal`]
    /// if TLS cannot be set up.
    pub fn with_clock(config: JwtConfig, clock: impl Clock) -> Result<Self> {
        if config.issuer.is_empty() {
            return Err(Error::InvalidArgument("a JWT issuer must not be empty"));
        }
        match &config.jwks_uri {
            Some(uri) if !is_http_url(uri) => {
                return Err(Error::InvalidArgument("jwks_uri must be an http(s) URL"));
            }
            Some(_) => {}
            None => {
                let bare = url::Url::parse(&config.issuer)
                    .is_ok_and(|u| u.query().is_none() && u.fragment().is_none());
                if !bare || !is_http_url(&config.issuer) {
                    return Err(Error::InvalidArgument(
                        "without jwks_uri, the issuer must be an http(s) URL without query or fragment",
                    ));
                }
            }
        }
        let clock: SharedClock = Arc::new(clock);
        let keys = KeySource::new(
            config.issuer.clone(),
            config.jwks_uri,
            HttpClient::new(config.timeout)?,
            clock.clone(),
            config.jwks_max_age,
            config.min_refetch_interval,
        );
        Ok(Self {
            inner: Arc::new(Inner {
                issuer: config.issuer,
                leeway_ms: duration_to_millis(config.leeway),
                clock,
                keys,
                verified_cache_ms: duration_to_millis(config.verified_cache),
                verified: Verdicts::new(config.cache_entries),
            }),
        })
    }
}

#[async_trait]
impl TokenValidator for JwtValidator {
    async fn validate(&self, token: &str) -> std::result::Result<AccessToken, ValidationError> {
        let inner = &self.inner;
        let remembered = (inner.verified_cache_ms > 0).then(|| token_key(token));
        if let Some(key) = &remembered
            && let Some(Verdict::Accepted(token)) =
                inner.verified.get(key, inner.clock.now_millis())
        {
            return Ok(Arc::unwrap_or_clone(token));
        }
        let jws = Jws::parse(token)?;
        let set = inner
            .keys
            .set_with(&jws.kid)
            .await
            .map_err(ValidationError::Unavailable)?;
        let token = inner.verify(&set, &jws)?;
        if let Some(key) = remembered {
            let now = inner.clock.now_millis();
            let until = (token.expires_at.saturating_mul(1000))
                .saturating_add(inner.leeway_ms)
                .min(now.saturating_add(inner.verified_cache_ms));
            inner
                .verified
                .put(key, Verdict::Accepted(Arc::new(token.clone())), until, now);
        }
        Ok(token)
    }
}

/// A compact JWS whose header passed the checks, not yet verified.
#[derive(Debug)]
pub(crate) struct Jws<'a> {
    pub(crate) alg: Alg,
    pub(crate) kid: String,
    pub(crate) signing_input: &'a str,
    pub(crate) payload: &'a str,
    pub(crate) signature: Vec<u8>,
}

impl<'a> Jws<'a> {
    pub(crate) fn parse(token: &'a str) -> std::result::Result<Self, InvalidToken> {
        if token.len() > MAX_TOKEN {
            return Err(InvalidToken::Malformed("the JWT is longer than 8 KiB"));
        }
        let base64url = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
        if !token.bytes().all(base64url) {
            return Err(InvalidToken::Malformed("not a compact JWT"));
        }
        let mut parts = token.split('.');
        let (Some(header_part), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(InvalidToken::Malformed("a JWT has three parts"));
        };
        let header = decode_object(header_part, "the JWT header is not a JSON object")?;
        if REFUSED_HEADERS.iter().any(|p| header.contains_key(*p)) {
            return Err(InvalidToken::Malformed(
                "the JWT header names keys, URLs or extensions",
            ));
        }
        let alg = match header.get("alg") {
            Some(Value::String(alg)) => Alg::from_name(alg).ok_or(InvalidToken::Algorithm)?,
            _ => return Err(InvalidToken::Malformed("the JWT header has no alg")),
        };
        let typ = header.get("typ").and_then(Value::as_str).unwrap_or("");
        if !typ.eq_ignore_ascii_case("at+jwt") && !typ.eq_ignore_ascii_case("application/at+jwt") {
            return Err(InvalidToken::WrongType);
        }
        let kid = match header.get("kid") {
            Some(Value::String(kid)) if !kid.is_empty() => kid.clone(),
            _ => return Err(InvalidToken::Malformed("the JWT header has no kid")),
        };
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| InvalidToken::Malformed("the JWT signature is not base64url"))?;
        Ok(Self {
            alg,
            kid,
            signing_input: &token[..header_part.len() + 1 + payload.len()],
            payload,
            signature,
        })
    }
}

/// A base64url (unpadded) JSON object.
pub(crate) fn decode_object(
    part: &str,
    what: &'static str,
) -> std::result::Result<Map<String, Value>, InvalidToken> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| InvalidToken::Malformed(what))?;
    serde_json::from_slice(&bytes).map_err(|_| InvalidToken::Malformed(what))
}

/// An RFC 7519 NumericDate in whole seconds; `Err` for a value that is not one.
fn numeric_date(
    claims: &Map<String, Value>,
    name: &str,
    what: &'static str,
) -> std::result::Result<Option<u64>, InvalidToken> {
    match claims.get(name) {
        None => Ok(None),
        Some(value) => match (value.as_u64(), value.as_f64()) {
            (Some(secs), _) => Ok(Some(secs)),
            (None, Some(secs)) if secs.is_finite() && secs >= 0.0 => Ok(Some(secs as u64)),
            _ => Err(InvalidToken::Malformed(what)),
        },
    }
}

/// The audience of a token's `aud`: a string, or an array of exactly one.
pub(super) fn single_audience(
    aud: Option<&Value>,
) -> std::result::Result<Option<String>, InvalidToken> {
    match aud {
        None => Ok(None),
        Some(Value::String(aud)) => Ok(Some(aud.clone())),
        Some(Value::Array(list)) => match list.as_slice() {
            [] => Ok(None),
            [Value::String(aud)] => Ok(Some(aud.clone())),
            [_] => Err(InvalidToken::Malformed("aud is not a string")),
            _ => Err(InvalidToken::WrongAudience),
        },
        Some(_) => Err(InvalidToken::Malformed("aud is not a string")),
    }
}

impl Inner {
    /// `jws` verified with its key in `set` (pinned algorithm, signature),
    /// then its claims checked.
    pub(crate) fn verify(
        &self,
        set: &KeySet,
        jws: &Jws<'_>,
    ) -> std::result::Result<AccessToken, InvalidToken> {
        let key = set.get(&jws.kid).ok_or(InvalidToken::UnknownKey)?;
        if key.alg() != jws.alg {
            return Err(InvalidToken::Algorithm);
        }
        if !key.verify(jws.signing_input.as_bytes(), &jws.signature) {
            return Err(InvalidToken::BadSignature);
        }
        let claims = decode_object(jws.payload, "the JWT payload is not a JSON object")?;
        self.check_claims(&claims)
    }

    pub(crate) fn check_claims(
        &self,
        claims: &Map<String, Value>,
    ) -> std::result::Result<AccessToken, InvalidToken> {
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(InvalidToken::WrongIssuer);
        }
        let now = self.clock.now_millis();
        let exp = numeric_date(claims, "exp", "exp is not a NumericDate")?
            .ok_or(InvalidToken::Malformed("the JWT has no exp"))?;
        if now >= exp.saturating_mul(1000).saturating_add(self.leeway_ms) {
            return Err(InvalidToken::Expired);
        }
        for (name, what) in [
            ("nbf", "nbf is not a NumericDate"),
            ("iat", "iat is not a NumericDate"),
        ] {
            if let Some(at) = numeric_date(claims, name, what)?
                && at.saturating_mul(1000) > now.saturating_add(self.leeway_ms)
            {
                return Err(InvalidToken::NotYetValid);
            }
        }
        let audience = single_audience(claims.get("aud"))?;
        let client_id = match claims.get("client_id") {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            _ => return Err(InvalidToken::Malformed("the JWT has no client_id")),
        };
        let subject = match claims.get("sub") {
            None => None,
            Some(Value::String(sub)) => Some(sub.clone()),
            Some(_) => return Err(InvalidToken::Malformed("sub is not a string")),
        };
        let scopes = match (claims.get("scope"), claims.get("scp")) {
            (Some(Value::String(scope)), _) => split_scope(scope),
            (None, Some(Value::Array(list))) => list
                .iter()
                .map(|s| s.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or(InvalidToken::Malformed("scp is not a list of strings"))?,
            (None, None) => Vec::new(),
            _ => return Err(InvalidToken::Malformed("scope is not a string")),
        };
        Ok(AccessToken {
            subject,
            client_id,
            scopes,
            audience,
            expires_at: exp,
            grant_id: None,
        })
    }
}

/// The scopes of a space-separated `scope`.
pub(super) fn split_scope(scope: &str) -> Vec<String> {
    scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}
