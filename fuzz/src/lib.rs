//! Shared by the fuzz targets: one current-thread runtime, a fresh authorization server per input (memory store, fake clock, cheap hashing, a public and a confidential client, a user, a code and a token pair), requests through its router, and the form and JSON checks every endpoint target makes.

pub mod server;

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::Runtime;

/// Runs `future` to completion on the process's current-thread runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime builds")
        })
        .block_on(future)
}

/// `application/x-www-form-urlencoded` of `pairs`, in order.
pub fn form(pairs: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// The pairs of a form body, as the server's parsers read them.
pub fn parse_form(body: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(body.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}
