//! The JWK set a JWT validator trusts: which published keys are usable (Ed25519, P-256, RSA of 2048 bits or more), the one algorithm each is pinned to, signature checks with ring, and discovery, fetching and refetching of the set.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use parking_lot::Mutex;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::Value;

use super::http_client::{HttpClient, is_http_url, shown_url};
use crate::clock::{Clock, SharedClock, duration_to_millis};

/// Largest metadata document or JWK set read.
const MAX_DOCUMENT: usize = 512 * 1024;
/// At most this many keys of a set are considered.
const MAX_KEYS: usize = 64;

/// The JWS algorithms a key can be pinned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Alg {
    /// Ed25519 (`OKP`, `crv: Ed25519`).
    EdDsa,
    /// ECDSA P-256 with SHA-256 (`EC`, `crv: P-256`).
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (`RSA`).
    Rs256,
}

impl Alg {
    /// The algorithm a JWS `alg` names, if it is one of those accepted.
    pub(super) fn from_name(name: &str) -> Option<Self> {
        match name {
            "EdDSA" => Some(Self::EdDsa),
            "ES256" => Some(Self::Es256),
            "RS256" => Some(Self::Rs256),
            _ => None,
        }
    }
}

/// A published verification key and the one algorithm it is used with.
#[derive(Debug)]
pub(crate) enum VerifyKey {
    /// An Ed25519 public key (32 bytes).
    Ed25519(Vec<u8>),
    /// A P-256 public point, uncompressed (`0x04 || x || y`).
    P256(Vec<u8>),
    /// An RSA modulus and exponent, big-endian without leading zeros.
    Rsa {
        /// The modulus.
        n: Vec<u8>,
        /// The public exponent.
        e: Vec<u8>,
    },
}

impl VerifyKey {
    /// The algorithm this key is pinned to.
    pub(crate) fn alg(&self) -> Alg {
        match self {
            Self::Ed25519(_) => Alg::EdDsa,
            Self::P256(_) => Alg::Es256,
            Self::Rsa { .. } => Alg::Rs256,
        }
    }

    /// Whether `sig` is this key's signature of `message`.
    pub(crate) fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        match self {
            Self::Ed25519(x) => UnparsedPublicKey::new(&signature::ED25519, x)
                .verify(message, sig)
                .is_ok(),
            Self::P256(point) => UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(message, sig)
                .is_ok(),
            Self::Rsa { n, e } => RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, sig)
                .is_ok(),
        }
    }

    /// The key a JWK describes, if it is a signing key of a supported type
    /// whose `alg` (when given) is the one its type implies.
    fn from_jwk(jwk: &Value) -> Option<Self> {
        let text = |name: &str| jwk.get(name).and_then(Value::as_str);
        let bytes = |name: &str| text(name).and_then(|t| URL_SAFE_NO_PAD.decode(t).ok());
        if jwk.get("use").is_some_and(|u| u != "sig") {
            return None;
        }
        if let Some(ops) = jwk.get("key_ops")
            && !ops
                .as_array()
                .is_some_and(|ops| ops.iter().any(|op| op == "verify"))
        {
            return None;
        }
        let key = match (text("kty")?, text("crv")) {
            ("OKP", Some("Ed25519")) => {
                let x = bytes("x")?;
                (x.len() == 32).then_some(Self::Ed25519(x))?
            }
            ("EC", Some("P-256")) => {
                let (x, y) = (bytes("x")?, bytes("y")?);
                if x.len() != 32 || y.len() != 32 {
                    return None;
                }
                let mut point = Vec::with_capacity(65);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Self::P256(point)
            }
            ("RSA", _) => {
                let n = strip_leading_zeros(bytes("n")?);
                let e = strip_leading_zeros(bytes("e")?);
                let bits = n
                    .first()
                    .map_or(0, |b| n.len() * 8 - b.leading_zeros() as usize);
                if !(2048..=8192).contains(&bits) || e.is_empty() || e.len() > 4 {
                    return None;
                }
                Self::Rsa { n, e }
            }
            _ => return None,
        };
        match text("alg") {
            Some(alg) if Alg::from_name(alg) != Some(key.alg()) => None,
            _ => Some(key),
        }
    }
}

fn strip_leading_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.drain(..zeros);
    bytes
}

/// The usable keys of a JWK set, by `kid`.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    keys: HashMap<String, VerifyKey>,
}

