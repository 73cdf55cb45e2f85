//! OpenID Connect ID tokens: the claims of a grant's ID token (`iss`, `sub`, `aud`, `azp`, `exp`, `iat`, `auth_time`, `nonce`, `at_hash`), signed with [`OAuth::sign_id_token`], and the checks on a request's `nonce`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256, Sha512};

use super::code::GrantRecord;
use super::{Client, OAuth, OAuthError, SigningAlg};
use crate::clock::duration_to_millis;

/// The scope that asks for an ID token.
pub const OPENID_SCOPE: &str = "openid";

/// Longest accepted `nonce`, in bytes.
pub const MAX_NONCE_LEN: usize = 512;

/// Checks an authorization request's `nonce`: 1 to [`MAX_NONCE_LEN`]
/// printable ASCII characters (space included).
///
/// ```
/// use authstore::oauth::check_nonce;
/// assert!(check_nonce("n-0S6_WzA2Mj").is_ok());
/// assert!(check_nonce("").is_err());
/// assert!(check_nonce("line\nbreak").is_err());
/// assert!(check_nonce(&"a".repeat(513)).is_err());
/// ```
///
/// # Errors
/// [`OAuthError::InvalidRequest`] for an empty, oversized or unprintable nonce.
pub fn check_nonce(nonce: &str) -> Result<(), OAuthError> {
    if nonce.is_empty() || nonce.len() > MAX_NONCE_LEN {
        return Err(OAuthError::InvalidRequest(format!(
            "nonce must be 1 to {MAX_NONCE_LEN} characters"
        )));
    }
    if !nonce.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(OAuthError::InvalidRequest(
            "nonce must be printable ASCII".into(),
        ));
    }
    Ok(())
}

/// The `at_hash` of `access_token` for an ID token signed with `alg`
/// (OpenID Connect Core §3.1.3.6): base64url of the left half of its hash,
/// SHA-256 for `RS256` and `ES256`, SHA-512 for `EdDSA` (Ed25519).
///
/// ```
/// use authstore::oauth::{SigningAlg, at_hash};
/// // OpenID Connect Core, appendix A.3.
/// let token = "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y";
/// assert_eq!(at_hash(SigningAlg::RS256, token), "77QmUPtjPfzWtF2AnpK9RQ");
/// ```
pub fn at_hash(alg: SigningAlg, access_token: &str) -> String {
    let half = |digest: &[u8]| URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2]);
    match alg {
        SigningAlg::RS256 | SigningAlg::ES256 => half(&Sha256::digest(access_token.as_bytes())),
        SigningAlg::EdDSA => half(&Sha512::digest(access_token.as_bytes())),
    }
}

/// The algorithm a client asks for in its `id_token_signed_response_alg`
/// (OpenID Connect Dynamic Client Registration §2): `RS256`, `ES256` or
/// `EdDSA`, the algorithms the server signs with.
///
/// ```
/// use authstore::oauth::{SigningAlg, id_token_signed_response_alg};
/// assert_eq!(id_token_signed_response_alg("ES256").unwrap(), SigningAlg::ES256);
/// assert!(id_token_signed_response_alg("none").is_err());
/// ```
///
/// # Errors
/// [`OAuthError::InvalidClientMetadata`] for any other value (`none`,
/// `HS256`, a wrong case), naming the accepted ones.
pub fn id_token_signed_response_alg(value: &str) -> Result<SigningAlg, OAuthError> {
    value.parse().map_err(|_| {
        let shown: String = value.chars().take(32).collect();
        OAuthError::InvalidClientMetadata(format!(
            "id_token_signed_response_alg {shown:?} is not supported: use \"RS256\", \"ES256\" or \"EdDSA\""
        ))
    })
}

/// Whether a grant of `scope` gets ID tokens.
pub(crate) fn wants_id_token(scope: &[String]) -> bool {
    scope.iter().any(|s| s == OPENID_SCOPE)
}

