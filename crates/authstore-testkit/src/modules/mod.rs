//! Test suites of the auth modules, run on every backend with [`modules_suite!`](crate::modules_suite).

pub mod audit;
pub mod credentials;
pub mod csrf;
pub mod oauth;
pub mod oauth_resources;
pub mod ratelimit;
pub mod session;
pub mod tokens;
