//! One module per `authstore` subcommand: its clap arguments and its `exec`. Commands share only [`crate::command_prelude`] and the modules below it, never each other.

pub(crate) mod admin_api;
pub(crate) mod audit;
pub(crate) mod cleanup;
pub(crate) mod client;
pub(crate) mod completions;
pub(crate) mod export;
pub(crate) mod grant;
pub(crate) mod health;
pub(crate) mod import;
pub(crate) mod keys;
pub(crate) mod migrate;
pub(crate) mod serve;
pub(crate) mod session;
pub(crate) mod stats;
pub(crate) mod user;