impl OAuth {
    /// The `iss` of ID tokens: [`id_token_issuer`](super::OAuthConfig::id_token_issuer),
    /// else [`jwt_issuer`](super::OAuthConfig::jwt_issuer).
    fn id_token_issuer(&self) -> Option<&str> {
        self.config
            .id_token_issuer
            .as_deref()
            .or(self.config.jwt_issuer.as_deref())
    }

    /// The algorithm of `client`'s ID tokens: its own
    /// (`id_token_signed_response_alg`), else [`id_token_alg`](super::OAuthConfig::id_token_alg).
    pub fn id_token_alg_for(&self, client: &Client) -> SigningAlg {
        client.id_token_alg.unwrap_or(self.config.id_token_alg)
    }

    /// The ID token to send with `access_token`, issued under `grant` to
    /// `client` with `scope`, signed with [`id_token_alg_for`](Self::id_token_alg_for)
    /// `client`: `None` unless OpenID Connect is on and the scope has
    /// `openid`. `nonce` is the authorization request's (only the code
    /// exchange echoes it; refreshed ID tokens carry none).
    ///
    /// # Errors
    /// [`OAuthError::InvalidRequest`] when OpenID Connect is on without an
    /// issuer; signing errors.
    pub(crate) async fn id_token_for(
        &self,
        client: &Client,
        grant: &GrantRecord,
        scope: &[String],
        access_token: &str,
        nonce: Option<&str>,
    ) -> Result<Option<String>, OAuthError> {
        if !self.config.openid || !wants_id_token(scope) {
            return Ok(None);
        }
        let Some(subject) = grant.subject.as_deref() else {
            return Ok(None);
        };
        let Some(issuer) = self.id_token_issuer() else {
            return Err(OAuthError::InvalidRequest(
                "ID tokens need an issuer: set OAuthConfig::id_token_issuer".into(),
            ));
        };
        let alg = self.id_token_alg_for(client);
        let now = self.now();
        let claims = id_token_claims(&IdTokenClaims {
            issuer,
            subject,
            client_id: &client.client_id,
            issued_at: now / 1000,
            expires_at: (now + duration_to_millis(self.config.access_token_ttl)) / 1000,
            auth_time: grant.auth_time,
            nonce,
            at_hash: &at_hash(alg, access_token),
        });
        self.sign_id_token(alg, &claims).await.map(Some)
    }
}

/// What an ID token states.
struct IdTokenClaims<'a> {
    issuer: &'a str,
    subject: &'a str,
    client_id: &'a str,
    issued_at: u64,
    expires_at: u64,
    auth_time: Option<u64>,
    nonce: Option<&'a str>,
    at_hash: &'a str,
}