impl KeySet {
    /// The usable keys of a JWK set document; keys that are not signing
    /// keys of a supported type, lack a `kid` or do not parse are skipped.
    /// Of two keys with one `kid`, the first counts.
    ///
    /// # Errors
    /// A message when the document is not a JWK set.
    pub(crate) fn parse(document: &[u8]) -> Result<Self, &'static str> {
        let doc: Value = serde_json::from_slice(document).map_err(|_| "it is not JSON")?;
        let list = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("it has no \"keys\" array")?;
        let mut keys = HashMap::new();
        for jwk in list.iter().take(MAX_KEYS) {
            let Some(kid) = jwk.get("kid").and_then(Value::as_str) else {
                continue;
            };
            if kid.is_empty() || keys.contains_key(kid) {
                continue;
            }
            if let Some(key) = VerifyKey::from_jwk(jwk) {
                keys.insert(kid.to_owned(), key);
            }
        }
        Ok(Self { keys })
    }

    /// The key named `kid`.
    pub(crate) fn get(&self, kid: &str) -> Option<&VerifyKey> {
        self.keys.get(kid)
    }
}

/// Where the metadata of `issuer` may be: RFC 8414 (the well-known path
/// inserted before the issuer's path), then OpenID Connect Discovery
/// (appended to it).
fn discovery_urls(issuer: &str) -> Option<[String; 2]> {
    let url = url::Url::parse(issuer).ok()?;
    let path = url.path().trim_end_matches('/');
    let origin = url.origin().ascii_serialization();
    Some([
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        ),
    ])
}

/// Fetches and caches the JWK set of one issuer: lazily, again after its
/// maximum age, and on an unknown `kid` at most once per interval.
#[derive(Debug)]
pub(super) struct KeySource {
    issuer: String,
    configured_uri: Option<String>,
    http: HttpClient,
    clock: SharedClock,
    max_age_ms: u64,
    min_refetch_ms: u64,
    state: Mutex<State>,
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct State {
    discovered_uri: Option<String>,
    set: Option<Arc<KeySet>>,
    fetched_at: u64,
    last_attempt: Option<u64>,
    last_error: Option<String>,
    last_unknown_kid_fetch: Option<u64>,
}

/// Why the set is fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// None yet, or older than its maximum age.
    Fresh,
    /// A token names a key the set lacks.
    Kid,
}

