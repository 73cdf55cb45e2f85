//! RFC 7662 token introspection: the resource server asks the authorization server about each token (client authentication with HTTP Basic) and remembers the answer for a short while, keyed by the token's SHA-256.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::http_client::{HttpClient, is_http_url, shown_url};
use super::jwt::{single_audience, split_scope};
use super::verdicts::{Verdict, Verdicts, token_key};
use super::{AccessToken, InvalidToken, TokenValidator, ValidationError};
use crate::clock::{Clock, SharedClock, SystemClock, duration_to_millis};
use crate::error::{Error, Result};

/// Largest introspection response read.
const MAX_RESPONSE: usize = 64 * 1024;
/// Longest token sent for introspection.
const MAX_TOKEN: usize = 8192;

/// Where and how an [`IntrospectionValidator`] introspects tokens.
/// `Debug` shows no secret.
#[derive(Clone, PartialEq, Eq)]
pub struct IntrospectionConfig {
    /// The authorization server's introspection endpoint URL.
    pub endpoint: String,
    /// The resource server's client id at the authorization server.
    pub client_id: String,
    /// Its client secret (sent with HTTP Basic; never shown by `Debug`).
    pub client_secret: String,
    /// An active token's answer is remembered at most this long, and never
    /// past the token's `exp` (default 60 s). A revocation at the
    /// authorization server takes up to this long to be seen here. Zero
    /// disables remembering active tokens.
    pub max_cache: Duration,
    /// A refusal (inactive, expired, or otherwise unusable token) is
    /// remembered this long (default 5 s; zero disables it).
    pub negative_cache: Duration,
    /// At most this many answers are remembered (default 100,000; the least
    /// recently used go first).
    pub cache_entries: usize,
    /// Deadline of each introspection request (default 5 s).
    pub timeout: Duration,
}

impl std::fmt::Debug for IntrospectionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionConfig")
            .field("endpoint", &shown_url(&self.endpoint))
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("max_cache", &self.max_cache)
            .field("negative_cache", &self.negative_cache)
            .field("cache_entries", &self.cache_entries)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl IntrospectionConfig {
    /// Introspection at `endpoint`, authenticating as `client_id` with
    /// `client_secret`, with the defaults.
    pub fn new(
        endpoint: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        Self {
            endpoint: endpoint.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            max_cache: Duration::from_secs(60),
            negative_cache: Duration::from_secs(5),
            cache_entries: 100_000,
            timeout: Duration::from_secs(5),
        }
    }

    /// Longest time an active token's answer is remembered.
    pub fn max_cache(mut self, max_cache: Duration) -> Self {
        self.max_cache = max_cache;
        self
    }

    /// How long a refusal is remembered.
    pub fn negative_cache(mut self, negative_cache: Duration) -> Self {
        self.negative_cache = negative_cache;
        self
    }

    /// How many answers are remembered at most.
    pub fn cache_entries(mut self, entries: usize) -> Self {
        self.cache_entries = entries;
        self
    }

    /// Deadline of each introspection request.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Validates tokens by RFC 7662 introspection at the authorization server:
/// one POST per token not yet remembered, with the resource server's own
/// client credentials (HTTP Basic, RFC 6749 §2.3.1). Works for opaque and
/// JWT access tokens alike. Cheap to clone.
///
/// Answers are remembered in a bounded in-process cache keyed by the
/// token's SHA-256 (never the token): an active token for at most
/// [`IntrospectionConfig::max_cache`] and never past its `exp`, a refusal
/// for [`IntrospectionConfig::negative_cache`]. A revocation therefore takes
/// effect here within `max_cache`. An unreachable or failing endpoint, or an
/// answer that is not RFC 7662 JSON, is [`ValidationError::Unavailable`],
/// never an acceptance.
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use authstore::oauth::resource::{
///     IntrospectionConfig, IntrospectionValidator, ResourceConfig, ResourceServer,
/// };
/// use std::time::Duration;
///
/// let secret = std::env::var("INTROSPECTION_SECRET")?;
/// let validator = IntrospectionValidator::new(
///     IntrospectionConfig::new("https://auth.example.com/introspect", "api", secret)
///         .max_cache(Duration::from_secs(30)),
/// )?;
/// let api = ResourceServer::new(
///     ResourceConfig::new("https://api.example.com/mcp", ["https://auth.example.com"]),
///     validator,
/// )?;
/// let token = api.authenticate(Some("Bearer 2YotnFZFEjr1zCsicMWpAA")).await?;
/// println!("scopes: {:?}", token.scopes);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct IntrospectionValidator {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: String,
    client_id: String,
    /// `Basic base64(urlencode(id):urlencode(secret))`: a secret.
    authorization: String,
    max_cache_ms: u64,
    negative_cache_ms: u64,
    cache: Verdicts,
    clock: SharedClock,
    http: HttpClient,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionValidator")
            .field("endpoint", &shown_url(&self.endpoint))
            .field("client_id", &self.client_id)
            .field("max_cache_ms", &self.max_cache_ms)
            .field("negative_cache_ms", &self.negative_cache_ms)
            .finish_non_exhaustive()
    }
}

