//! Fetch-Metadata / Origin verification: a pure check of request headers against an allow-list.

/// The verdict of [`OriginCheck::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginVerdict {
    /// The request may proceed.
    Allow,
    /// The request is cross-site and must be refused; the reason is safe to log.
    Deny(&'static str),
    /// Log-only mode: the request would have been refused for this reason, and proceeds.
    WouldDeny(&'static str),
}

impl OriginVerdict {
    /// Whether the request may proceed (`Allow` or `WouldDeny`).
    pub fn proceeds(&self) -> bool {
        !matches!(self, Self::Deny(_))
    }
}

/// The request parts the check reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestParts<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// `Sec-Fetch-Site`, if sent.
    pub sec_fetch_site: Option<&'a str>,
    /// `Origin`, if sent.
    pub origin: Option<&'a str>,
    /// `Host`, if sent.
    pub host: Option<&'a str>,
}

/// Refuses cross-site unsafe requests using `Sec-Fetch-Site`, falling back
/// to comparing `Origin` with `Host` for browsers that do not send it.
///
/// ```
/// use authstore::csrf::{OriginCheck, OriginVerdict, RequestParts};
/// let check = OriginCheck::new().allow_origin("https://app.example.com");
/// let cross = RequestParts { method: "POST", sec_fetch_site: Some("cross-site"), origin: Some("https://evil.example"), host: Some("api.example.com") };
/// assert!(matches!(check.check(&cross), OriginVerdict::Deny(_)));
/// let partner = RequestParts { origin: Some("https://app.example.com"), ..cross };
/// assert_eq!(check.check(&partner), OriginVerdict::Allow);
/// ```
#[derive(Debug, Clone, Default)]
pub struct OriginCheck {
    allowed: Vec<String>,
    log_only: bool,
}

impl OriginCheck {
    /// A check with an empty allow-list that enforces.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts cross-origin requests from `origin` (`scheme://host[:port]`).
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed
            .push(origin.into().trim_end_matches('/').to_ascii_lowercase());
        self
    }

    /// Report instead of refuse ([`OriginVerdict::WouldDeny`]).
    pub fn log_only(mut self, on: bool) -> Self {
        self.log_only = on;
        self
    }

    fn allowed(&self, origin: &str) -> bool {
        let origin = origin.trim_end_matches('/');
        self.allowed.iter().any(|a| a.eq_ignore_ascii_case(origin))
    }

    /// The verdict for one request. Safe methods (GET, HEAD, OPTIONS) always pass.
    pub fn check(&self, req: &RequestParts<'_>) -> OriginVerdict {
        if ["GET", "HEAD", "OPTIONS"]
            .iter()
            .any(|m| m.eq_ignore_ascii_case(req.method))
        {
            return OriginVerdict::Allow;
        }
        let refused = match (req.sec_fetch_site, req.origin) {
            (_, Some(origin)) if self.allowed(origin) => None,
            (Some(site), _) => match site {
                "same-origin" | "none" => None,
                _ => Some("cross-site request (Sec-Fetch-Site)"),
            },
            // No Fetch Metadata and no Origin: not a browser form/fetch; nothing to check.
            (None, None) => None,
            (None, Some(origin)) => {
                let host_of_origin = origin.split_once("://").map(|(_, h)| h).unwrap_or(origin);
                match req.host {
                    Some(host)
                        if host_of_origin
                            .trim_end_matches('/')
                            .eq_ignore_ascii_case(host) =>
                    {
                        None
                    }
                    _ => Some("Origin does not match Host"),
                }
            }
        };
        match refused {
            None => OriginVerdict::Allow,
            Some(reason) if self.log_only => OriginVerdict::WouldDeny(reason),
            Some(reason) => OriginVerdict::Deny(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post<'a>(site: Option<&'a str>, origin: Option<&'a str>) -> RequestParts<'a> {
        RequestParts {
            method: "POST",
            sec_fetch_site: site,
            origin,
            host: Some("app.example.com"),
        }
    }

    #[test]
    fn fetch_metadata_decides_when_present() {
        let check = OriginCheck::new();
        assert_eq!(
            check.check(&post(Some("same-origin"), None)),
            OriginVerdict::Allow
        );
        assert_eq!(check.check(&post(Some("none"), None)), OriginVerdict::Allow);
        assert!(!check.check(&post(Some("same-site"), None)).proceeds());
        assert!(
            !check
                .check(&post(Some("cross-site"), Some("https://evil.example")))
                .proceeds()
        );
        let get = RequestParts {
            method: "GET",
            ..post(Some("cross-site"), None)
        };
        assert_eq!(check.check(&get), OriginVerdict::Allow, "safe methods pass");
    }

    #[test]
    fn origin_falls_back_to_host_and_the_allow_list() {
        let check = OriginCheck::new().allow_origin("https://partner.example/");
        assert_eq!(
            check.check(&post(None, Some("https://app.example.com"))),
            OriginVerdict::Allow
        );
        assert!(
            !check
                .check(&post(None, Some("https://evil.example")))
                .proceeds()
        );
        assert_eq!(
            check.check(&post(Some("cross-site"), Some("https://PARTNER.example"))),
            OriginVerdict::Allow
        );
        assert_eq!(
            check.check(&post(None, None)),
            OriginVerdict::Allow,
            "non-browser client"
        );
    }

    #[test]
    fn log_only_reports_without_refusing() {
        let check = OriginCheck::new().log_only(true);
        let verdict = check.check(&post(Some("cross-site"), None));
        assert!(matches!(verdict, OriginVerdict::WouldDeny(_)) && verdict.proceeds());
    }
}
