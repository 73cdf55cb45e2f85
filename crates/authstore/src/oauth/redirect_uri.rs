//! Redirect URIs: what may be registered (https, loopback IP http, private-use schemes; RFC 8252) and how a presented one is matched (exactly, loopback ports aside).

use super::OAuthError;

/// Whether a presented redirect URI matches a registered one: exactly, or,
/// for a loopback IP `http` URI (`127.0.0.1` or `[::1]`), exactly but for
/// the port, which native apps pick at run time (RFC 8252 §7.3). The name
/// `localhost` is not a loopback address here (RFC 8252 §8.3): it may
/// resolve elsewhere, so it gets no port leeway and cannot be registered.
pub fn redirect_uri_matches(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    match (loopback_parts(registered), loopback_parts(presented)) {
        (Some((host_a, path_a)), Some((host_b, path_b))) => host_a == host_b && path_a == path_b,
        _ => false,
    }
}

/// `(host, path-and-query)` of an `http://` loopback IP URI, without the
/// port. The port, when present, is 1 to 5 ASCII digits naming a `u16`
/// (no sign, no spaces).
fn loopback_parts(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("http://")?;
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    if authority.contains('@') {
        return None;
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6.find(']')?;
        &authority[..end + 2]
    } else {
        authority.split(':').next()?
    };
    let port = &authority[host.len()..];
    let port_ok = port.is_empty()
        || port.strip_prefix(':').is_some_and(|p| {
            (1..=5).contains(&p.len())
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u16>().is_ok()
        });
    (port_ok && matches!(host, "127.0.0.1" | "[::1]")).then_some((host, path))
}

/// Whether `uri` may be registered: https, loopback IP http, or a reverse-domain private-use scheme (RFC 8252), without a fragment.
pub(super) fn validate_redirect_uri(uri: &str) -> Result<(), OAuthError> {
    let bad = |why: &str| Err(OAuthError::InvalidRedirectUri(format!("{uri:?}: {why}")));
    if uri.len() > 2048 {
        return bad("longer than 2048 bytes");
    }
    if uri.contains('#') {
        return bad("a redirect URI must not have a fragment");
    }
    if uri.chars().any(|c| c.is_control() || c == ' ') {
        return bad("control characters or spaces");
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return bad("not an absolute URI");
    };
    match scheme {
        "https" if rest.starts_with("//") && rest.len() > 2 => Ok(()),
        "http" if loopback_parts(uri).is_some() => Ok(()),
        "http" => bad(
            "plain http is only allowed for the loopback addresses 127.0.0.1 and [::1] (not localhost), with a numeric port",
        ),
        // A private-use scheme of a native app (RFC 8252 §7.1): reverse-DNS-like.
        s if s.contains('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            Ok(())
        }
        _ => bad("use https, loopback http, or a reverse-domain private-use scheme"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_ports_may_vary_and_nothing_else() {
        let reg = "http://127.0.0.1/callback";
        assert!(redirect_uri_matches(reg, "http://127.0.0.1:51234/callback"));
        assert!(redirect_uri_matches(
            "http://[::1]:80/cb",
            "http://[::1]:9/cb"
        ));
        // RFC 8252 §8.3: `localhost` is a name, not a loopback address.
        assert!(!redirect_uri_matches(
            "http://localhost/cb",
            "http://localhost:3000/cb"
        ));
        // A port is 1 to 5 ASCII digits: no sign, no spaces, no overflow.
        for bad_port in ["+80", "-0", " 80", "80 ", "", "000080", "65536", "0x50"] {
            assert!(
                !redirect_uri_matches(reg, &format!("http://127.0.0.1:{bad_port}/callback")),
                "port {bad_port:?}"
            );
        }
        assert!(redirect_uri_matches(reg, "http://127.0.0.1:65535/callback"));
        assert!(!redirect_uri_matches(reg, "http://127.0.0.1:5/callback/x"));
        assert!(!redirect_uri_matches(reg, "http://127.0.0.2:5/callback"));
        assert!(!redirect_uri_matches(
            reg,
            "http://127.0.0.1:notaport/callback"
        ));
        assert!(!redirect_uri_matches(
            reg,
            "http://user@127.0.0.1:5/callback"
        ));
        let https = "https://app.example/cb";
        assert!(redirect_uri_matches(https, https));
        assert!(!redirect_uri_matches(https, "https://app.example:444/cb"));
        assert!(!redirect_uri_matches(https, "https://app.example/cb?x=1"));
    }

    #[test]
    fn redirect_uris_are_validated() {
        for ok in [
            "https://app.example/cb",
            "http://127.0.0.1/cb",
            "http://127.0.0.1:8080/cb",
            "http://[::1]/cb",
            "com.example.app:/oauth",
        ] {
            assert!(validate_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://app.example/cb",
            "http://localhost/cb",
            "http://localhost:8080/cb",
            "http://127.0.0.1:+80/cb",
            "http://[::1]:+80/cb",
            "https://app.example/cb#frag",
            "javascript:alert(1)",
            "cb",
            "https://",
            "https://a b",
        ] {
            assert!(validate_redirect_uri(bad).is_err(), "{bad}");
        }
    }
}