impl KeySource {
    pub(super) fn new(
        issuer: String,
        configured_uri: Option<String>,
        http: HttpClient,
        clock: SharedClock,
        max_age: std::time::Duration,
        min_refetch: std::time::Duration,
    ) -> Self {
        Self {
            issuer,
            configured_uri,
            http,
            clock,
            max_age_ms: duration_to_millis(max_age),
            min_refetch_ms: duration_to_millis(min_refetch),
            state: Mutex::new(State::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// The current set, fetched if there is none or it is too old (a failed
    /// refetch keeps the old set). When the set lacks `kid`, it is fetched
    /// again, at most once per minimum refetch interval; the caller then
    /// looks `kid` up in what it gets.
    ///
    /// # Errors
    /// Why no set could be fetched, while none ever was.
    pub(super) async fn set_with(&self, kid: &str) -> Result<Arc<KeySet>, String> {
        let (set, fresh) = self.current();
        let mut just_fetched = false;
        match &set {
            Some(set) if fresh => {
                if set.get(kid).is_some() {
                    return Ok(set.clone());
                }
            }
            Some(set) if set.get(kid).is_some() => {
                // Too old: one request refetches; the others go on with it.
                if let Ok(_guard) = self.fetching.try_lock() {
                    self.refresh(Need::Fresh).await;
                }
                return Ok(self.current().0.unwrap_or_else(|| set.clone()));
            }
            _ => {
                let _guard = self.fetching.lock().await;
                just_fetched = self.refresh(Need::Fresh).await;
            }
        }
        let Some(set) = self.current().0 else {
            let why = self.state.lock().last_error.clone();
            return Err(why.unwrap_or_else(|| "no JWK set could be fetched yet".to_owned()));
        };
        if set.get(kid).is_some() || just_fetched {
            return Ok(set);
        }
        let _guard = self.fetching.lock().await;
        if let Some(set) = self.current().0.filter(|s| s.get(kid).is_some()) {
            return Ok(set);
        }
        self.refresh(Need::Kid).await;
        Ok(self.current().0.unwrap_or(set))
    }

    /// The cached set and whether it is younger than its maximum age.
    fn current(&self) -> (Option<Arc<KeySet>>, bool) {
        let now = self.clock.now_millis();
        let state = self.state.lock();
        let fresh = now < state.fetched_at.saturating_add(self.max_age_ms);
        (state.set.clone(), state.set.is_some() && fresh)
    }

    /// Fetches the set if `need` still holds and the rate limits allow;
    /// the caller holds `fetching`. Returns whether a new set was fetched.
    async fn refresh(&self, need: Need) -> bool {
        let now = self.clock.now_millis();
        {
            let mut state = self.state.lock();
            let recent = |at: Option<u64>| {
                at.is_some_and(|at| now < at.saturating_add(self.min_refetch_ms) && now >= at)
            };
            match need {
                Need::Fresh => {
                    let fresh = state.set.is_some()
                        && now < state.fetched_at.saturating_add(self.max_age_ms);
                    if fresh || recent(state.last_attempt) {
                        return false;
                    }
                }
                Need::Kid => {
                    if recent(state.last_unknown_kid_fetch) {
                        return false;
                    }
                    state.last_unknown_kid_fetch = Some(now);
                }
            }
            state.last_attempt = Some(now);
        }
        let fetched = self.fetch().await;
        let mut state = self.state.lock();
        match fetched {
            Ok(set) => {
                state.set = Some(Arc::new(set));
                state.fetched_at = now;
                state.last_error = None;
                true
            }
            Err(why) => {
                // The set may have moved: look it up again next time.
                state.discovered_uri = None;
                state.last_error = Some(why);
                false
            }
        }
    }

    async fn fetch(&self) -> Result<KeySet, String> {
        let uri = match &self.configured_uri {
            Some(uri) => uri.clone(),
            None => {
                let known = self.state.lock().discovered_uri.clone();
                match known {
                    Some(uri) => uri,
                    None => {
                        let uri = self.discover().await?;
                        self.state.lock().discovered_uri = Some(uri.clone());
                        uri
                    }
                }
            }
        };
        let response = self.http.get(&uri, MAX_DOCUMENT).await?;
        if response.status != 200 {
            return Err(format!(
                "the JWK set at {} answered HTTP {}",
                shown_url(&uri),
                response.status
            ));
        }
        KeySet::parse(&response.body).map_err(|why| {
            format!(
                "the document at {} is not a JWK set: {why}",
                shown_url(&uri)
            )
        })
    }

    /// The `jwks_uri` of the issuer's metadata (RFC 8414, then OpenID
    /// Connect Discovery), whose `issuer` must be ours exactly.
    async fn discover(&self) -> Result<String, String> {
        let urls = discovery_urls(&self.issuer)
            .ok_or_else(|| "the issuer is not a URL; configure jwks_uri".to_owned())?;
        let mut failures = Vec::new();
        for url in &urls {
            match self.metadata_jwks_uri(url).await {
                Ok(uri) => return Ok(uri),
                Err(why) => failures.push(why),
            }
        }
        Err(format!(
            "no authorization server metadata: {}",
            failures.join("; ")
        ))
    }

    async fn metadata_jwks_uri(&self, url: &str) -> Result<String, String> {
        let response = self.http.get(url, MAX_DOCUMENT).await?;
        if response.status != 200 {
            return Err(format!(
                "{} answered HTTP {}",
                shown_url(url),
                response.status
            ));
        }
        let doc: Value = serde_json::from_slice(&response.body)
            .map_err(|_| format!("{} is not JSON", shown_url(url)))?;
        if doc.get("issuer").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(format!(
                "the metadata at {} is for another issuer",
                shown_url(url)
            ));
        }
        match doc.get("jwks_uri").and_then(Value::as_str) {
            Some(uri) if is_http_url(uri) => Ok(uri.to_owned()),
            _ => Err(format!(
                "the metadata at {} has no http(s) jwks_uri",
                shown_url(url)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_rsa_key_without_a_modulus_is_skipped() {
        for n in ["", "AA", "AAAA"] {
            let doc = format!(r#"{{"keys":[{{"kty":"RSA","kid":"r","n":"{n}","e":"AQAB"}}]}}"#);
            let set = KeySet::parse(doc.as_bytes()).expect("a JWK set");
            assert!(set.get("r").is_none(), "n = {n:?}");
        }
    }
}
