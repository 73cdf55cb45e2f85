//! Test suites of the auth modules, run on every backend with [`modules_suite!`](crate::modules_suite).

pub mod audit;
pub mod credentials;
pub mod csrf;
pub mod oauth;
pub mod oauth_client_admin;
pub mod oauth_clients;
pub mod oauth_codes;
pub mod oauth_consent;
pub mod oauth_grants;
pub mod oauth_inputs;
pub mod oauth_races;
pub mod oauth_refresh;
pub mod oauth_resources;
pub mod oauth_untagged;
pub mod ratelimit;
pub mod session;
pub mod tokens;
