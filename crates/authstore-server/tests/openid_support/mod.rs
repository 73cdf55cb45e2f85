//! The harness of `tests/openid.rs`: the router on a fake clock with a relying party, a cookie-keeping browser, token requests and ID token verification against `/jwks`.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::sync::Arc;

use authstore::FakeClock;
use authstore::oauth::{NewClient, pkce_challenge};
use authstore_server::{AppState, Settings};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, LOCATION, ORIGIN, SET_COOKIE};
use http::{Method, Request, Response};
use http_body_util::Full;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents,
    UnparsedPublicKey,
};
use serde_json::Value;

use crate::common::{self, PASSWORD, USER, hidden, send};

pub const CLIENT_ID: &str = "rp";
pub const SECRET: &str = "relying-party-secret-relying-party-secret";
pub const REDIRECT: &str = "https://rp.example/cb";
pub const VERIFIER: &str = "openid-test-verifier-openid-test-verifier-0123";
/// Unix seconds the fake clock starts at.
pub const START: u64 = 1_800_000_000;

pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    /// The issuer: the origin plus the issuer's path, if any.
    pub issuer: String,
    pub state: AppState,
    pub clock: FakeClock,
}

/// The router on a memory store and a fake clock, with the test user and a
/// confidential relying party (`openid profile email read`).
pub async fn start(path: &str, tweak: impl FnOnce(&mut Settings)) -> Server {
    let clock = FakeClock::at_millis(START * 1000);
    let store = authstore::MemoryStore::builder()
        .clock(clock.clone())
        .build()
        .unwrap();
    let (listener, origin) = common::bind().await;
    let issuer = format!("{origin}{path}");
    let mut settings = common::settings(&issuer);
    settings.scopes_supported = ["openid", "profile", "email", "read"]
        .map(Into::into)
        .to_vec();
    tweak(&mut settings);
    let state = AppState::with_clock(Arc::new(store), settings, clock.clone()).unwrap();
    common::add_user(&state).await;
    let mut rp = NewClient::confidential("relying party", REDIRECT);
    rp.scopes = ["openid", "profile", "email", "read"]
        .map(Into::into)
        .to_vec();
    state
        .oauth()
        .put_client(CLIENT_ID, rp, Some(SECRET))
        .await
        .unwrap();
    common::serve(listener, &state);
    Server {
        origin,
        issuer,
        state,
        clock,
    }
}

/// A browser: a cookie jar on one origin.
pub struct Browser {
    pub origin: String,
    pub cookies: HashMap<String, String>,
}

impl Browser {
    pub fn new(server: &Server) -> Self {
        Self {
            origin: server.origin.clone(),
            cookies: HashMap::new(),
        }
    }

