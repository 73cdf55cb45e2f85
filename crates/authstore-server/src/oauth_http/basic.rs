//! Client credentials from an `Authorization: Basic` header (RFC 6749 §2.3.1, RFC 7617).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use http::header::AUTHORIZATION;

/// What the `Authorization` header says about client authentication.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BasicHeader {
    /// No header, or one of another scheme (such as `Bearer`).
    Absent,
    /// A `Basic` header with a client id and secret, both unescaped.
    Credentials { client_id: String, secret: String },
    /// A header that is not valid `Basic` credentials: not ASCII, not
    /// base64, not UTF-8, or without the `:` between id and secret.
    Malformed,
}

/// Reads the `Authorization` header of `headers`. The scheme name is
/// matched without regard to case (RFC 9110 §11.1); an unreadable header
/// value (not visible ASCII) is [`BasicHeader::Malformed`], never ignored.
pub(crate) fn basic_credentials(headers: &HeaderMap) -> BasicHeader {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return BasicHeader::Absent;
    };
    let Ok(value) = value.to_str() else {
        return BasicHeader::Malformed;
    };
    let value = value.trim_start();
    let (scheme, encoded) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return BasicHeader::Absent;
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    match decoded.as_deref().and_then(|d| d.split_once(':')) {
        Some((id, secret)) => BasicHeader::Credentials {
            client_id: unescape(id),
            secret: unescape(secret),
        },
        None => BasicHeader::Malformed,
    }
}

/// Undoes the form-urlencoding (RFC 6749 §2.3.1) of the whole of `s`: `+`
/// is a space, `%XX` a byte; a literal `&` stays part of the value.
fn unescape(s: &str) -> String {
    let whole = format!("x={}", s.replace('&', "%26"));
    form_urlencoded::parse(whole.as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn read(value: &[u8]) -> BasicHeader {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_bytes(value).unwrap());
        basic_credentials(&headers)
    }

    fn creds(id: &str, secret: &str) -> BasicHeader {
        BasicHeader::Credentials {
            client_id: id.into(),
            secret: secret.into(),
        }
    }

    #[test]
    fn the_scheme_is_matched_without_regard_to_case() {
        let encoded = STANDARD.encode("app:s3cret");
        for scheme in ["Basic", "basic", "BASIC", "bAsIc"] {
            let header = format!("{scheme} {encoded}");
            assert_eq!(read(header.as_bytes()), creds("app", "s3cret"), "{scheme}");
        }
    }

    #[test]
    fn both_parts_are_unescaped_whole() {
        let encoded = STANDARD.encode("my%20app:a%2Bb+c&d=e%3A");
        let header = format!("Basic {encoded}");
        assert_eq!(read(header.as_bytes()), creds("my app", "a+b c&d=e:"));
    }

    #[test]
    fn other_schemes_and_no_header_are_absent() {
        assert_eq!(basic_credentials(&HeaderMap::new()), BasicHeader::Absent);
        assert_eq!(read(b"Bearer abc"), BasicHeader::Absent);
        assert_eq!(read(b"Basicx YXBwOnM="), BasicHeader::Absent);
    }

    #[test]
    fn unreadable_credentials_are_malformed_not_absent() {
        assert_eq!(read(b"Basic \xc3\xa9t\xc3\xa9"), BasicHeader::Malformed);
        assert_eq!(read(b"Basic !!!"), BasicHeader::Malformed);
        let no_colon = format!("Basic {}", STANDARD.encode("app"));
        assert_eq!(read(no_colon.as_bytes()), BasicHeader::Malformed);
        let not_utf8 = format!("Basic {}", STANDARD.encode([0xff, b':', b'x']));
        assert_eq!(read(not_utf8.as_bytes()), BasicHeader::Malformed);
        assert_eq!(read(b"Basic"), BasicHeader::Malformed);
    }
}
