//! The admin API under `/admin/v1` on `admin_listen`: the operator's actions over HTTP, behind a bearer token stored as its SHA-256 or an operator client's `admin`-scoped access token, described by an OpenAPI 3.1 document generated from the handlers.

mod access;
mod auth;
mod error;
mod extract;
mod users;

pub(crate) mod clients;

use axum::Router;
use axum::routing::get;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use auth::ADMIN_SCOPE;
pub(crate) use error::{ApiError, ApiErrorBody};

use crate::state::AppState;

/// Where the API lives on the admin address.
pub const BASE: &str = "/admin/v1";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "authstore admin API",
        description = "Users, clients, grants, sessions, signing keys and the audit log of an authstore authorization server. Every operation needs `Authorization: Bearer <token>`: the admin token, or (with `admin_clients`) an access token with the `admin` scope that a client created by the operator got for itself with `client_credentials`."
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
/// the settings' `admin_token_sha256` or, with `admin_clients`, by an
/// operator client's `admin`-scoped access token; `GET
/// /admin/v1/openapi.json` is served without either.
pub fn router(state: AppState) -> Router {
    let (api, doc) = parts();
    let json = doc.to_json().unwrap_or_else(|_| "{}".to_owned());
    let document = move || {
        let json = json.clone();
        async move { ([(http::header::CONTENT_TYPE, "application/json")], json) }
    };
    let api = api
        .fallback(|| async { ApiError::NotFound("no such admin API path".into()) })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .with_state(state);
    Router::new()
        .route(&format!("{BASE}/openapi.json"), get(document))
        .merge(api)
}