/// The JSON claims. `aud` is the client alone, and `azp` names it too
/// (required only with several audiences; relying parties accept it always).
fn id_token_claims(c: &IdTokenClaims<'_>) -> Value {
    let mut claims = json!({
        "iss": c.issuer,
        "sub": c.subject,
        "aud": c.client_id,
        "azp": c.client_id,
        "iat": c.issued_at,
        "exp": c.expires_at,
        "at_hash": c.at_hash,
    });
    if let Some(auth_time) = c.auth_time {
        claims["auth_time"] = json!(auth_time);
    }
    if let Some(nonce) = c.nonce {
        claims["nonce"] = json!(nonce);
    }
    claims
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_halves_the_digest_of_the_alg() {
        let sha256 = Sha256::digest(b"tok");
        assert_eq!(
            at_hash(SigningAlg::ES256, "tok"),
            URL_SAFE_NO_PAD.encode(&sha256[..16])
        );
        let sha512 = Sha512::digest(b"tok");
        assert_eq!(
            at_hash(SigningAlg::EdDSA, "tok"),
            URL_SAFE_NO_PAD.encode(&sha512[..32])
        );
    }

    #[test]
    fn claims_carry_nonce_and_auth_time_only_when_known() {
        let base = IdTokenClaims {
            issuer: "https://as.example",
            subject: "u-1",
            client_id: "c-1",
            issued_at: 100,
            expires_at: 200,
            auth_time: None,
            nonce: None,
            at_hash: "h",
        };
        let plain = id_token_claims(&base);
        assert_eq!(plain["aud"], "c-1");
        assert_eq!(plain["azp"], "c-1");
        assert!(plain.get("nonce").is_none() && plain.get("auth_time").is_none());
        let full = id_token_claims(&IdTokenClaims {
            auth_time: Some(90),
            nonce: Some("n"),
            ..base
        });
        assert_eq!(full["nonce"], "n");
        assert_eq!(full["auth_time"], 90);
    }

    fn payload(token: &str) -> Value {
        let claims = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap()
    }

    async fn oauth(openid: bool) -> OAuth {
        let config = crate::oauth::OAuthConfig {
            openid,
            id_token_issuer: Some("https://as.example".into()),
            secret_hash_memory_kib: 64,
            secret_hash_iterations: 1,
            ..Default::default()
        };
        let store = crate::open("memory://").await.unwrap();
        OAuth::with_config(store, config, crate::FakeClock::at_millis(1_000_000)).unwrap()
    }

    /// Tokens of a fresh grant of `scope` to a public client.
    async fn tokens(
        oauth: &OAuth,
        scope: &[&str],
    ) -> (crate::oauth::Client, super::super::TokenResponse) {
        tokens_with_alg(oauth, scope, None).await
    }

    /// Tokens of a fresh grant of `scope` to a public client registered
    /// with the ID-token algorithm `alg`.
    async fn tokens_with_alg(
        oauth: &OAuth,
        scope: &[&str],
        alg: Option<SigningAlg>,
    ) -> (crate::oauth::Client, super::super::TokenResponse) {
        let mut new = crate::oauth::NewClient::public("rp", "http://127.0.0.1/cb");
        new.scopes = vec!["openid".into(), "read".into()];
        new.id_token_alg = alg;
        let app = oauth.register_client(new).await.unwrap();
        let verifier = "v".repeat(43);
        let code = oauth
            .issue_code(&crate::oauth::AuthorizationRequest {
                client_id: app.client.client_id.clone(),
                redirect_uri: "http://127.0.0.1:5000/cb".into(),
                scope: scope.iter().map(|s| (*s).to_owned()).collect(),
                code_challenge: crate::oauth::pkce_challenge(&verifier),
                subject: "u-1".into(),
                nonce: Some("n-1".into()),
                auth_time: Some(990),
                ..Default::default()
            })
            .await
            .unwrap();
        let response = oauth
            .exchange_code(&app.client, &code, "http://127.0.0.1:5000/cb", &verifier)
            .await
            .unwrap();
        (app.client, response)
    }

    #[tokio::test]
    async fn code_exchange_refresh_and_retry_carry_id_tokens() {
        let oauth = oauth(true).await;
        let (client, first) = tokens(&oauth, &["openid", "read"]).await;
        let claims = payload(first.id_token.as_deref().expect("an ID token"));
        assert_eq!(claims["iss"], "https://as.example");
        assert_eq!(
            (&claims["sub"], &claims["aud"]),
            (&json!("u-1"), &json!(client.client_id))
        );
        assert_eq!(
            (&claims["nonce"], &claims["auth_time"]),
            (&json!("n-1"), &json!(990))
        );
        assert_eq!(
            claims["at_hash"],
            at_hash(SigningAlg::RS256, &first.access_token)
        );
        assert!(!format!("{first:?}").contains(first.id_token.as_deref().unwrap()));

        let refresh = first.refresh_token.unwrap();
        let second = oauth.refresh(&client, &refresh, None).await.unwrap();
        let claims = payload(second.id_token.as_deref().expect("a refreshed ID token"));
        assert!(claims.get("nonce").is_none());
        assert_eq!(claims["auth_time"], 990);
        assert_eq!(
            claims["at_hash"],
            at_hash(SigningAlg::RS256, &second.access_token)
        );
        let retry = oauth.refresh(&client, &refresh, None).await.unwrap();
        assert_eq!(
            retry.id_token, second.id_token,
            "the retry gets the same ID token"
        );
    }

    fn header(token: &str) -> Value {
        let head = token.split('.').next().unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(head).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn id_tokens_use_the_client_alg_else_the_configured_one() {
        let oauth = oauth(true).await;
        for alg in [SigningAlg::ES256, SigningAlg::EdDSA] {
            let (client, first) = tokens_with_alg(&oauth, &["openid"], Some(alg)).await;
            assert_eq!(oauth.id_token_alg_for(&client), alg);
            let id_token = first.id_token.as_deref().unwrap();
            assert_eq!(header(id_token)["alg"], alg.as_str());
            assert_eq!(
                payload(id_token)["at_hash"],
                at_hash(alg, &first.access_token)
            );
            let refresh = first.refresh_token.unwrap();
            let second = oauth.refresh(&client, &refresh, None).await.unwrap();
            let again = second.id_token.as_deref().unwrap();
            assert_eq!(header(again)["alg"], alg.as_str(), "refresh keeps it");
            assert_eq!(
                payload(again)["at_hash"],
                at_hash(alg, &second.access_token)
            );
        }
        let (_, plain) = tokens(&oauth, &["openid"]).await;
        assert_eq!(header(plain.id_token.as_deref().unwrap())["alg"], "RS256");

        let mut config = (*oauth.config).clone();
        config.id_token_alg = SigningAlg::EdDSA;
        let store = crate::open("memory://").await.unwrap();
        let eddsa = OAuth::with_config(store, config, crate::FakeClock::at_millis(1)).unwrap();
        let (_, default) = tokens(&eddsa, &["openid"]).await;
        let id_token = default.id_token.as_deref().unwrap();
        assert_eq!(header(id_token)["alg"], "EdDSA");
        assert_eq!(
            payload(id_token)["at_hash"],
            at_hash(SigningAlg::EdDSA, &default.access_token)
        );
        let (_, own) = tokens_with_alg(&eddsa, &["openid"], Some(SigningAlg::RS256)).await;
        assert_eq!(header(own.id_token.as_deref().unwrap())["alg"], "RS256");
    }

    #[test]
    fn registration_accepts_only_the_signing_algs() {
        for alg in SigningAlg::ALL {
            assert_eq!(id_token_signed_response_alg(alg.as_str()).unwrap(), alg);
        }
        for bad in ["none", "HS256", "rs256", "PS256", ""] {
            let error = id_token_signed_response_alg(bad).unwrap_err();
            assert_eq!(error.code(), "invalid_client_metadata");
            assert!(
                error
                    .to_string()
                    .contains("\"RS256\", \"ES256\" or \"EdDSA\""),
                "{error}"
            );
        }
    }

    #[tokio::test]
    async fn no_id_token_without_openid_scope_or_config() {
        let (_, plain) = tokens(&oauth(true).await, &["read"]).await;
        assert_eq!(plain.id_token, None);
        let (_, off) = tokens(&oauth(false).await, &["openid"]).await;
        assert_eq!(off.id_token, None);
        let config = crate::oauth::OAuthConfig {
            openid: true,
            ..Default::default()
        };
        let store = crate::open("memory://").await.unwrap();
        assert!(
            OAuth::with_config(store, config, crate::SystemClock).is_err(),
            "no issuer"
        );
    }

    #[tokio::test]
    async fn a_bad_nonce_is_refused_at_issue() {
        let oauth = oauth(true).await;
        let app = oauth
            .register_client(crate::oauth::NewClient::public("rp", "http://127.0.0.1/cb"))
            .await
            .unwrap();
        let err = oauth
            .issue_code(&crate::oauth::AuthorizationRequest {
                client_id: app.client.client_id,
                redirect_uri: "http://127.0.0.1/cb".into(),
                code_challenge: crate::oauth::pkce_challenge(&"v".repeat(43)),
                subject: "u-1".into(),
                nonce: Some("bad\nnonce".into()),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_request");
    }

    #[test]
    fn nonce_rules() {
        assert!(check_nonce(&"a".repeat(MAX_NONCE_LEN)).is_ok());
        assert!(check_nonce("with space ~").is_ok());
        assert!(check_nonce("tab\t").is_err());
        assert!(check_nonce("é").is_err());
    }
}
