//! RFC 9068 JWT access tokens on the resource-server side: the compact JWS, its header, the published JWK set, the signature and the claims. Modes: a raw token (and optionally a raw JWK set); structure-aware headers and claims signed with a published Ed25519 or P-256 key, so that the claims checks are reached; a raw JWK set with a valid token. Nothing panics; an accepted token has the issuer, an unexpired `exp`, a client id and a valid signature; a correctly signed token with valid claims is accepted with exactly its claims.
//!
//! Input: one mode byte, then for mode 0 `jwks NUL token` (or just the
//! token, checked against the published set), for mode 1 the structured
//! token, for mode 2 a JWK set.

#![no_main]

use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use authstore::__fuzz::jwt_validate;
use authstore::FakeClock;
use authstore::oauth::resource::{
    AccessToken, InvalidToken, JwtConfig, JwtValidator, ValidationError,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
};
use serde_json::{Map, Value, json};

const ISSUER: &str = "https://as.example";
const NOW_SECS: u64 = 1_800_000_000;
const LEEWAY_SECS: u64 = 30;
/// The longest token the validator reads.
const MAX_TOKEN: usize = 8192;

struct Keys {
    ed: Ed25519KeyPair,
    ec: EcdsaKeyPair,
    jwks: Vec<u8>,
    validator: JwtValidator,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let ed = Ed25519KeyPair::from_seed_unchecked(&[7; 32]).expect("a seed");
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("a P-256 key");
        let ec = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .expect("the key loads");
        let point = ec.public_key().as_ref();
        let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        let jwks = json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "kid": "ed1", "alg": "EdDSA", "use": "sig",
             "x": b64(ed.public_key().as_ref())},
            {"kty": "EC", "crv": "P-256", "kid": "ec1",
             "x": b64(&point[1..33]), "y": b64(&point[33..65])},
        ]});
        let validator = JwtValidator::with_clock(
            JwtConfig::new(ISSUER).jwks_uri(format!("{ISSUER}/jwks")),
            FakeClock::at_millis(NOW_SECS * 1000),
        )
        .expect("a validator");
        Keys {
            ed,
            ec,
            jwks: serde_json::to_vec(&jwks).expect("JSON"),
            validator,
        }
    })
}

