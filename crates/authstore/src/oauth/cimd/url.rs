//! The rules a `client_id` URL must follow to name a client metadata document: https (or, in development, http or https on loopback), a path without dot segments, no user name, password or fragment, in its normal form.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::DocumentRefusal;

/// Longest accepted `client_id` URL, in bytes.
pub const MAX_URL_BYTES: usize = 2000;

/// Whether a `client_id` is shaped like a URL (`https://…` or `http://…`),
/// and so names a client metadata document rather than a registered client.
pub fn is_document_url(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

/// The host of a document URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DocumentHost {
    /// A DNS name, resolved at fetch time.
    Domain(String),
    /// An IP address written in the URL.
    Ip(IpAddr),
}

/// A `client_id` URL that passed the rules of the Client ID Metadata
/// Document draft: `https`, with a path other than `/` and without `.` or
/// `..` segments, without a user name, password or fragment, and written in
/// its normal form (so that the `client_id` in the document can be
/// compared with it byte for byte). A query is allowed; a port other than
/// 0 too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentUrl {
    text: String,
    host: DocumentHost,
    port: u16,
    loopback: bool,
    plain_http: bool,
}

impl DocumentUrl {
    /// Checks `client_id`. With `allow_loopback` (development only),
    /// `127.0.0.1`, `[::1]` and `localhost` URLs (any port) are accepted
    /// over http as well as https, and only they may then be fetched from a
    /// loopback address.
    ///
    /// # Errors
    /// [`DocumentRefusal::BadUrl`] naming the rule broken.
    pub fn parse(client_id: &str, allow_loopback: bool) -> Result<Self, DocumentRefusal> {
        let bad = |why: &str| Err(DocumentRefusal::BadUrl(format!("the client_id URL {why}")));
        if client_id.len() > MAX_URL_BYTES {
            return bad(&format!("is longer than {MAX_URL_BYTES} bytes"));
        }
        if client_id.contains('#') {
            return bad("must not have a fragment");
        }
        let Ok(url) = url::Url::parse(client_id) else {
            return bad("is not a valid URL");
        };
        if !url.username().is_empty() || url.password().is_some() {
            return bad("must not contain a user name or password");
        }
        let host = match url.host() {
            Some(url::Host::Domain(name)) => DocumentHost::Domain(name.to_owned()),
            Some(url::Host::Ipv4(ip)) => DocumentHost::Ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => DocumentHost::Ip(IpAddr::V6(ip)),
            None => return bad("has no host"),
        };
        let loopback_host = match &host {
            DocumentHost::Domain(name) => name == "localhost",
            DocumentHost::Ip(ip) => {
                *ip == IpAddr::V4(Ipv4Addr::LOCALHOST) || *ip == IpAddr::V6(Ipv6Addr::LOCALHOST)
            }
        };
        let plain_http = match url.scheme() {
            "https" => false,
            "http" if loopback_host && allow_loopback => true,
            "http" if loopback_host => {
                return bad(
                    "must use https (plain http on a loopback address needs the development setting allow_loopback)",
                );
            }
            _ => return bad("must use https"),
        };
        let raw_path = raw_path(client_id);
        if raw_path.is_empty() || raw_path == "/" {
            return bad("must have a path (such as /oauth/client.json)");
        }
        let dot_segment = raw_path.split('/').any(|segment| {
            let lower = segment.to_ascii_lowercase().replace("%2e", ".");
            lower == "." || lower == ".."
        });
        if dot_segment {
            return bad("must not contain . or .. path segments");
        }
        let Some(port) = url.port_or_known_default() else {
            return bad("has no port");
        };
        if port == 0 {
            return bad("must not use port 0");
        }
        if url.as_str() != client_id {
            return bad(
                "is not in its normal form (a default port written out, an upper-case scheme or host, or characters that need percent-encoding)",
            );
        }
        Ok(Self {
            text: client_id.to_owned(),
            host,
            port,
            loopback: loopback_host && allow_loopback,
            plain_http,
        })
    }

    /// The URL, as given (and in its normal form).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The host.
    pub fn host(&self) -> &DocumentHost {
        &self.host
    }

    /// The host as written in the URL (`app.example`, `[::1]`).
    pub fn host_str(&self) -> &str {
        let rest = &self.text[self.text.find("://").map_or(0, |i| i + 3)..];
        let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
        match authority.rfind(':') {
            Some(i) if !authority[i..].contains(']') => &authority[..i],
            _ => authority,
        }
    }

    /// The port to connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether this is a development loopback URL (`127.0.0.1`, `[::1]` or
    /// `localhost`, over http or https, admitted by `allow_loopback`): only
    /// such a URL may be fetched from a loopback address.
    pub fn is_development_loopback(&self) -> bool {
        self.loopback
    }

    /// Whether the document is fetched over plain http (a development
    /// loopback `http://` URL); every other one uses TLS.
    pub fn is_plain_http(&self) -> bool {
        self.plain_http
    }

    /// The `Host` header value: the host and, when written, the port.
    pub fn authority(&self) -> &str {
        let rest = &self.text[self.text.find("://").map_or(0, |i| i + 3)..];
        &rest[..rest.find(['/', '?']).unwrap_or(rest.len())]
    }

