//! Small URL checks the configuration and the settings share.

/// The path of an issuer URL, without a trailing slash (empty for none).
pub(crate) fn issuer_path(issuer: &str) -> &str {
    let after_scheme = issuer.find("://").map_or(issuer, |i| &issuer[i + 3..]);
    match after_scheme.find('/') {
        Some(i) => after_scheme[i..].trim_end_matches('/'),
        None => "",
    }
}

/// Whether an `http://` URL's host is `localhost` or a loopback address.
pub(crate) fn is_loopback_url(url: &str) -> bool {
    let authority = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or("");
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => authority.split(':').next().unwrap_or(""),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
