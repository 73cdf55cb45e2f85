//! Grants made in-process for the `ops_*` tests: a code flow for a user, whether its access token is active, and a scan for entries naming someone.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use authstore::Store;
use authstore::oauth::{AuthorizationRequest, Client, OAuth, TokenResponse, pkce_challenge};

/// The redirect URI the tests' clients register.
pub const REDIRECT: &str = "http://127.0.0.1/callback";
const VERIFIER: &str = "a-pkce-verifier-of-forty-three-characters-xx";

/// The tokens of a fresh grant of scope `read` that `user` gave `client`.
pub async fn grant(oauth: &OAuth, client: &Client, user: &str) -> TokenResponse {
    let code = oauth
        .issue_code(&AuthorizationRequest {
            client_id: client.client_id.clone(),
            redirect_uri: REDIRECT.into(),
            scope: vec!["read".into()],
            code_challenge: pkce_challenge(VERIFIER),
            subject: user.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    oauth
        .exchange_code(client, &code, REDIRECT, VERIFIER)
        .await
        .unwrap()
}

/// Whether the grant's access token is active.
pub async fn active(oauth: &OAuth, tokens: &TokenResponse) -> bool {
    oauth
        .introspect(&tokens.access_token)
        .await
        .unwrap()
        .is_some()
}

/// Entries outside the audit log whose key or value names `needle`.
pub async fn entries_naming(store: &Arc<dyn Store>, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store.scan("", cursor.as_deref(), 500).await.unwrap();
        for e in page.entries {
            let value = String::from_utf8_lossy(&e.value).into_owned();
            if !e.key.starts_with("audit:") && (e.key.contains(needle) || value.contains(needle)) {
                found.push(format!("{} = {value}", e.key));
            }
        }
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return found,
        }
    }
}