    /// The request target: the path and the query.
    pub fn path_and_query(&self) -> &str {
        let authority = self.authority();
        let start = self.text.find("://").map_or(0, |i| i + 3) + authority.len();
        &self.text[start..]
    }
}

/// The path of `text` as written (before any normalization), without the query.
fn raw_path(text: &str) -> &str {
    let rest = text.find("://").map_or(text, |i| &text[i + 3..]);
    let Some(start) = rest.find('/') else {
        return "";
    };
    if rest.find('?').is_some_and(|q| q < start) {
        return "";
    }
    let path = &rest[start..];
    &path[..path.find('?').unwrap_or(path.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(url: &str) -> String {
        match DocumentUrl::parse(url, false) {
            Err(DocumentRefusal::BadUrl(why)) => why,
            other => panic!("{url}: {other:?}"),
        }
    }

    #[test]
    fn valid_urls_are_accepted_with_their_parts() {
        let url = DocumentUrl::parse("https://app.example/oauth/client.json", false).unwrap();
        assert_eq!(url.host(), &DocumentHost::Domain("app.example".into()));
        assert_eq!(url.port(), 443);
        assert_eq!(url.authority(), "app.example");
        assert_eq!(url.path_and_query(), "/oauth/client.json");
        assert!(!url.is_plain_http());
        assert!(!url.is_development_loopback());
        let url = DocumentUrl::parse("https://app.example:8443/c?v=2", false).unwrap();
        assert_eq!(url.port(), 8443);
        assert_eq!(url.host_str(), "app.example");
        assert_eq!(url.authority(), "app.example:8443");
        assert_eq!(url.path_and_query(), "/c?v=2");
        let url = DocumentUrl::parse("https://[2001:4860::1]:444/c", false).unwrap();
        assert_eq!(url.host_str(), "[2001:4860::1]");
        assert_eq!(
            url.host(),
            &DocumentHost::Ip("2001:4860::1".parse().unwrap())
        );
    }

    #[test]
    fn the_drafts_rules_are_enforced() {
        let cases = [
            ("http://app.example/c.json", "must use https"),
            ("ftp://app.example/c.json", "must use https"),
            ("https://app.example", "must have a path"),
            ("https://app.example/", "must have a path"),
            ("https://app.example?x=1", "must have a path"),
            ("https://user@app.example/c", "user name or password"),
            ("https://u:p@app.example/c", "user name or password"),
            ("https://app.example/c#top", "fragment"),
            ("https://app.example/a/../c", ". or .. path segments"),
            ("https://app.example/./c", ". or .. path segments"),
            ("https://app.example/a/%2E%2e/c", ". or .. path segments"),
            ("https://app.example:443/c", "normal form"),
            ("https://APP.example/c", "normal form"),
            ("HTTPS://app.example/c", "normal form"),
            ("https://app.example/a b", "normal form"),
            ("https://app.example:0/c", "port 0"),
            ("https://[::1/c", "not a valid URL"),
            ("not a url", "not a valid URL"),
        ];
        for (url, expected) in cases {
            let why = refusal(url);
            assert!(why.contains(expected), "{url}: {why}");
        }
        let long = format!("https://app.example/{}", "a".repeat(MAX_URL_BYTES));
        assert!(refusal(&long).contains("longer than"));
    }

    #[test]
    fn loopback_http_needs_the_development_setting() {
        for url in [
            "http://127.0.0.1:8080/c.json",
            "http://[::1]:8080/c.json",
            "http://localhost:8080/c.json",
        ] {
            assert!(refusal(url).contains("allow_loopback"), "{url}");
            let parsed = DocumentUrl::parse(url, true).unwrap();
            assert!(parsed.is_plain_http(), "{url}");
            assert!(parsed.is_development_loopback(), "{url}");
        }
        // Only loopback hosts are affected.
        assert!(DocumentUrl::parse("http://10.0.0.1:8080/c", true).is_err());
        assert!(DocumentUrl::parse("http://127.0.0.2:8080/c", true).is_err());
        assert!(
            !DocumentUrl::parse("https://127.0.0.2:8443/c", true)
                .unwrap()
                .is_development_loopback()
        );
    }

    #[test]
    fn https_loopback_is_a_development_url_only_with_the_setting() {
        for url in [
            "https://127.0.0.1:8443/c.json",
            "https://[::1]:8443/c.json",
            "https://localhost:8443/c.json",
        ] {
            let dev = DocumentUrl::parse(url, true).unwrap();
            assert!(dev.is_development_loopback(), "{url}");
            assert!(!dev.is_plain_http(), "{url}: fetched over TLS");
            let strict = DocumentUrl::parse(url, false).unwrap();
            assert!(!strict.is_development_loopback(), "{url}");
        }
    }

    #[test]
    fn url_shaped_client_ids_are_recognized() {
        assert!(is_document_url("https://app.example/c"));
        assert!(is_document_url("http://127.0.0.1:1/c"));
        assert!(!is_document_url("a1b2c3"));
        assert!(!is_document_url("com.example.app:/cb"));
    }
}