#[derive(Debug, Arbitrary)]
enum Text {
    Valid,
    Absent,
    Null,
    Number(i64),
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum Time {
    /// Seconds from now.
    Offset(i32),
    Abs(u64),
    Float(f64),
    Negative(i64),
    Text(String),
}

#[derive(Debug, Arbitrary)]
enum Aud {
    Absent,
    One(String),
    List(Vec<String>),
    Number(i64),
}

#[derive(Debug, Arbitrary)]
enum Scope {
    Absent,
    Scope(String),
    Scp(Vec<String>),
    ScpMixed(Vec<Option<String>>),
    Both(String, Vec<String>),
    Number(i64),
}

#[derive(Debug, Arbitrary)]
enum AlgChoice {
    Right,
    Other,
    None,
    Hs256,
    Raw(String),
    Absent,
}

#[derive(Debug, Arbitrary)]
enum Typ {
    AtJwt,
    Application,
    Upper,
    Jwt,
    Absent,
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum Kid {
    Right,
    OtherKey,
    Unknown(String),
    Empty,
    Number,
}

#[derive(Debug, Arbitrary)]
struct Structured {
    ec: bool,
    alg: AlgChoice,
    typ: Typ,
    kid: Kid,
    refused_header: Option<u8>,
    iss: Text,
    exp: Option<Time>,
    nbf: Option<Time>,
    iat: Option<Time>,
    aud: Aud,
    client_id: Text,
    sub: Text,
    scope: Scope,
    extra: Vec<(String, String)>,
    tamper: Option<(u16, u8)>,
}

impl Structured {
    fn is_valid(&self) -> bool {
        let time_ok = |t: &Option<Time>, future: bool| match t {
            None => !future,
            Some(Time::Offset(s)) if future => *s > 0,
            Some(Time::Offset(s)) => *s <= 0,
            _ => false,
        };
        matches!(self.alg, AlgChoice::Right)
            && matches!(self.typ, Typ::AtJwt | Typ::Application | Typ::Upper)
            && matches!(self.kid, Kid::Right)
            && self.refused_header.is_none()
            && self.tamper.is_none()
            && matches!(self.iss, Text::Valid)
            && time_ok(&self.exp, true)
            && time_ok(&self.nbf, false)
            && time_ok(&self.iat, false)
            && matches!(self.aud, Aud::Absent | Aud::One(_))
            && matches!(self.client_id, Text::Valid)
            && matches!(self.sub, Text::Valid | Text::Absent)
            && matches!(self.scope, Scope::Absent | Scope::Scope(_) | Scope::Scp(_))
            && self.extra.is_empty()
    }
}

fn time(t: &Time) -> Value {
    match t {
        Time::Offset(s) => json!(NOW_SECS.saturating_add_signed(i64::from(*s))),
        Time::Abs(n) => json!(n),
        Time::Float(f) => json!(f),
        Time::Negative(n) => json!(-n.saturating_abs()),
        Time::Text(s) => json!(s),
    }
}

fn text(t: &Text, valid: &str) -> Option<Value> {
    match t {
        Text::Valid => Some(json!(valid)),
        Text::Absent => None,
        Text::Null => Some(Value::Null),
        Text::Number(n) => Some(json!(n)),
        Text::Raw(s) => Some(json!(s)),
    }
}

fn token(s: &Structured) -> String {
    let k = keys();
    let (right, other, kid) = if s.ec {
        ("ES256", "EdDSA", "ec1")
    } else {
        ("EdDSA", "ES256", "ed1")
    };
    let mut header = Map::new();
    match &s.alg {
        AlgChoice::Right => put(&mut header, "alg", json!(right)),
        AlgChoice::Other => put(&mut header, "alg", json!(other)),
        AlgChoice::None => put(&mut header, "alg", json!("none")),
        AlgChoice::Hs256 => put(&mut header, "alg", json!("HS256")),
        AlgChoice::Raw(raw) => put(&mut header, "alg", json!(raw)),
        AlgChoice::Absent => {}
    }
    let typ = match &s.typ {
        Typ::AtJwt => Some("at+jwt".to_owned()),
        Typ::Application => Some("application/at+jwt".to_owned()),
        Typ::Upper => Some("AT+JWT".to_owned()),
        Typ::Jwt => Some("JWT".to_owned()),
        Typ::Absent => None,
        Typ::Raw(raw) => Some(raw.clone()),
    };
    if let Some(typ) = typ {
        header.insert("typ".into(), json!(typ));
    }
    match &s.kid {
        Kid::Right => put(&mut header, "kid", json!(kid)),
        Kid::OtherKey => put(&mut header, "kid", json!(if s.ec { "ed1" } else { "ec1" })),
        Kid::Unknown(raw) => put(&mut header, "kid", json!(raw)),
        Kid::Empty => put(&mut header, "kid", json!("")),
        Kid::Number => put(&mut header, "kid", json!(1)),
    }
    if let Some(i) = s.refused_header {
        let name = ["crit", "jku", "x5u", "jwk", "x5c"][usize::from(i) % 5];
        header.insert(name.into(), json!("x"));
    }
    let mut claims = Map::new();
    if let Some(v) = text(&s.iss, ISSUER) {
        claims.insert("iss".into(), v);
    }
    for (name, t) in [("exp", &s.exp), ("nbf", &s.nbf), ("iat", &s.iat)] {
        if let Some(t) = t {
            claims.insert(name.into(), time(t));
        }
    }
    match &s.aud {
        Aud::Absent => {}
        Aud::One(a) => put(&mut claims, "aud", json!(a)),
        Aud::List(l) => put(&mut claims, "aud", json!(l)),
        Aud::Number(n) => put(&mut claims, "aud", json!(n)),
    }
    if let Some(v) = text(&s.client_id, "client-1") {
        claims.insert("client_id".into(), v);
    }
    if let Some(v) = text(&s.sub, "u-1") {
        claims.insert("sub".into(), v);
    }
    match &s.scope {
        Scope::Absent => {}
        Scope::Scope(v) => put(&mut claims, "scope", json!(v)),
        Scope::Scp(v) => put(&mut claims, "scp", json!(v)),
        Scope::ScpMixed(v) => put(&mut claims, "scp", json!(v)),
        Scope::Both(a, b) => {
            claims.insert("scope".into(), json!(a));
            claims.insert("scp".into(), json!(b));
        }
        Scope::Number(n) => put(&mut claims, "scope", json!(n)),
    }
    for (k, v) in &s.extra {
        claims.entry(k.clone()).or_insert_with(|| json!(v));
    }
    let b64 = |v: &Map<String, Value>| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("JSON"));
    let input = format!("{}.{}", b64(&header), b64(&claims));
    let signature = if s.ec {
        k.ec.sign(&SystemRandom::new(), input.as_bytes())
            .expect("signs")
            .as_ref()
            .to_vec()
    } else {
        k.ed.sign(input.as_bytes()).as_ref().to_vec()
    };
    let mut token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature));
    if let Some((at, to)) = s.tamper {
        let mut bytes = token.into_bytes();
        let i = usize::from(at) % bytes.len();
        bytes[i] = to;
        token = String::from_utf8_lossy(&bytes).into_owned();
    }
    token
}

