//! HTTP Basic client authentication at `POST /token` (client credentials): the client id and secret, form-urlencoded with any choice of escapes (RFC 6749 §2.3.1), base64 in any accepted shape, or an arbitrary header. The server authenticates exactly when the header decodes, by the RFC's rules, to the confidential client's id and secret; it never fails.
//!
//! Input: `R` and a raw `Authorization` value; anything else is the structured header.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use authstore_fuzz::server::{CONFIDENTIAL_ID, Fixture, SECRET};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE};
use http::header::AUTHORIZATION;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Text {
    /// The confidential client's id or secret.
    Right,
    /// The right one with one byte changed.
    Flipped(u8, u8),
    Raw(String),
}

/// How a character is written in the urlencoded form.
#[derive(Debug, Arbitrary, Clone, Copy)]
enum Escape {
    Literal,
    Upper,
    Lower,
    /// A space as `+`; anything else as `Upper`.
    Plus,
}

#[derive(Debug, Arbitrary)]
enum Shape {
    Standard,
    NoPad,
    UrlSafe,
    Padded(u8),
}

#[derive(Debug, Arbitrary)]
enum Header {
    Structured {
        id: Text,
        secret: Text,
        escapes: Vec<Escape>,
        shape: Shape,
        scheme: Scheme,
    },
    Raw(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum Scheme {
    Basic,
    Lower,
    Raw(String),
}

#[derive(Debug, Arbitrary)]
struct Input {
    header: Header,
    /// Also send `client_id` (the right one) in the form.
    form_client_id: bool,
}

fn text(choice: &Text, right: &str) -> String {
    match choice {
        Text::Right => right.to_owned(),
        Text::Flipped(at, to) => {
            let mut bytes = right.as_bytes().to_vec();
            let i = usize::from(*at) % bytes.len();
            bytes[i] = *to;
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Text::Raw(raw) => raw.clone(),
    }
}

/// `s` form-urlencoded: bytes that must be escaped are, the others as `escapes` say.
fn encode(s: &str, escapes: &[Escape], offset: usize) -> String {
    let mut out = String::new();
    for (i, b) in s.bytes().enumerate() {
        let escape = escapes
            .get((i + offset) % escapes.len().max(1))
            .copied()
            .unwrap_or(Escape::Literal);
        let plain = b.is_ascii_alphanumeric() || b"-._~*!'()".contains(&b);
        match escape {
            Escape::Literal if plain => out.push(char::from(b)),
            Escape::Plus if b == b' ' => out.push('+'),
            Escape::Lower => out.push_str(&format!("%{b:02x}")),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The client id and secret of a Basic credential (RFC 7617), each
/// form-urlencoded (RFC 6749 §2.3.1); a value is read up to an unescaped
/// `&`, as a form's first parameter.
fn reference(header: &[u8]) -> Option<(String, String)> {
    if !is_text(header) {
        return None;
    }
    let header = std::str::from_utf8(header).ok()?.trim_start();
    let (scheme, encoded) = header.split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((unescape(id), unescape(secret)))
}

/// Whether a header value is read as text: visible ASCII (and tabs).
fn is_text(header: &[u8]) -> bool {
    header.iter().all(|&b| b == b'\t' || (32..127).contains(&b))
}

/// `+` is a space, `%XX` a byte, the rest (`&` too) literal; the bytes as
/// UTF-8 (lossy).
fn unescape(s: &str) -> String {
    let s = s.as_bytes();
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < s.len() && hex(s[i + 1]).is_some() && hex(s[i + 2]).is_some() => {
                let (hi, lo) = (hex(s[i + 1]).unwrap_or(0), hex(s[i + 2]).unwrap_or(0));
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(0));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fuzz_target!(|data: &[u8]| {
    // `R` and the raw header value, or the structured header.
    let input = match data.strip_prefix(b"R") {
        Some(raw) => Input {
            header: Header::Raw(raw.to_vec()),
            form_client_id: false,
        },
        None => match Input::arbitrary_take_rest(Unstructured::new(data)) {
            Ok(input) => input,
            Err(_) => return,
        },
    };
    let header = match &input.header {
        Header::Structured {
            id,
            secret,
            escapes,
            shape,
            scheme,
        } => {
            let id = encode(&text(id, CONFIDENTIAL_ID), escapes, 0);
            let secret = encode(&text(secret, SECRET), escapes, 7);
            let raw = format!("{id}:{secret}");
            let b64 = match shape {
                Shape::Standard => STANDARD.encode(&raw),
                Shape::NoPad => STANDARD_NO_PAD.encode(&raw),
                Shape::UrlSafe => URL_SAFE.encode(&raw),
                Shape::Padded(n) => format!(
                    "{}{}",
                    STANDARD.encode(&raw),
                    " ".repeat(usize::from(n % 4))
                ),
            };
            let scheme = match scheme {
                Scheme::Basic => "Basic ".to_owned(),
                Scheme::Lower => "basic ".to_owned(),
                Scheme::Raw(raw) => raw.clone(),
            };
            format!("{scheme}{b64}").into_bytes()
        }
        Header::Raw(raw) => raw.clone(),
    };
    let f = Fixture::new();
    let mut pairs = vec![("grant_type".to_owned(), "client_credentials".to_owned())];
    if input.form_client_id {
        pairs.push(("client_id".to_owned(), CONFIDENTIAL_ID.to_owned()));
    }
    let Some(reply) = f.post(
        "/token",
        Some("application/x-www-form-urlencoded"),
        &[(AUTHORIZATION, header.clone())],
        authstore_fuzz::form(&pairs).into_bytes(),
    ) else {
        return;
    };
    reply.assert_oauth_answer(
        "client authentication",
        &["invalid_request", "invalid_client", "unauthorized_client"],
    );
    let expected =
        reference(&header).is_some_and(|(id, secret)| id == CONFIDENTIAL_ID && secret == SECRET);
    assert_eq!(
        reply.status == 200,
        expected,
        "header {:?}: {} {}",
        String::from_utf8_lossy(&header),
        reply.status,
        reply.text()
    );
    if reply.status == 401 && header.starts_with(b"Basic ") && is_text(&header) {
        assert!(
            reply.headers.contains_key(http::header::WWW_AUTHENTICATE),
            "a refused Basic authentication has a challenge"
        );
    }
});