/// An answer of the endpoint.
#[derive(Debug)]
enum Remembered {
    /// An active token (the endpoint shows no grant).
    Active(AccessToken),
    /// A refusal.
    Refused(Refusal),
}

/// The refusals an introspection answer leads to.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    Inactive,
    Expired,
    WrongAudience,
    Unusable,
}

impl From<Refusal> for InvalidToken {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Inactive => InvalidToken::Inactive,
            Refusal::Expired => InvalidToken::Expired,
            Refusal::WrongAudience => InvalidToken::WrongAudience,
            Refusal::Unusable => InvalidToken::Malformed(
                "the introspection answer lacks exp or client_id, or is mistyped",
            ),
        }
    }
}

impl IntrospectionValidator {
    /// A validator for `config`, with the system clock.
    ///
    /// # Errors
    /// As [`with_clock`](Self::with_clock).
    pub fn new(config: IntrospectionConfig) -> Result<Self> {
        Self::with_clock(config, SystemClock)
    }

    /// A validator judging expiry and cache lifetimes by `clock`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an endpoint that is not an http(s)
    /// URL, an empty client id, no cache entries or a zero timeout;
    /// [`Error::Internal`] if TLS cannot be set up.
    pub fn with_clock(config: IntrospectionConfig, clock: impl Clock) -> Result<Self> {
        if !is_http_url(&config.endpoint) {
            return Err(Error::InvalidArgument(
                "the introspection endpoint must be an http(s) URL",
            ));
        }
        if config.client_id.is_empty() {
            return Err(Error::InvalidArgument(
                "introspection needs the resource server's client id",
            ));
        }
        let clock: SharedClock = Arc::new(clock);
        if config.cache_entries == 0 {
            return Err(Error::InvalidArgument(
                "the introspection cache needs room for at least one entry",
            ));
        }
        let cache = Verdicts::new(config.cache_entries);
        let form = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let credentials = format!(
            "{}:{}",
            form(&config.client_id),
            form(&config.client_secret)
        );
        Ok(Self {
            inner: Arc::new(Inner {
                http: HttpClient::new(config.timeout)?,
                authorization: format!("Basic {}", STANDARD.encode(credentials)),
                endpoint: config.endpoint,
                client_id: config.client_id,
                max_cache_ms: duration_to_millis(config.max_cache),
                negative_cache_ms: duration_to_millis(config.negative_cache),
                cache,
                clock,
            }),
        })
    }
}

