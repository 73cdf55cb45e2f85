//! authstore's OAuth 2.1 authorization server: the HTTP endpoints, login and consent pages, operations endpoints and the `authstore` CLI, on any authstore store.

pub mod metrics;
pub mod oauth_http;
mod pages;
pub mod state;

pub use oauth_http::router;
pub use state::{AppState, Settings};
