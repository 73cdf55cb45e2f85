//! [`BearerAuth`]: the extractor that hands handlers the access token [`BearerAuthLayer`](super::BearerAuthLayer) validated, required or (as `Option<BearerAuth>`) optional.

use std::ops::Deref;

use authstore::oauth::resource::{AccessToken, ResourceServer};
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;

use super::response::{BearerRejection, authenticated};

/// The request's validated access token: who it stands for
/// ([`subject`](AccessToken::subject), [`client_id`](AccessToken::client_id)),
/// its [`scopes`](AccessToken::scopes), [`audience`](AccessToken::audience)
/// and [`grant_id`](AccessToken::grant_id), through `Deref`.
///
/// It reads what [`BearerAuthLayer`](super::BearerAuthLayer) stored, so the
/// route needs that layer around it. Without it no request could ever be
/// authenticated: that is a mistake in the application, not in the request,
/// so the extractor answers `500 {"error":"server_error"}` and logs an
/// error naming `BearerAuthLayer` (target `authstore_axum::bearer`) rather
/// than a `401` that no token could fix.
///
/// Under [`BearerAuthLayer::optional`](super::BearerAuthLayer::optional),
/// take `Option<BearerAuth>`: `None` for a request without a token. A plain
/// `BearerAuth` there answers such a request with the `401` challenge.
///
/// ```
/// use authstore_axum::{BearerAuth, BearerRejection};
///
/// async fn delete_project(auth: BearerAuth) -> Result<String, BearerRejection> {
///     auth.require(&["projects:delete"])?; // 403 insufficient_scope otherwise
///     Ok(format!("deleted by {}", auth.subject.as_deref().unwrap_or("a client")))
/// }
/// ```
#[derive(Debug, Clone)]
pub struct BearerAuth(pub AccessToken, ResourceServer);

impl BearerAuth {
    /// The access token.
    pub fn token(&self) -> &AccessToken {
        &self.0
    }

    /// The access token, owned.
    pub fn into_token(self) -> AccessToken {
        self.0
    }

    /// The resource server that accepted it.
    pub fn resource(&self) -> &ResourceServer {
        &self.1
    }

    /// Checks that the token also carries `scopes` (besides the resource's
    /// required scopes).
    ///
    /// # Errors
    /// The `403 insufficient_scope` challenge naming every scope the request
    /// needs, with those the token has; return it from the handler.
    pub fn require(&self, scopes: &[&str]) -> Result<(), BearerRejection> {
        self.1
            .require(&self.0, scopes)
            .map_err(|rejection| BearerRejection::from_rejection(&self.1, &rejection))
    }
}

impl Deref for BearerAuth {
    type Target = AccessToken;

    fn deref(&self) -> &AccessToken {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for BearerAuth {
    type Rejection = BearerRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let (token, resource) = authenticated(&parts.extensions, "the BearerAuth extractor")?;
        Ok(Self(token.clone(), resource.clone()))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for BearerAuth {
    type Rejection = BearerRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        match (
            parts.extensions.get::<AccessToken>(),
            parts.extensions.get::<ResourceServer>(),
        ) {
            (Some(token), Some(resource)) => Ok(Some(Self(token.clone(), resource.clone()))),
            (None, Some(_)) => Ok(None),
            _ => Err(BearerRejection::missing_layer(
                "the Option<BearerAuth> extractor",
            )),
        }
    }
}
