//! The admin API under `/admin/v1` on `admin_listen`: the operator's actions over HTTP, behind a bearer token stored as its SHA-256, described by an OpenAPI 3.1 document generated from the handlers.

mod access;
mod error;
mod extract;
mod users;

pub(crate) mod clients;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::header::AUTHORIZATION;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) use error::{ApiError, ApiErrorBody};

use crate::state::AppState;

/// Where the API lives on the admin address.
pub const BASE: &str = "/admin/v1";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "authstore admin API",
        description = "Users, clients, grants, sessions, signing keys and the audit log of an authstore authorization server. Every operation needs `Authorization: Bearer <admin token>`."
    ),
    modifiers(&BearerToken),
    security(("admin_token" = [])),
    tags(
        (name = "users", description = "Users: list, show, create, disable, enable, set a password, delete"),
        (name = "clients", description = "OAuth clients: list, show, create, update, rotate a secret, delete"),
        (name = "access", description = "Grants and sign-in sessions: list and revoke"),
        (name = "operations", description = "Signing keys and the audit log"),
    )
)]
struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API's routes (without authentication) and its OpenAPI document.
fn parts() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let api = OpenApiRouter::<AppState>::new()
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::show, users::delete))
        .routes(routes!(users::disable))
        .routes(routes!(users::enable))
        .routes(routes!(users::set_password))
        .routes(routes!(clients::list, clients::create))
        .routes(routes!(clients::show, clients::update, clients::delete))
        .routes(routes!(clients::rotate_secret))
        .routes(routes!(access::list_grants))
        .routes(routes!(access::revoke_grant))
        .routes(routes!(access::revoke_grants))
        .routes(routes!(access::list_sessions, access::end_sessions))
        .routes(routes!(access::list_keys))
        .routes(routes!(access::rotate_keys))
        .routes(routes!(access::audit));
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest(BASE, api)
        .split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    (router, doc)
}

/// The OpenAPI 3.1 document of the API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    parts().1
}

/// The admin API for `state`, opened by the bearer token whose SHA-256 is
/// `token_sha256`; `GET /admin/v1/openapi.json` is served without it.
pub fn router(state: AppState, token_sha256: [u8; 32]) -> Router {
    let (api, doc) = parts();
    let json = doc.to_json().unwrap_or_else(|_| "{}".to_owned());
    let document = move || {
        let json = json.clone();
        async move { ([(http::header::CONTENT_TYPE, "application/json")], json) }
    };
    let api = api
        .fallback(|| async { ApiError::NotFound("no such admin API path".into()) })
        .layer(axum::middleware::from_fn_with_state(
            token_sha256,
            authenticate,
        ))
        .with_state(state);
    Router::new()
        .route(&format!("{BASE}/openapi.json"), get(document))
        .merge(api)
}

/// Lets a request through only with `Authorization: Bearer <token>` whose
/// SHA-256 is the configured one (compared in constant time).
async fn authenticate(State(expected): State<[u8; 32]>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty());
    let Some(token) = presented else {
        return ApiError::Unauthorized("an admin bearer token is required").into_response();
    };
    let digest = authstore::secret::sha256(token.as_bytes());
    if authstore::secret::constant_time_eq(&digest, &expected) {
        next.run(request).await
    } else {
        ApiError::Unauthorized("the admin token is not valid").into_response()
    }
}
