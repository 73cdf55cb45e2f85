//! The session cookie: its attributes, reading the id from a request and writing `Set-Cookie`.

use std::time::Duration;

use authstore::csrf::KeyRing;
use http::HeaderMap;
use http::header::{COOKIE, HeaderValue};

/// Purpose string of session-cookie signatures (see [`KeyRing::sign`]).
const SIGNING_PURPOSE: &str = "authstore-session-cookie";

/// The `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SameSite {
    /// Sent on top-level navigations and same-site requests (the default).
    #[default]
    Lax,
    /// Same-site requests only.
    Strict,
    /// Always sent (requires `Secure`).
    None,
}

impl SameSite {
    fn as_str(self) -> &'static str {
        match self {
            Self::Lax => "Lax",
            Self::Strict => "Strict",
            Self::None => "None",
        }
    }
}

/// Attributes of the session cookie.
///
/// The default is `__Host-authstore=…; Path=/; Secure; HttpOnly; SameSite=Lax`
/// with a `Max-Age` following the session's TTL: the `__Host-` prefix makes
/// browsers refuse the cookie unless it is `Secure`, host-only and for `/`,
/// so a sibling subdomain cannot plant or shadow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieConfig {
    /// The name, without the prefix (default `authstore`).
    pub name: String,
    /// `Secure` and the `__Host-`/`__Secure-` prefix (default true; false only in dev mode).
    pub secure: bool,
    /// `HttpOnly` (default true).
    pub http_only: bool,
    /// `SameSite` (default `Lax`).
    pub same_site: SameSite,
    /// `Domain`: `None` (the default) keeps the cookie host-only and allows `__Host-`;
    /// a domain switches the prefix to `__Secure-`.
    pub domain: Option<String>,
}

impl Default for CookieConfig {
    fn default() -> Self {
        Self {
            name: "authstore".into(),
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
            domain: None,
        }
    }
}

impl CookieConfig {
    /// The cookie's full name, with the prefix its attributes allow.
    pub fn full_name(&self) -> String {
        match (self.secure, &self.domain) {
            (true, None) => format!("__Host-{}", self.name),
            (true, Some(_)) => format!("__Secure-{}", self.name),
            (false, _) => self.name.clone(),
        }
    }

    /// `Set-Cookie` carrying `value` for `max_age`, or deleting the cookie when `value` is `None`.
    pub(crate) fn set_cookie(
        &self,
        full_name: &str,
        value: Option<&str>,
        max_age: Duration,
    ) -> HeaderValue {
        let mut out = String::with_capacity(160);
        out.push_str(full_name);
        out.push('=');
        out.push_str(value.unwrap_or(""));
        out.push_str("; Path=/");
        if let Some(domain) = &self.domain {
            out.push_str("; Domain=");
            out.push_str(domain);
        }
        out.push_str("; Max-Age=");
        let secs = if value.is_some() {
            max_age.as_secs().max(1)
        } else {
            0
        };
        out.push_str(&secs.to_string());
        if self.secure {
            out.push_str("; Secure");
        }
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        out.push_str("; SameSite=");
        out.push_str(self.same_site.as_str());
        HeaderValue::from_str(&out).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// The value of cookie `name` in the request's `Cookie` headers (the first one).
pub(crate) fn read_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then_some(v.trim_matches('"'))
        })
}

/// Wraps the raw id for the cookie: signed when a key ring is configured.
pub(crate) fn encode_id(ring: Option<&KeyRing>, id: &str) -> Option<String> {
    match ring {
        Some(ring) => ring.sign(SIGNING_PURPOSE, id).ok(),
        None => Some(id.to_owned()),
    }
}

/// The raw id in a cookie value, if its signature (when required) is valid.
pub(crate) fn decode_id<'a>(ring: Option<&KeyRing>, value: &'a str) -> Option<&'a str> {
    match ring {
        Some(ring) => ring.verify(SIGNING_PURPOSE, value),
        None => Some(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_host_prefixed_secure_http_only_lax() {
        let c = CookieConfig::default();
        let name = c.full_name();
        let header = c.set_cookie(&name, Some("abc"), Duration::from_secs(1800));
        assert_eq!(
            header.to_str().unwrap(),
            "__Host-authstore=abc; Path=/; Max-Age=1800; Secure; HttpOnly; SameSite=Lax"
        );
        let gone = c.set_cookie(&name, None, Duration::from_secs(1800));
        assert!(gone.to_str().unwrap().contains("Max-Age=0"));
    }

    #[test]
    fn a_domain_switches_to_the_secure_prefix() {
        let c = CookieConfig {
            domain: Some("example.com".into()),
            ..CookieConfig::default()
        };
        assert_eq!(c.full_name(), "__Secure-authstore");
        let dev = CookieConfig {
            secure: false,
            ..CookieConfig::default()
        };
        assert_eq!(dev.full_name(), "authstore");
        let header = dev.set_cookie("authstore", Some("x"), Duration::from_secs(5));
        assert!(!header.to_str().unwrap().contains("Secure"));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_static("a=1; __Host-authstore=xyz"),
        );
        h.append(COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(read_cookie(&h, "__Host-authstore"), Some("xyz"));
        assert_eq!(read_cookie(&h, "b"), Some("2"));
        assert_eq!(read_cookie(&h, "authstore"), None);
    }

    #[test]
    fn signed_ids_must_verify() {
        let ring = KeyRing::new().with_key("k1", &[7; 32]).unwrap();
        let value = encode_id(Some(&ring), "id123").unwrap();
        assert_eq!(decode_id(Some(&ring), &value), Some("id123"));
        assert_eq!(decode_id(Some(&ring), "id123"), None, "unsigned is refused");
        assert_eq!(decode_id(None, "id123"), Some("id123"));
    }
}
