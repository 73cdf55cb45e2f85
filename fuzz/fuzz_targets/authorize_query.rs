//! The pages' parameter parsing: `GET /authorize?…` (signed in or not), the consent form `POST /authorize` and the sign-in form `POST /login`, from structure-aware parameters (each valid, another valid one, empty, arbitrary, repeated) or a raw query. Never a server failure; a redirect goes only to a registered redirect URI (with `iss`, and the request's `state`) or to this server's own pages; pages keep their framing and CSP headers; the canonical requests reach the consent page, the code and the sign-in.
//!
//! Input: `G` (signed out), `S` (signed in), `C` (consent form) or `L`
//! (sign-in form) and a raw query or form body, where `{csrf}` stands for the
//! page's CSRF token; anything else is the structured request.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use authstore::oauth::{pkce_challenge, redirect_uri_matches};
use authstore_fuzz::server::{
    CONFIDENTIAL_ID, Fixture, ISSUER, LOOPBACK, PASSWORD, PUBLIC_ID, REDIRECT, RESOURCE,
    SESSION_COOKIE, USERNAME, VERIFIER, hidden,
};
use http::Method;
use http::header::{CONTENT_SECURITY_POLICY, X_FRAME_OPTIONS};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary, Clone, PartialEq)]
enum Name {
    ResponseType,
    ClientId,
    RedirectUri,
    Scope,
    State,
    CodeChallenge,
    CodeChallengeMethod,
    Nonce,
    Prompt,
    MaxAge,
    Resource,
    Decision,
    Remember,
    Csrf,
    Raw(String),
}

#[derive(Debug, Arbitrary, Clone)]
enum Value {
    Valid,
    Alt(u16),
    Empty,
    Remove,
    Raw(String),
}

impl Name {
    fn key(&self) -> String {
        match self {
            Self::ResponseType => "response_type",
            Self::ClientId => "client_id",
            Self::RedirectUri => "redirect_uri",
            Self::Scope => "scope",
            Self::State => "state",
            Self::CodeChallenge => "code_challenge",
            Self::CodeChallengeMethod => "code_challenge_method",
            Self::Nonce => "nonce",
            Self::Prompt => "prompt",
            Self::MaxAge => "max_age",
            Self::Resource => "resource",
            Self::Decision => "decision",
            Self::Remember => "remember",
            Self::Csrf => "_csrf",
            Self::Raw(raw) => raw,
        }
        .to_owned()
    }

    fn valid(&self) -> String {
        match self {
            Self::ResponseType => "code".into(),
            Self::ClientId => PUBLIC_ID.into(),
            Self::RedirectUri => REDIRECT.into(),
            Self::Scope => "read".into(),
            Self::State => "st-1".into(),
            Self::CodeChallenge => pkce_challenge(VERIFIER),
            Self::CodeChallengeMethod => "S256".into(),
            Self::Nonce => "n-0S6_WzA2Mj".into(),
            Self::Prompt => "consent".into(),
            Self::MaxAge => "3600".into(),
            Self::Resource => RESOURCE.into(),
            Self::Decision => "approve".into(),
            Self::Remember => "on".into(),
            Self::Csrf | Self::Raw(_) => String::new(),
        }
    }

