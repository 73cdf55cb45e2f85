//! `POST /register` (RFC 7591) with structure-aware metadata (redirect URIs of every kind, grant types, authentication methods, scopes, ID token algorithms, values of the wrong JSON type) or raw bodies, anonymous or with an initial access token: never a server failure; a refusal is `invalid_client_metadata`/`invalid_redirect_uri` (or a 401 challenge); a registration echoes what was asked, keeps open registration public, and stores exactly the client it returns.
//!
//! Input: `A` (anonymous) or `T` (with the initial access token) and a raw
//! JSON body; anything else is the structured request.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use authstore_fuzz::server::{Fixture, INITIAL_TOKEN};
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

#[derive(Debug, Arbitrary)]
enum Uri {
    Https(String),
    Loopback(u16, String),
    PrivateUse(String),
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum Item<T> {
    Some(T),
    Null,
    Number(i64),
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum Grant {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum Method {
    None,
    Basic,
    Post,
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum Alg {
    Rs256,
    Es256,
    EdDsa,
    Raw(String),
}

#[derive(Debug, Arbitrary)]
struct Metadata {
    redirect_uris: Option<Item<Vec<Uri>>>,
    client_name: Option<Item<String>>,
    grant_types: Option<Item<Vec<Grant>>>,
    method: Option<Item<Method>>,
    scope: Option<Item<String>>,
    alg: Option<Item<Alg>>,
    extra: Vec<(String, String)>,
}

#[derive(Debug, Arbitrary)]
enum Body {
    Metadata(Metadata),
    Raw(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum Caller {
    Anonymous,
    Trusted,
    Bearer(String),
    Raw(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
struct Input {
    caller: Caller,
    body: Body,
}

fn item<T>(item: &Item<T>, f: impl Fn(&T) -> Value) -> Value {
    match item {
        Item::Some(v) => f(v),
        Item::Null => Value::Null,
        Item::Number(n) => json!(n),
        Item::Raw(s) => json!(s),
    }
}

fn uri(u: &Uri) -> String {
    match u {
        Uri::Https(path) => format!("https://app.example/{path}"),
        Uri::Loopback(port, path) => format!("http://127.0.0.1:{port}/{path}"),
        Uri::PrivateUse(path) => format!("com.example.app:/{path}"),
        Uri::Raw(raw) => raw.clone(),
    }
}

fn document(m: &Metadata) -> Value {
    let mut doc = Map::new();
    if let Some(uris) = &m.redirect_uris {
        doc.insert(
            "redirect_uris".into(),
            item(uris, |v| json!(v.iter().map(uri).collect::<Vec<_>>())),
        );
    }
    if let Some(name) = &m.client_name {
        doc.insert("client_name".into(), item(name, |v| json!(v)));
    }
    if let Some(grants) = &m.grant_types {
        let grants = item(grants, |v| {
            json!(
                v.iter()
                    .map(|g| match g {
                        Grant::AuthorizationCode => "authorization_code".to_owned(),
                        Grant::RefreshToken => "refresh_token".to_owned(),
                        Grant::ClientCredentials => "client_credentials".to_owned(),
                        Grant::Raw(raw) => raw.clone(),
                    })
                    .collect::<Vec<_>>()
            )
        });
        doc.insert("grant_types".into(), grants);
    }
    if let Some(method) = &m.method {
        let method = item(method, |v| {
            json!(match v {
                Method::None => "none",
                Method::Basic => "client_secret_basic",
                Method::Post => "client_secret_post",
                Method::Raw(raw) => raw.as_str(),
            })
        });
        doc.insert("token_endpoint_auth_method".into(), method);
    }
    if let Some(scope) = &m.scope {
        doc.insert("scope".into(), item(scope, |v| json!(v)));
    }
    if let Some(alg) = &m.alg {
        let alg = item(alg, |v| {
            json!(match v {
                Alg::Rs256 => "RS256",
                Alg::Es256 => "ES256",
                Alg::EdDsa => "EdDSA",
                Alg::Raw(raw) => raw.as_str(),
            })
        });
        doc.insert("id_token_signed_response_alg".into(), alg);
    }
    for (k, v) in &m.extra {
        doc.entry(k.clone()).or_insert_with(|| json!(v));
    }
    Value::Object(doc)
}

fuzz_target!(|data: &[u8]| {
    // `A` (anonymous) or `T` (initial access token) and a raw JSON body, or the structured request.
    let input = match data.split_first() {
        Some((b'A', body)) => Input {
            caller: Caller::Anonymous,
            body: Body::Raw(body.to_vec()),
        },
        Some((b'T', body)) => Input {
            caller: Caller::Trusted,
            body: Body::Raw(body.to_vec()),
        },
        _ => match Input::arbitrary_take_rest(Unstructured::new(data)) {
            Ok(input) => input,
            Err(_) => return,
        },
    };
    let f = Fixture::new();
    let (body, sent) = match &input.body {
        Body::Metadata(m) => {
            let doc = document(m);
            (serde_json::to_vec(&doc).expect("JSON"), Some(doc))
        }
        Body::Raw(raw) => (raw.clone(), serde_json::from_slice::<Value>(raw).ok()),
    };
    let mut headers = Vec::new();
    match &input.caller {
        Caller::Anonymous => {}
        Caller::Trusted => headers.push((
            AUTHORIZATION,
            format!("Bearer {INITIAL_TOKEN}").into_bytes(),
        )),
        Caller::Bearer(token) => {
            headers.push((AUTHORIZATION, format!("Bearer {token}").into_bytes()))
        }
        Caller::Raw(raw) => headers.push((AUTHORIZATION, raw.clone())),
    }
    let Some(reply) = f.post("/register", Some("application/json"), &headers, body) else {
        return;
    };
    reply.assert_oauth_answer(
        "/register",
        &[
            "invalid_client_metadata",
            "invalid_redirect_uri",
            "invalid_token",
            "invalid_request",
        ],
    );
    if reply.status == 401 {
        assert!(
            reply.headers.contains_key(WWW_AUTHENTICATE),
            "a Bearer challenge"
        );
    }
    if reply.status.is_success() {
        assert_eq!(reply.status, 201);
        let answer = reply.json().expect("JSON");
        let trusted = matches!(input.caller, Caller::Trusted);
        let method = answer["token_endpoint_auth_method"]
            .as_str()
            .expect("a method");
        if !trusted {
            assert_eq!(method, "none", "open registration creates public clients");
            assert!(answer.get("client_secret").is_none());
        }
        assert_eq!(
            answer["client_secret"].is_string(),
            method != "none",
            "a secret exactly for a confidential client"
        );
        // A JSON object is read by member name (an array would be read by position).
        if let Some(sent) = sent.filter(Value::is_object) {
            let asked = sent["token_endpoint_auth_method"]
                .as_str()
                .unwrap_or("none");
            assert_eq!(method, asked);
            assert_eq!(
                answer["redirect_uris"],
                sent.get("redirect_uris")
                    .cloned()
                    .unwrap_or_else(|| json!([])),
                "the redirect URIs as asked"
            );
        }
        let id = answer["client_id"].as_str().expect("a client id");
        let stored = authstore_fuzz::block_on(f.state.oauth().client(id))
            .expect("the store works")
            .expect("the registered client is stored");
        assert_eq!(json!(stored.redirect_uris), answer["redirect_uris"]);
        assert_eq!(stored.auth_method.as_str(), method);
        assert_eq!(stored.is_confidential(), method != "none");
        assert_eq!(json!(stored.scopes.join(" ")), answer["scope"]);
    }
});