    /// `target`: a path on the origin, or a whole URL.
    pub async fn go(
        &mut self,
        method: Method,
        target: &str,
        form: Option<&[(&str, &str)]>,
    ) -> Response<String> {
        let url = if target.starts_with('/') {
            format!("{}{target}", self.origin)
        } else {
            target.to_owned()
        };
        let jar = (!self.cookies.is_empty()).then(|| {
            self.cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        });
        let body = form.map(|pairs| {
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish()
        });
        let res = common::browser_send(method, &url, &self.origin, jar.as_deref(), body).await;
        for set in res.headers().get_all(SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (name, value) = set.split(';').next().unwrap().split_once('=').unwrap();
            if set.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        res
    }

    pub async fn get(&mut self, target: &str) -> Response<String> {
        self.go(Method::GET, target, None).await
    }

    /// Submits the sign-in page `page` (posted to `login_path`); returns where it leads.
    pub async fn sign_in(&mut self, page: &Response<String>, login_path: &str) -> String {
        assert!(is_login(page), "the sign-in page: {}", page.body());
        let (csrf, return_to) = (
            hidden(page.body(), "_csrf"),
            hidden(page.body(), "return_to"),
        );
        let fields = [
            ("_csrf", csrf.as_str()),
            ("return_to", return_to.as_str()),
            ("username", USER),
            ("password", PASSWORD),
        ];
        let res = self.go(Method::POST, login_path, Some(&fields)).await;
        assert_eq!(res.status(), 303, "signed in: {}", res.body());
        location(&res)
    }

    /// Signs in at the root issuer and approves `openid`, remembering the consent.
    pub async fn sign_in_and_remember(&mut self) {
        let page = self.get(&openid_authorize(&[])).await;
        let next = self.sign_in(&page, "/login").await;
        let page = self.get(&next).await;
        self.approve(&page, "/authorize", true).await;
    }

    /// Signs in on the root issuer's sign-in page `page`, follows it back to
    /// the client and exchanges the code; returns where the sign-in led and
    /// the verified ID token's claims.
    pub async fn sign_in_for_claims(
        &mut self,
        issuer: &str,
        page: &Response<String>,
    ) -> (String, Value) {
        let next = self.sign_in(page, "/login").await;
        let res = self.get(&next).await;
        let tokens = exchange(issuer, &location(&res)).await;
        let claims = verify_id_token(issuer, tokens["id_token"].as_str().unwrap()).await;
        (next, claims)
    }

    /// Approves the consent page `page` (posted to `authorize_path`), remembering it if asked.
    pub async fn approve(
        &mut self,
        page: &Response<String>,
        authorize_path: &str,
        remember: bool,
    ) -> String {
        assert!(is_consent(page), "the consent page: {}", page.body());
        let mut fields = hidden_fields(page.body());
        fields.push(("decision".into(), "approve".into()));
        if remember {
            fields.push(("remember".into(), "on".into()));
        }
        let pairs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let res = self.go(Method::POST, authorize_path, Some(&pairs)).await;
        assert_eq!(res.status(), 303, "approved: {}", res.body());
        location(&res)
    }
}

pub fn is_login(page: &Response<String>) -> bool {
    page.body().contains("id=\"login\"")
}

pub fn is_consent(page: &Response<String>) -> bool {
    page.body().contains("id=\"consent\"")
}

pub fn location(res: &Response<String>) -> String {
    res.headers()[LOCATION].to_str().unwrap().to_owned()
}

/// Every hidden field of a page, as a form posts them.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|rest| {
            let name = &rest[..rest.find('"').unwrap()];
            (name.to_owned(), hidden(html, name))
        })
        .collect()
}

/// The query parameters of a redirect.
pub fn query(url: &str) -> HashMap<String, String> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// An authorization request of the relying party, under the issuer's path.
pub fn authorize_url(path: &str, extra: &[(&str, &str)]) -> String {
    authorize_url_for(path, CLIENT_ID, extra)
}

/// An authorization request for `openid` at the root issuer, with `extra`.
pub fn openid_authorize(extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![("scope", "openid")];
    pairs.extend_from_slice(extra);
    authorize_url("", &pairs)
}

/// An authorization request of `client_id` (redirecting to [`REDIRECT`]).
pub fn authorize_url_for(path: &str, client_id: &str, extra: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.extend_pairs([
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("state", "st-1"),
        ("code_challenge", pkce_challenge(VERIFIER).as_str()),
        ("code_challenge_method", "S256"),
    ]);
    q.extend_pairs(extra);
    format!("{path}/authorize?{}", q.finish())
}

/// `POST /register` with the JSON `metadata`: the status and the body.
pub async fn register(issuer: &str, metadata: &Value) -> (u16, Value) {
    let res = send(
        Request::post(format!("{issuer}/register"))
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(metadata.to_string())))
            .unwrap(),
    )
    .await;
    (
        res.status().as_u16(),
        serde_json::from_str(res.body()).unwrap_or(Value::Null),
    )
}

/// Signs in, approves an `openid` request of the public client
/// `client_id` and exchanges the code; returns the token response.
pub async fn public_client_tokens(server: &Server, client_id: &str) -> Value {
    let mut browser = Browser::new(server);
    let page = browser
        .get(&authorize_url_for("", client_id, &[("scope", "openid")]))
        .await;
    let next = browser.sign_in(&page, "/login").await;
    let page = browser.get(&next).await;
    let redirect = browser.approve(&page, "/authorize", false).await;
    let code = query(&redirect)["code"].clone();
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", client_id),
        ])
        .finish();
    let res = send(
        Request::post(format!("{}/token", server.issuer))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(body)))
            .unwrap(),
    )
    .await;
    assert_eq!(res.status(), 200, "token response: {}", res.body());
    serde_json::from_str(res.body()).unwrap()
}

pub async fn post_token(issuer: &str, body: &str) -> Value {
    let basic = format!("Basic {}", STANDARD.encode(format!("{CLIENT_ID}:{SECRET}")));
    let res = send(
        Request::post(format!("{issuer}/token"))
            .header(AUTHORIZATION, basic)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap(),
    )
    .await;
    assert_eq!(res.status(), 200, "token response: {}", res.body());
    serde_json::from_str(res.body()).unwrap()
}

