//! The resource-server side of OAuth: validating bearer access tokens (from the same store, by RFC 7662 introspection, or as RFC 9068 JWTs), checking their audience and scopes, and the RFC 6750 challenges and RFC 9728 metadata that tell clients what to do.
//!
//! A [`ResourceServer`] is one protected resource (an API or an MCP server):
//! its identifier, the authorization servers that issue its tokens, its
//! scopes, and a [`TokenValidator`]. It is framework-neutral; `authstore-axum`
//! wraps it in a tower layer and an extractor.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use authstore::oauth::resource::{ResourceConfig, ResourceServer, SameStoreValidator};
//! use authstore::oauth::{AuthorizationRequest, NewClient, OAuth, pkce_challenge};
//!
//! let oauth = OAuth::new(authstore::open("memory://").await?)?;
//! let api = ResourceServer::new(
//!     ResourceConfig::new("https://api.example.com/mcp", ["https://auth.example.com"])
//!         .scopes(["mcp:tools"]),
//!     SameStoreValidator::new(oauth.clone()),
//! )?;
//!
//! // A user's token for this resource...
//! let mut client = NewClient::public("cli", "http://127.0.0.1/cb");
//! client.scopes = vec!["mcp:tools".into()];
//! let app = oauth.register_client(client).await?;
//! let verifier = authstore::secret::random_token()?;
//! let code = oauth.issue_code(&AuthorizationRequest {
//!     client_id: app.client.client_id.clone(),
//!     redirect_uri: "http://127.0.0.1/cb".into(),
//!     scope: vec!["mcp:tools".into()],
//!     code_challenge: pkce_challenge(&verifier),
//!     resources: vec!["https://api.example.com/mcp".into()],
//!     subject: "u-1".into(),
//!     ..Default::default()
//! }).await?;
//! let tokens = oauth.exchange_code(&app.client, &code, "http://127.0.0.1/cb", &verifier).await?;
//!
//! // ...is accepted, with what it stands for.
//! let header = format!("Bearer {}", tokens.access_token);
//! let token = api.authenticate(Some(&header)).await?;
//! assert_eq!(token.subject.as_deref(), Some("u-1"));
//!
//! // No token: a 401 that tells the client where to find the authorization server.
//! let refused = api.authenticate(None).await.unwrap_err();
//! let challenge = api.challenge(&refused);
//! assert_eq!(challenge.status, 401);
//! assert!(challenge.www_authenticate.contains(
//!     r#"resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/mcp""#));
//! # Ok(()) }
//! ```

mod challenge;
#[cfg(feature = "remote-validation")]
mod http_client;
#[cfg(feature = "remote-validation")]
mod introspection;
#[cfg(feature = "remote-validation")]
pub(crate) mod jwks;
#[cfg(feature = "remote-validation")]
pub(crate) mod jwt;
mod same_store;
mod server;
#[cfg(feature = "remote-validation")]
mod verdicts;

use async_trait::async_trait;

pub use challenge::Challenge;
#[cfg(feature = "remote-validation")]
pub use introspection::{IntrospectionConfig, IntrospectionValidator};
#[cfg(feature = "remote-validation")]
pub use jwt::{JwtConfig, JwtValidator};
pub use same_store::SameStoreValidator;
pub use server::{ResourceConfig, ResourceServer, audience_matches, metadata_url};

/// A validated bearer access token: what it stands for. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// The user (the `sub`); for a client's own token (client credentials),
    /// `None` from the same store and the client id from a JWT.
    pub subject: Option<String>,
    /// The client the token was issued to.
    pub client_id: String,
    /// The granted scopes.
    pub scopes: Vec<String>,
    /// The audience (the RFC 8707 `resource` it was issued for); `None` when
    /// the token names none. [`ResourceServer`] accepts a token only when
    /// this is its own identifier.
    pub audience: Option<String>,
    /// Expiry, seconds since the Unix epoch.
    pub expires_at: u64,
    /// The grant it was issued under, when the validator can see it (same
    /// store: always for a user's token; introspection and JWT: never).
    pub grant_id: Option<String>,
}

impl AccessToken {
    /// Whether the token carries `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// Why a presented token was refused (401 `invalid_token`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidToken {
    /// Unknown, revoked or expired, as the authorization server sees it.
    #[error("the access token is not active")]
    Inactive,
    /// Its `exp` has passed.
    #[error("the access token has expired")]
    Expired,
    /// Its `nbf` or `iat` lies in the future.
    #[error("the access token is not valid yet")]
    NotYetValid,
    /// It was issued for another resource, or names several.
    #[error("the access token is for another resource")]
    WrongAudience,
    /// It was issued by another authorization server.
    #[error("the access token is from another issuer")]
    WrongIssuer,
    /// A JWT whose signature does not verify under its key.
    #[error("the access token's signature does not verify")]
    BadSignature,
    /// A JWT whose `alg` is not the one pinned for its key (`none`, HMAC, or another).
    #[error("the access token's algorithm is not accepted")]
    Algorithm,
    /// A JWT whose `kid` names no published key.
    #[error("the access token's signing key is unknown")]
    UnknownKey,
    /// A JWT whose `typ` is not `at+jwt` (RFC 9068).
    #[error("the token is not a JWT access token")]
    WrongType,
    /// Not shaped like a token this validator reads.
    #[error("malformed access token: {0}")]
    Malformed(&'static str),
}

/// A validation that did not reach a verdict, or refused the token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The token is refused (401).
    #[error(transparent)]
    Invalid(#[from] InvalidToken),
    /// The validator could not decide: the store, the introspection
    /// endpoint or the JWK set is unreachable (503). Never an acceptance.
    #[error("token validation is unavailable: {0}")]
    Unavailable(String),
}

/// Why a request was refused, in the terms of RFC 6750.
#[derive(Debug)]
#[non_exhaustive]
pub enum Rejection {
    /// No bearer token was sent (401, no error code).
    Missing,
    /// The token is refused (401 `invalid_token`).
    Invalid(InvalidToken),
    /// The token lacks scopes (403 `insufficient_scope`); `scope` names every
    /// scope the request needs, and those the token already has.
    InsufficientScope {
        /// The scopes to ask for, space-separated in the challenge.
        scope: Vec<String>,
    },
    /// Validation is unavailable (503).
    Unavailable(String),
}

impl From<ValidationError> for Rejection {
    fn from(e: ValidationError) -> Self {
        match e {
            ValidationError::Invalid(reason) => Rejection::Invalid(reason),
            ValidationError::Unavailable(why) => Rejection::Unavailable(why),
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rejection::Missing => f.write_str("no bearer token"),
            Rejection::Invalid(reason) => reason.fmt(f),
            Rejection::InsufficientScope { scope } => {
                write!(f, "insufficient scope: needs {}", scope.join(" "))
            }
            Rejection::Unavailable(why) => write!(f, "token validation is unavailable: {why}"),
        }
    }
}

impl std::error::Error for Rejection {}

/// Validates bearer access tokens: same store ([`SameStoreValidator`]),
/// RFC 7662 introspection, or RFC 9068 JWT. The audience is checked by
/// [`ResourceServer`], not here.
#[async_trait]
pub trait TokenValidator: Send + Sync + std::fmt::Debug + 'static {
    /// What `token` stands for, or why it is refused. Must never accept a
    /// token it could not check: when in doubt, [`ValidationError::Unavailable`].
    async fn validate(&self, token: &str) -> Result<AccessToken, ValidationError>;
}

#[cfg(test)]
mod tests;