    fn alt(&self, n: u16) -> String {
        let pick = |options: &[&str]| options[usize::from(n) % options.len()].to_owned();
        match self {
            Self::ResponseType => pick(&["token", "code id_token", "CODE"]),
            Self::ClientId => pick(&[CONFIDENTIAL_ID, "unknown", "https://app.example/c.json"]),
            Self::RedirectUri => match n % 4 {
                0 => format!("http://127.0.0.1:{n}/cb"),
                1 => LOOPBACK.into(),
                2 => "https://evil.example/cb".into(),
                _ => format!("{REDIRECT}?x={n}"),
            },
            Self::Scope => pick(&["read openid", "write", "openid offline_access", " read  "]),
            Self::State => format!("state-{n}&x=<\"'>"),
            Self::CodeChallenge => pick(&["short", VERIFIER]),
            Self::CodeChallengeMethod => pick(&["plain", "s256"]),
            Self::Nonce => pick(&["", "n\u{7f}", "x"]),
            Self::Prompt => pick(&[
                "none",
                "login",
                "none login",
                "select_account",
                "consent login",
            ]),
            Self::MaxAge => pick(&["0", "-1", "99999999999", "1e3"]),
            Self::Resource => pick(&[
                "https://other.example/",
                "urn:x",
                "https://api.example/mcp#f",
            ]),
            Self::Decision => pick(&["deny", "APPROVE"]),
            Self::Remember => pick(&["off", "1"]),
            Self::Csrf => pick(&["x.y.z", ""]),
            Self::Raw(_) => n.to_string(),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Mode {
    Get {
        signed_in: bool,
    },
    Consent,
    Login {
        right_user: bool,
        right_password: bool,
        return_to: Option<String>,
    },
}

#[derive(Debug, Arbitrary)]
struct Input {
    mode: Mode,
    /// Start from the canonical request's parameters.
    canonical: bool,
    changes: Vec<(Name, Value)>,
    repeat: Option<u8>,
    raw: Option<String>,
}

impl Input {
    /// The canonical request, unchanged.
    fn is_canonical(&self) -> bool {
        self.raw.is_none() && self.changes.is_empty() && self.repeat.is_none() && self.canonical
    }
}

const CANONICAL: [Name; 6] = [
    Name::ResponseType,
    Name::ClientId,
    Name::RedirectUri,
    Name::Scope,
    Name::State,
    Name::CodeChallenge,
];

fn canonical() -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = CANONICAL.iter().map(|n| (n.key(), n.valid())).collect();
    pairs.push(("code_challenge_method".into(), "S256".into()));
    pairs
}

fn params(input: &Input, base: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut pairs = if input.canonical { base } else { Vec::new() };
    for (name, value) in &input.changes {
        let key = name.key();
        let value = match value {
            Value::Valid => name.valid(),
            Value::Alt(n) => name.alt(*n),
            Value::Empty => String::new(),
            Value::Raw(raw) => raw.clone(),
            Value::Remove => {
                pairs.retain(|(k, _)| *k != key);
                continue;
            }
        };
        match pairs.iter_mut().find(|(k, _)| *k == key) {
            Some(pair) => pair.1 = value,
            None => pairs.push((key, value)),
        }
    }
    if let Some(i) = input.repeat
        && !pairs.is_empty()
    {
        let again = pairs[usize::from(i) % pairs.len()].clone();
        pairs.push(again);
    }
    pairs
}

/// The single value of `key` in a query.
fn single(pairs: &[(String, String)], key: &str) -> Option<String> {
    let mut found = pairs.iter().filter(|(k, _)| k == key);
    let first = found.next()?;
    found.next().is_none().then(|| first.1.clone())
}

/// Checks every answer: no failure, safe redirects, page headers.
fn check(reply: &authstore_fuzz::server::Reply, sent: Option<&[(String, String)]>) {
    assert!(
        !reply.status.is_server_error(),
        "server failure {}: {}",
        reply.status,
        reply.text()
    );
    if reply.status.is_redirection() {
        let location = reply.location().expect("a redirect has a Location");
        if location.starts_with('/') && !location.starts_with("//") {
            assert!(
                location.starts_with("/authorize?")
                    || location == "/account"
                    || location == "/login",
                "a redirect within the server goes to its pages: {location}"
            );
            return;
        }
        let (target, query) = location.split_once('?').unwrap_or((location, ""));
        assert!(
            [REDIRECT, LOOPBACK]
                .iter()
                .any(|r| redirect_uri_matches(r, target)),
            "a redirect goes to a registered redirect URI: {location}"
        );
        let answer = authstore_fuzz::parse_form(query);
        assert_eq!(
            single(&answer, "iss").as_deref(),
            Some(ISSUER),
            "RFC 9207 iss: {location}"
        );
        assert!(
            single(&answer, "code").is_some() != single(&answer, "error").is_some(),
            "a code or an error: {location}"
        );
        if let Some(sent) = sent {
            assert_eq!(
                single(&answer, "state"),
                single(sent, "state"),
                "the request's state comes back: {location}"
            );
        }
    } else if reply.status.is_success() {
        assert_eq!(
            reply.headers.get(X_FRAME_OPTIONS).map(|v| v.as_bytes()),
            Some(&b"DENY"[..])
        );
        assert!(reply.headers.contains_key(CONTENT_SECURITY_POLICY));
    }
}

fuzz_target!(|data: &[u8]| {
    // `G` (signed out), `S` (signed in), `C` (consent) or `L` (sign-in) and a
    // raw query or form, or the structured request.
    let raw = |mode: Mode, rest: &[u8]| Input {
        mode,
        canonical: false,
        changes: Vec::new(),
        repeat: None,
        raw: Some(String::from_utf8_lossy(rest).into_owned()),
    };
    let input = match data.split_first() {
        Some((b'G', rest)) => raw(Mode::Get { signed_in: false }, rest),
        Some((b'S', rest)) => raw(Mode::Get { signed_in: true }, rest),
        Some((b'C', rest)) => raw(Mode::Consent, rest),
        Some((b'L', rest)) => raw(
            Mode::Login {
                right_user: true,
                right_password: true,
                return_to: None,
            },
            rest,
        ),
        _ => match Input::arbitrary_take_rest(Unstructured::new(data)) {
            Ok(input) => input,
            Err(_) => return,
        },
    };
    let f = Fixture::new();
    match &input.mode {
        Mode::Get { signed_in } => {
            let cookie = signed_in.then(|| format!("{SESSION_COOKIE}={}", f.sign_in()));
            let pairs = params(&input, canonical());
            let query = match &input.raw {
                Some(raw) => raw.clone(),
                None => authstore_fuzz::form(&pairs),
            };
            let Some(reply) = f.page(
                Method::GET,
                &format!("/authorize?{query}"),
                cookie.as_deref(),
                None,
            ) else {
                return;
            };
            // A `#` ends the request target: what follows is a fragment,
            // never sent to the server.
            let sent = authstore_fuzz::parse_form(query.split('#').next().unwrap_or(""));
            check(&reply, Some(sent.as_slice()));
            if input.is_canonical() {
                let page = reply.text();
                let expected = if *signed_in {
                    "id=\"consent\""
                } else {
                    "id=\"login\""
                };
                assert!(reply.status == 200 && page.contains(expected), "{page}");
            }
        }
        Mode::Consent => {
            let cookie = format!("{SESSION_COOKIE}={}", f.sign_in());
            let query = authstore_fuzz::form(&canonical());
            let page = f
                .page(
                    Method::GET,
                    &format!("/authorize?{query}"),
                    Some(&cookie),
                    None,
                )
                .expect("a valid request");
            let csrf = hidden(&page.text(), "_csrf").expect("the consent page has a CSRF token");
            let mut base = canonical();
            base.push(("_csrf".into(), csrf.clone()));
            base.push(("decision".into(), "approve".into()));
            let pairs = params(&input, base);
            let body = match &input.raw {
                Some(raw) => raw.replace("{csrf}", &csrf),
                None => authstore_fuzz::form(&pairs),
            };
            let Some(reply) = f.page(
                Method::POST,
                "/authorize",
                Some(&cookie),
                Some(body.clone()),
            ) else {
                return;
            };
            let sent = authstore_fuzz::parse_form(&body);
            check(&reply, Some(sent.as_slice()));
            if input.is_canonical() {
                let location = reply.location().unwrap_or_default();
                assert!(
                    reply.status == 303 && location.starts_with(&format!("{REDIRECT}?code=")),
                    "the canonical approval redirects with a code: {} {location}",
                    reply.status
                );
            }
        }
        Mode::Login {
            right_user,
            right_password,
            return_to,
        } => {
            let form = f
                .page(Method::GET, "/login", None, None)
                .expect("a valid request");
            let csrf = hidden(&form.text(), "_csrf").expect("the sign-in page has a CSRF token");
            let cookies: Vec<String> = form
                .headers
                .get_all(http::header::SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .filter_map(|v| v.split(';').next().map(str::to_owned))
                .collect();
            let return_to = return_to
                .clone()
                .unwrap_or_else(|| format!("/authorize?{}", authstore_fuzz::form(&canonical())));
            let base = vec![
                ("_csrf".to_owned(), csrf.clone()),
                ("return_to".to_owned(), return_to.clone()),
                (
                    "username".to_owned(),
                    if *right_user { USERNAME } else { "bob" }.to_owned(),
                ),
                (
                    "password".to_owned(),
                    if *right_password { PASSWORD } else { "wrong" }.to_owned(),
                ),
            ];
            let pairs = params(&input, base);
            let body = match &input.raw {
                Some(raw) => raw.replace("{csrf}", &csrf),
                None => authstore_fuzz::form(&pairs),
            };
            let cookie = cookies.join("; ");
            let Some(reply) = f.page(Method::POST, "/login", Some(&cookie), Some(body)) else {
                return;
            };
            check(&reply, None);
            if input.is_canonical() {
                let expected = if *right_user && *right_password {
                    303
                } else {
                    401
                };
                assert_eq!(reply.status, expected, "{}", reply.text());
            }
        }
    }
});