#[async_trait]
impl TokenValidator for IntrospectionValidator {
    async fn validate(&self, token: &str) -> std::result::Result<AccessToken, ValidationError> {
        if token.is_empty() || token.len() > MAX_TOKEN {
            return Err(InvalidToken::Malformed("not an access token").into());
        }
        let inner = &self.inner;
        let key = token_key(token);
        let now = inner.clock.now_millis();
        if let Some(verdict) = inner.cache.get(&key, now) {
            return inner.answer(verdict, now);
        }
        let (verdict, until) = match inner.introspect(token).await? {
            Remembered::Active(token) => {
                let until = (token.expires_at)
                    .saturating_mul(1000)
                    .min(now.saturating_add(inner.max_cache_ms));
                (Verdict::Accepted(Arc::new(token)), until)
            }
            Remembered::Refused(refusal) => (
                Verdict::Refused(refusal.into()),
                now.saturating_add(inner.negative_cache_ms),
            ),
        };
        let now = inner.clock.now_millis();
        inner.cache.put(key, verdict.clone(), until, now);
        inner.answer(verdict, now)
    }
}

impl Inner {
    /// What a (remembered or fresh) verdict means at `now` (ms).
    fn answer(
        &self,
        verdict: Verdict,
        now: u64,
    ) -> std::result::Result<AccessToken, ValidationError> {
        match verdict {
            Verdict::Accepted(token) if token.expires_at.saturating_mul(1000) <= now => {
                Err(InvalidToken::Expired.into())
            }
            Verdict::Accepted(token) => Ok(Arc::unwrap_or_clone(token)),
            Verdict::Refused(reason) => Err(reason.into()),
        }
    }

    /// Asks the endpoint about `token`.
    async fn introspect(&self, token: &str) -> std::result::Result<Remembered, ValidationError> {
        let form = [("token", token), ("token_type_hint", "access_token")];
        let response = self
            .http
            .post_form(&self.endpoint, &form, &self.authorization, MAX_RESPONSE)
            .await
            .map_err(ValidationError::Unavailable)?;
        match response.status {
            200 => {}
            401 => {
                return Err(ValidationError::Unavailable(format!(
                    "the introspection endpoint {} refused the resource server's client credentials (HTTP 401)",
                    shown_url(&self.endpoint)
                )));
            }
            status => {
                return Err(ValidationError::Unavailable(format!(
                    "the introspection endpoint {} answered HTTP {status}",
                    shown_url(&self.endpoint)
                )));
            }
        }
        let answer: Value = serde_json::from_slice(&response.body).ok().ok_or_else(|| {
            ValidationError::Unavailable(format!(
                "the introspection endpoint {} answered with something other than JSON",
                shown_url(&self.endpoint)
            ))
        })?;
        let Some(active) = answer.get("active").and_then(Value::as_bool) else {
            return Err(ValidationError::Unavailable(format!(
                "the introspection endpoint {} answered without a boolean \"active\"",
                shown_url(&self.endpoint)
            )));
        };
        Ok(interpret(active, &answer, self.clock.now_millis()))
    }
}

/// What an RFC 7662 answer means for an access token at `now` (ms).
fn interpret(active: bool, answer: &Value, now: u64) -> Remembered {
    let refused = Remembered::Refused;
    if !active
        || answer
            .get("token_type")
            .is_some_and(|t| t == "refresh_token")
    {
        return refused(Refusal::Inactive);
    }
    let Some(exp) = answer.get("exp").and_then(Value::as_u64) else {
        return refused(Refusal::Unusable);
    };
    if exp.saturating_mul(1000) <= now {
        return refused(Refusal::Expired);
    }
    let aud = match single_audience(answer.get("aud")) {
        Ok(aud) => aud,
        Err(InvalidToken::WrongAudience) => return refused(Refusal::WrongAudience),
        Err(_) => return refused(Refusal::Unusable),
    };
    let text = |name: &str| match answer.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(()),
    };
    let (Ok(Some(client_id)), Ok(sub), Ok(scope)) = (text("client_id"), text("sub"), text("scope"))
    else {
        return refused(Refusal::Unusable);
    };
    Remembered::Active(AccessToken {
        subject: sub,
        client_id,
        scopes: scope.as_deref().map(split_scope).unwrap_or_default(),
        audience: aud,
        expires_at: exp,
        grant_id: None,
    })
}
