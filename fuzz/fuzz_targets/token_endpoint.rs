//! `POST /token`, `/revoke` and `/introspect` with structure-aware forms (each grant type, every field valid, absent, repeated or arbitrary, either client authentication) or raw bodies: never a server failure, always an RFC 6749 error body, `no-store`; the canonical valid requests succeed, and a token revoked by its client is inactive afterwards.
//!
//! Input: `R` and a raw request (see `raw`), or the structured request.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use authstore_fuzz::server::{
    CONFIDENTIAL_ID, Fixture, PUBLIC_ID, REDIRECT, RESOURCE, SCOPE, SECRET, VERIFIER,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::AUTHORIZATION;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Endpoint {
    Token,
    Revoke,
    Introspect,
}

#[derive(Debug, Arbitrary)]
enum Grant {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    Raw(String),
    Absent,
}

/// A field: the value the fixture makes valid, absent, empty, or arbitrary.
#[derive(Debug, Arbitrary)]
enum Field {
    Valid,
    Absent,
    Empty,
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum Who {
    Public,
    Confidential,
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum Auth {
    /// `client_id` (and the secret, for the confidential client) in the form.
    Post,
    /// HTTP Basic with the right secret.
    Basic,
    /// HTTP Basic and the secret in the form too.
    Both,
    /// `Authorization: Basic <raw>`.
    BasicRaw(String),
    /// `Authorization: <raw bytes>`.
    HeaderRaw(Vec<u8>),
    None,
}

#[derive(Debug, Arbitrary)]
enum TokenChoice {
    Access,
    Refresh,
    Raw(String),
    Absent,
}

#[derive(Debug, Arbitrary)]
enum ContentType {
    Form,
    FormCharset,
    Json,
    Raw(String),
    Absent,
}

#[derive(Debug, Arbitrary)]
struct Input {
    endpoint: Endpoint,
    grant: Grant,
    who: Who,
    auth: Auth,
    code: Field,
    redirect_uri: Field,
    code_verifier: Field,
    refresh_token: Field,
    token: TokenChoice,
    token_type_hint: Option<String>,
    scope: Option<String>,
    resource: Field,
    extra: Vec<(String, String)>,
    repeat: Option<u8>,
    content_type: ContentType,
    raw_body: Option<Vec<u8>>,
}

impl Input {
    /// A request the server must accept as it stands.
    fn is_canonical(&self) -> bool {
        let plain = self.extra.is_empty()
            && self.repeat.is_none()
            && self.raw_body.is_none()
            && matches!(
                self.content_type,
                ContentType::Form | ContentType::FormCharset
            )
            && matches!(self.resource, Field::Valid | Field::Absent);
        let grant = match self.grant {
            Grant::AuthorizationCode => {
                matches!(self.who, Who::Public)
                    && matches!(self.auth, Auth::Post)
                    && self.scope.is_none()
                    && [&self.code, &self.redirect_uri, &self.code_verifier]
                        .iter()
                        .all(|f| matches!(f, Field::Valid))
            }
            Grant::RefreshToken => {
                matches!(self.who, Who::Public)
                    && matches!(self.auth, Auth::Post)
                    && self.scope.is_none()
                    && matches!(self.refresh_token, Field::Valid)
            }
            Grant::ClientCredentials => {
                matches!(self.who, Who::Confidential)
                    && matches!(self.auth, Auth::Basic)
                    && self.scope.as_deref().is_none_or(|s| s == SCOPE)
            }
            _ => false,
        };
        plain && grant && matches!(self.endpoint, Endpoint::Token)
    }
}

fn field(pairs: &mut Vec<(String, String)>, name: &str, value: &Field, valid: &str) {
    match value {
        Field::Valid => pairs.push((name.into(), valid.into())),
        Field::Absent => {}
        Field::Empty => pairs.push((name.into(), String::new())),
        Field::Raw(raw) => pairs.push((name.into(), raw.clone())),
    }
}

const TOKEN_ERRORS: &[&str] = &[
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "invalid_target",
    "temporarily_unavailable",
];

/// A raw request: the path (`T`oken, re`V`oke, `I`ntrospect), an optional
/// `Authorization: …` line, then the form body, where `{code}`, `{access}`
/// and `{refresh}` stand for the fixture's code and tokens.
fn raw(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let path = match which {
        b'V' => "/revoke",
        b'I' => "/introspect",
        _ => "/token",
    };
    let (header, body) = match rest.strip_prefix(b"Authorization: ") {
        Some(line) => match line.iter().position(|&b| b == b'\n') {
            Some(end) => (Some(line[..end].to_vec()), &line[end + 1..]),
            None => (Some(line.to_vec()), &[][..]),
        },
        None => (None, rest),
    };
    let f = Fixture::new();
    let body = String::from_utf8_lossy(body)
        .replace("{code}", &f.code)
        .replace("{access}", &f.access_token)
        .replace("{refresh}", &f.refresh_token);
    let headers: Vec<_> = header.into_iter().map(|h| (AUTHORIZATION, h)).collect();
    let Some(reply) = f.post(
        path,
        Some("application/x-www-form-urlencoded"),
        &headers,
        body.into_bytes(),
    ) else {
        return;
    };
    reply.assert_oauth_answer(path, TOKEN_ERRORS);
    if path != "/revoke" {
        assert!(reply.no_store(), "{path}: no Cache-Control: no-store");
    }
}

fuzz_target!(|data: &[u8]| {
    if let Some(rest) = data.strip_prefix(b"R") {
        raw(rest);
        return;
    }
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let f = Fixture::new();
    let (client_id, secret) = match &input.who {
        Who::Public => (PUBLIC_ID.to_owned(), None),
        Who::Confidential => (CONFIDENTIAL_ID.to_owned(), Some(SECRET.to_owned())),
        Who::Raw(id) => (id.clone(), Some(SECRET.to_owned())),
    };
    let mut pairs = Vec::new();
    let grant = match &input.grant {
        Grant::AuthorizationCode => Some("authorization_code"),
        Grant::RefreshToken => Some("refresh_token"),
        Grant::ClientCredentials => Some("client_credentials"),
        Grant::Raw(raw) => Some(raw.as_str()),
        Grant::Absent => None,
    };
    if let (Endpoint::Token, Some(grant)) = (&input.endpoint, grant) {
        pairs.push(("grant_type".to_owned(), grant.to_owned()));
    }
    field(&mut pairs, "code", &input.code, &f.code);
    field(&mut pairs, "redirect_uri", &input.redirect_uri, REDIRECT);
    field(&mut pairs, "code_verifier", &input.code_verifier, VERIFIER);
    field(
        &mut pairs,
        "refresh_token",
        &input.refresh_token,
        &f.refresh_token,
    );
    field(&mut pairs, "resource", &input.resource, RESOURCE);
    if !matches!(input.endpoint, Endpoint::Token) {
        match &input.token {
            TokenChoice::Access => pairs.push(("token".into(), f.access_token.clone())),
            TokenChoice::Refresh => pairs.push(("token".into(), f.refresh_token.clone())),
            TokenChoice::Raw(raw) => pairs.push(("token".into(), raw.clone())),
            TokenChoice::Absent => {}
        }
        if let Some(hint) = &input.token_type_hint {
            pairs.push(("token_type_hint".into(), hint.clone()));
        }
    }
    if let Some(scope) = &input.scope {
        pairs.push(("scope".into(), scope.clone()));
    }
    let basic = |id: &str, secret: &str| {
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
        )
    };
    let mut headers = Vec::new();
    match &input.auth {
        Auth::Post => {
            pairs.push(("client_id".into(), client_id.clone()));
            if let Some(s) = &secret {
                pairs.push(("client_secret".into(), s.clone()));
            }
        }
        Auth::Basic => headers.push((
            AUTHORIZATION,
            basic(&client_id, secret.as_deref().unwrap_or("")).into_bytes(),
        )),
        Auth::Both => {
            headers.push((
                AUTHORIZATION,
                basic(&client_id, secret.as_deref().unwrap_or("")).into_bytes(),
            ));
            pairs.push(("client_secret".into(), SECRET.into()));
        }
        Auth::BasicRaw(raw) => headers.push((AUTHORIZATION, format!("Basic {raw}").into_bytes())),
        Auth::HeaderRaw(raw) => headers.push((AUTHORIZATION, raw.clone())),
        Auth::None => {}
    }
    pairs.extend(input.extra.iter().cloned());
    if let Some(i) = input.repeat
        && !pairs.is_empty()
    {
        let again = pairs[usize::from(i) % pairs.len()].clone();
        pairs.push(again);
    }
    let body = match &input.raw_body {
        Some(raw) => raw.clone(),
        None => authstore_fuzz::form(&pairs).into_bytes(),
    };
    let content_type = match &input.content_type {
        ContentType::Form => Some("application/x-www-form-urlencoded".to_owned()),
        ContentType::FormCharset => {
            Some("application/x-www-form-urlencoded; charset=UTF-8".to_owned())
        }
        ContentType::Json => Some("application/json".to_owned()),
        ContentType::Raw(raw) => Some(raw.clone()),
        ContentType::Absent => None,
    };
    let path = match input.endpoint {
        Endpoint::Token => "/token",
        Endpoint::Revoke => "/revoke",
        Endpoint::Introspect => "/introspect",
    };
    let Some(reply) = f.post(path, content_type.as_deref(), &headers, body) else {
        return; // not a valid header value: no request
    };
    reply.assert_oauth_answer(path, TOKEN_ERRORS);
    if matches!(input.endpoint, Endpoint::Token | Endpoint::Introspect) {
        assert!(reply.no_store(), "{path}: no Cache-Control: no-store");
    }
    if reply.status == 401
        && matches!(input.auth, Auth::Basic)
        && matches!(input.endpoint, Endpoint::Token | Endpoint::Revoke)
    {
        assert!(
            reply.headers.contains_key(http::header::WWW_AUTHENTICATE),
            "a refused Basic authentication has a challenge"
        );
    }
    if input.is_canonical() {
        assert_eq!(
            reply.status,
            200,
            "canonical {:?}: {}",
            input.grant,
            reply.text()
        );
    }
    if reply.status == 200 {
        match input.endpoint {
            Endpoint::Token => {
                let json = reply.json().expect("a JSON answer");
                assert!(json["access_token"].is_string(), "{json}");
                assert_eq!(json["token_type"], "Bearer");
            }
            Endpoint::Introspect => {
                let json = reply.json().expect("a JSON answer");
                assert!(json["active"].is_boolean(), "{json}");
            }
            Endpoint::Revoke => {}
        }
    }
    // RFC 7009: once its client revoked it, the token is no longer active.
    if matches!(input.endpoint, Endpoint::Revoke)
        && reply.status == 200
        && matches!(input.token, TokenChoice::Access | TokenChoice::Refresh)
        && matches!(input.who, Who::Public)
        && matches!(input.auth, Auth::Post)
        && input.raw_body.is_none()
    {
        let token = match input.token {
            TokenChoice::Access => &f.access_token,
            _ => &f.refresh_token,
        };
        let check = vec![("token".to_owned(), token.clone())];
        let reply = f
            .post(
                "/introspect",
                Some("application/x-www-form-urlencoded"),
                &[(AUTHORIZATION, basic(CONFIDENTIAL_ID, SECRET).into_bytes())],
                authstore_fuzz::form(&check).into_bytes(),
            )
            .expect("a valid request");
        assert_eq!(reply.status, 200, "{}", reply.text());
        let json = reply.json().expect("JSON");
        assert_eq!(json["active"], false, "a revoked token is inactive: {json}");
    }
});
