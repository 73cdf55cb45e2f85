//! Client ID Metadata Documents: the `client_id` URL rules, the fetched document's parser and the caching headers of its response. Nothing panics; an accepted URL is the text given, in its parts; an accepted document is a public, unverified client named by that URL with redirect URIs that may be registered, the code flow, a name fit for display and only allowed scopes; `no-store` is never cached.
//!
//! Input: one byte of flags (allow loopback; restrict scopes; which URL),
//! then `url NUL document NUL headers` (headers as `name: value` lines); a
//! missing URL is `https://app.example/oauth/client.json`.

#![no_main]

use std::time::{Duration, SystemTime};

use authstore::__fuzz::cache_lifetime;
use authstore::oauth::cimd::{DocumentUrl, parse_document};
use authstore::oauth::{AuthMethod, ClientOrigin, GrantType, redirect_uri_matches};
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

const URL: &str = "https://app.example/oauth/client.json";

fn split3(data: &[u8]) -> (&[u8], &[u8], &[u8]) {
    let mut parts = data.splitn(3, |&b| b == 0);
    let a = parts.next().unwrap_or_default();
    match (parts.next(), parts.next()) {
        (Some(b), Some(c)) => (a, b, c),
        (Some(b), None) => (a, b, &[]),
        _ => (&[], a, &[]),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let allow_loopback = flags & 1 != 0;
    let (url_bytes, body, headers) = split3(rest);
    let url_text = match std::str::from_utf8(url_bytes) {
        Ok("") => URL,
        Ok(text) => text,
        Err(_) => return,
    };

    // The URL rules.
    let url = match DocumentUrl::parse(url_text, allow_loopback) {
        Ok(url) => url,
        Err(_) => {
            assert!(
                DocumentUrl::parse(url_text, allow_loopback).is_err(),
                "deterministic"
            );
            return;
        }
    };
    assert_eq!(url.as_str(), url_text);
    assert_ne!(url.port(), 0);
    let after_scheme = &url_text[url_text.find("://").expect("a URL") + 3..];
    assert_eq!(
        format!("{}{}", url.authority(), url.path_and_query()),
        after_scheme,
        "authority and target make up the URL"
    );
    assert!(url.authority().starts_with(url.host_str()));
    assert!(url.path_and_query().starts_with('/'));
    if url.is_plain_http() {
        assert!(allow_loopback && url.is_development_loopback());
    }

    // The document.
    let allowed: Option<Vec<String>> =
        (flags & 2 != 0).then(|| vec!["read".into(), "write".into()]);
    let now = 1_800_000_000;
    match parse_document(&url, body, allowed.as_deref(), now) {
        Ok(client) => {
            assert_eq!(client.client_id, url_text);
            assert_eq!(client.origin, ClientOrigin::MetadataDocument);
            assert_eq!(client.auth_method, AuthMethod::None);
            assert!(!client.is_confidential());
            assert!(client.allows(GrantType::AuthorizationCode));
            assert!(!client.allows(GrantType::ClientCredentials));
            assert!(!client.redirect_uris.is_empty() && client.redirect_uris.len() <= 20);
            for uri in &client.redirect_uris {
                assert!(client.accepts_redirect(uri));
                assert!(redirect_uri_matches(uri, uri));
                assert!(!uri.contains('#') && !uri.chars().any(char::is_control));
            }
            assert!(!client.name.is_empty() && client.name.len() <= 200);
            assert!(!client.name.chars().any(char::is_control));
            if let Some(allowed) = &allowed {
                assert!(client.scopes.iter().all(|s| allowed.contains(s)));
            }
            let again = parse_document(&url, body, allowed.as_deref(), now).expect("deterministic");
            assert_eq!(again, client);
        }
        Err(refusal) => {
            let _ = refusal.to_string();
        }
    }

    // The response's caching headers.
    let mut map = HeaderMap::new();
    for line in headers.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) else {
            continue;
        };
        map.append(name, value);
    }
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(now);
    let lifetime = cache_lifetime(&map, at);
    let no_store = map
        .get_all(http::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|d| {
            let d = d.trim().to_ascii_lowercase();
            d == "no-store" || d == "no-cache"
        });
    if no_store {
        assert_eq!(lifetime, Some(Duration::ZERO), "no-store is never cached");
    }
});
