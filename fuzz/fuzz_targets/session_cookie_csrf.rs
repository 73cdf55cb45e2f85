//! The session cookie (reading it among `Cookie` headers, its signed value with a key ring), the key ring's signed values, the signed CSRF tokens and the Origin check: a cookie or token verifies only if it is exactly what the ring would sign for that value, binding and purpose; signing then verifying gives the value back; a rotated ring still verifies; nothing panics.

#![no_main]

use arbitrary::Arbitrary;
use authstore::csrf::{KeyRing, OriginCheck, RequestParts, SignedTokens};
use authstore_axum::__fuzz::{decode_id, encode_id, read_cookie};
use http::HeaderMap;
use http::header::{COOKIE, HeaderValue};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    cookie_headers: Vec<Vec<u8>>,
    cookie_name: String,
    value: String,
    purpose: String,
    binding: String,
    other_binding: String,
    token: String,
    key_id: String,
    secret: Vec<u8>,
    rotate: bool,
    method: String,
    sec_fetch_site: Option<String>,
    origin: Option<String>,
    host: Option<String>,
    allowed: Vec<String>,
}

const NAME: &str = "__Host-authstore";

fn ring(rotate: bool) -> KeyRing {
    let ring = KeyRing::new().with_key("k1", &[7; 32]).expect("a key");
    if rotate {
        ring.with_key("k2", &[9; 32]).expect("a key")
    } else {
        ring
    }
}

fuzz_target!(|input: Input| {
    let ring = ring(input.rotate);

    // Reading the cookie: the value is one of the headers' pairs for that name.
    let mut headers = HeaderMap::new();
    for raw in &input.cookie_headers {
        if let Ok(v) = HeaderValue::from_bytes(raw) {
            headers.append(COOKIE, v);
        }
    }
    for name in [NAME, input.cookie_name.as_str()] {
        if let Some(value) = read_cookie(&headers, name) {
            let present = headers
                .get_all(COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .any(|v| v.contains(value));
            assert!(present, "{value:?} comes from a Cookie header");
            // Whatever the cookie holds verifies only as the ring's signature.
            if let Some(id) = decode_id(Some(&ring), value) {
                assert!(!id.is_empty());
                let again = encode_id(Some(&ring), id);
                let by_any_key = [KeyRing::new().with_key("k1", &[7; 32]).ok(), {
                    KeyRing::new().with_key("k2", &[9; 32]).ok()
                }]
                .into_iter()
                .flatten()
                .any(|r| encode_id(Some(&r), id).as_deref() == Some(value));
                assert!(
                    again.as_deref() == Some(value) || by_any_key,
                    "a verified cookie is a signature of its id"
                );
            }
            assert_eq!(decode_id(None, value), Some(value));
        }
    }

    // Signed cookie values: sign then verify gives the value back, for that purpose only.
    if !input.value.is_empty() {
        let cookie = encode_id(Some(&ring), &input.value).expect("a non-empty ring signs");
        assert_eq!(decode_id(Some(&ring), &cookie), Some(input.value.as_str()));
        let signed = ring.sign(&input.purpose, &input.value).expect("signs");
        assert_eq!(
            ring.verify(&input.purpose, &signed),
            Some(input.value.as_str())
        );
        if input.purpose != "authstore-session-cookie" {
            assert_eq!(
                decode_id(Some(&ring), &signed),
                None,
                "bound to its purpose"
            );
        }
    }
    if let Some(value) = ring.verify(&input.purpose, &input.token) {
        let k1 = KeyRing::new().with_key("k1", &[7; 32]).expect("a key");
        let k2 = KeyRing::new().with_key("k2", &[9; 32]).expect("a key");
        let resigned = [k1, k2]
            .iter()
            .filter_map(|r| r.sign(&input.purpose, value).ok())
            .any(|s| s == input.token);
        assert!(resigned, "only a signature verifies: {:?}", input.token);
    }

    // Signed CSRF tokens: bound to the binding.
    let tokens = SignedTokens::new(ring.clone());
    let token = tokens.issue(&input.binding).expect("issues");
    assert!(tokens.verify(&input.binding, &token));
    if input.other_binding != input.binding {
        assert!(!tokens.verify(&input.other_binding, &token));
    }
    let _ = tokens.verify(&input.binding, &input.token);

    // Key rings refuse short secrets and bad ids, and never panic.
    let added = KeyRing::new().with_key(&input.key_id, &input.secret);
    let id_ok = !input.key_id.is_empty()
        && input
            .key_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    assert_eq!(added.is_ok(), id_ok && input.secret.len() >= 32);
    if let Ok(r) = added
        && !input.value.is_empty()
    {
        let signed = r.sign(&input.purpose, &input.value).expect("signs");
        assert_eq!(
            r.verify(&input.purpose, &signed),
            Some(input.value.as_str())
        );
    }

    // The Origin check: safe methods always pass; an allowed origin passes.
    let mut check = OriginCheck::new();
    for origin in &input.allowed {
        check = check.allow_origin(origin.clone());
    }
    let parts = RequestParts {
        method: &input.method,
        sec_fetch_site: input.sec_fetch_site.as_deref(),
        origin: input.origin.as_deref(),
        host: input.host.as_deref(),
    };
    let verdict = check.check(&parts);
    if ["GET", "HEAD", "OPTIONS"]
        .iter()
        .any(|m| m.eq_ignore_ascii_case(&input.method))
    {
        assert!(verdict.proceeds());
    }
    if let Some(origin) = &input.origin
        && input.allowed.iter().any(|a| {
            a.trim_end_matches('/')
                .eq_ignore_ascii_case(origin.trim_end_matches('/'))
        })
    {
        assert!(verdict.proceeds(), "an allowed origin passes");
    }
});
