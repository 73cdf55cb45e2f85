//! authstore's OAuth 2.1 authorization server: the HTTP endpoints, login and consent pages, operations endpoints and the `authstore` CLI, on any authstore store.

mod access_log;
mod admin;
pub mod admin_http;
mod audit_log;
pub mod branding;
pub mod cli;
mod client_metadata;
mod command_prelude;
mod commands;
pub mod config;
mod config_error;
mod config_file;
mod duration;
pub mod edge;
mod health;
pub mod machine;
pub mod metrics;
mod oauth_http;
mod pages;
pub mod provision;
mod registration_policy;
mod resources;
pub mod serve;
mod settings;
pub mod signing_keys;
mod state;
pub mod store_cleanup;
mod transfer;
mod urls;

pub use command_prelude::log_safe_url;
pub use oauth_http::router;
pub use settings::Settings;
pub use state::AppState;