pub async fn exchange(issuer: &str, redirect: &str) -> Value {
    let params = query(redirect);
    let code = params
        .get("code")
        .unwrap_or_else(|| panic!("a code: {redirect}"));
    post_token(
        issuer,
        &format!(
            "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={VERIFIER}",
            form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
        ),
    )
    .await
}

pub async fn get_json(url: &str) -> (u16, Value) {
    let res = send(Request::get(url).body(Full::default()).unwrap()).await;
    (
        res.status().as_u16(),
        serde_json::from_str(res.body()).unwrap_or(Value::Null),
    )
}

/// Verifies an RS256 ID token against the JWK set at `issuer/jwks`; returns its claims.
pub async fn verify_id_token(issuer: &str, token: &str) -> Value {
    verify_id_token_alg(issuer, token, "RS256").await
}

/// Verifies an ID token signed with `alg` (`RS256`, `ES256`, `EdDSA`)
/// against the JWK set at `issuer/jwks`; returns its claims.
pub async fn verify_id_token_alg(issuer: &str, token: &str, alg: &str) -> Value {
    let (_, jwks) = get_json(&format!("{issuer}/jwks")).await;
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS");
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], alg);
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the ID token's key is published");
    assert_eq!(key["alg"], alg, "the key is published for {alg}");
    let b64 = |name: &str| URL_SAFE_NO_PAD.decode(key[name].as_str().unwrap()).unwrap();
    let signed = format!("{}.{}", parts[0], parts[1]);
    let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    let verified = match alg {
        "RS256" => RsaPublicKeyComponents {
            n: b64("n"),
            e: b64("e"),
        }
        .verify(&RSA_PKCS1_2048_8192_SHA256, signed.as_bytes(), &signature),
        "ES256" => {
            let point = [vec![4], b64("x"), b64("y")].concat();
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                .verify(signed.as_bytes(), &signature)
        }
        "EdDSA" => UnparsedPublicKey::new(&ED25519, b64("x")).verify(signed.as_bytes(), &signature),
        other => panic!("unexpected alg {other}"),
    };
    verified.expect("the signature verifies");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap()
}

/// The `at_hash` of `access_token` for an ID token signed with `alg`
/// (the left half of its SHA-256, or SHA-512 for `EdDSA`).
pub fn at_hash_alg(access_token: &str, alg: &str) -> String {
    let (digest, half) = match alg {
        "EdDSA" => (&ring::digest::SHA512, 32),
        _ => (&ring::digest::SHA256, 16),
    };
    URL_SAFE_NO_PAD.encode(&ring::digest::digest(digest, access_token.as_bytes()).as_ref()[..half])
}

pub fn at_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(
        &ring::digest::digest(&ring::digest::SHA256, access_token.as_bytes()).as_ref()[..16],
    )
}

/// Signs in and approves `extra`'s request; returns the token response.
pub async fn sign_in_and_exchange(
    server: &Server,
    path: &str,
    extra: &[(&str, &str)],
) -> (Browser, Value) {
    let mut browser = Browser::new(server);
    let page = browser.get(&authorize_url(path, extra)).await;
    let next = browser.sign_in(&page, &format!("{path}/login")).await;
    let page = browser.get(&next).await;
    let redirect = browser
        .approve(&page, &format!("{path}/authorize"), false)
        .await;
    let params = query(&redirect);
    assert_eq!(params["state"], "st-1");
    assert_eq!(params["iss"], server.issuer);
    (browser, exchange(&server.issuer, &redirect).await)
}

pub async fn userinfo(issuer: &str, method: Method, auth: Option<&str>) -> Response<String> {
    let mut req = Request::builder()
        .method(method)
        .uri(format!("{issuer}/userinfo"));
    if let Some(auth) = auth {
        req = req.header(AUTHORIZATION, auth);
    }
    send(req.body(Full::default()).unwrap()).await
}

/// The `action` of a page's first form.
pub fn form_action(html: &str) -> String {
    let rest = html.split("action=\"").nth(1).expect("a form");
    rest[..rest.find('"').unwrap()].to_owned()
}

pub async fn with_origin(method: Method, url: &str, preflight: bool) -> Response<String> {
    let mut req = Request::builder()
        .method(method)
        .uri(url)
        .header(ORIGIN, "https://spa.example");
    if preflight {
        req = req.header("access-control-request-method", "POST").header(
            "access-control-request-headers",
            "authorization, content-type",
        );
    }
    send(req.body(Full::default()).unwrap()).await
}