fn put(map: &mut Map<String, Value>, name: &str, value: Value) {
    map.insert(name.to_owned(), value);
}

/// What every accepted token must satisfy.
fn check_accepted(result: &Result<AccessToken, ValidationError>) {
    if let Ok(t) = result {
        assert!(!t.client_id.is_empty(), "a client id");
        assert!(
            t.expires_at.saturating_add(LEEWAY_SECS) > NOW_SECS,
            "not expired: {}",
            t.expires_at
        );
    }
    if let Err(ValidationError::Unavailable(why)) = result {
        panic!("a held JWK set is never unavailable: {why}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let k = keys();
    match mode % 3 {
        0 => {
            let (jwks, token) = match rest.iter().position(|&b| b == 0) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (&k.jwks[..], rest),
            };
            let Ok(token) = std::str::from_utf8(token) else {
                return;
            };
            if let Ok(result) = jwt_validate(&k.validator, jwks, token) {
                check_accepted(&result);
            }
        }
        1 => {
            let Ok(s) = Structured::arbitrary_take_rest(Unstructured::new(rest)) else {
                return;
            };
            let token = token(&s);
            let result = jwt_validate(&k.validator, &k.jwks, &token).expect("the published set");
            check_accepted(&result);
            // The validator reads at most 8 KiB of token: a longer one,
            // valid or not, is refused as malformed.
            if token.len() > MAX_TOKEN {
                assert!(
                    matches!(
                        result,
                        Err(ValidationError::Invalid(InvalidToken::Malformed(_)))
                    ),
                    "a token over 8 KiB is refused as malformed: {result:?}"
                );
            } else if s.is_valid() {
                let t = result.unwrap_or_else(|e| panic!("a valid token is refused: {e}"));
                assert_eq!(t.client_id, "client-1");
                assert_eq!(
                    t.subject.as_deref(),
                    matches!(s.sub, Text::Valid).then_some("u-1")
                );
                if let Aud::One(a) = &s.aud {
                    assert_eq!(t.audience.as_deref(), Some(a.as_str()));
                }
            }
        }
        _ => {
            let s = Structured {
                ec: false,
                alg: AlgChoice::Right,
                typ: Typ::AtJwt,
                kid: Kid::Right,
                refused_header: None,
                iss: Text::Valid,
                exp: Some(Time::Offset(600)),
                nbf: None,
                iat: Some(Time::Offset(0)),
                aud: Aud::Absent,
                client_id: Text::Valid,
                sub: Text::Valid,
                scope: Scope::Scope("read write".into()),
                extra: Vec::new(),
                tamper: None,
            };
            let token = token(&s);
            if let Ok(result) = jwt_validate(&k.validator, rest, &token) {
                check_accepted(&result);
                // Only the published Ed25519 key verifies it.
                if result.is_ok() {
                    let doc: Value = serde_json::from_slice(rest).expect("a JWK set is JSON");
                    let x = URL_SAFE_NO_PAD.encode(k.ed.public_key().as_ref());
                    let published = doc["keys"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|key| key["kid"] == "ed1" && key["x"] == x.as_str());
                    assert!(published, "accepted only under the signing key");
                }
            }
        }
    }
});
