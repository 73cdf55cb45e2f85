//! authstore's OAuth 2.1 authorization server: the HTTP endpoints, login and consent pages, operations endpoints and the `authstore` CLI, on any authstore store.

pub mod admin;
pub mod audit_log;
pub mod cli;
pub mod client_metadata;
pub mod config;
pub mod config_file;
pub mod duration;
pub mod edge;
pub mod health;
pub mod http_metrics;
pub mod keys_cmd;
pub mod machine;
pub mod metered;
pub mod metrics;
pub mod oauth_http;
pub mod ops;
mod pages;
pub mod provision;
pub mod registration_policy;
pub mod resources;
pub mod serve;
pub mod state;

pub use oauth_http::router;
pub use state::{AppState, Settings};
