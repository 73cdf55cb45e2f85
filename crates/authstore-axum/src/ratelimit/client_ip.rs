//! [`ClientIp`] and [`TrustedProxies`]: the client's address from the peer and, behind trusted proxies only, `X-Forwarded-For`.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use http::request::Parts;
use http::{HeaderMap, HeaderName};
use ipnet::IpNet;

/// The header proxies append the address they received a request from to.
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// At most this many `X-Forwarded-For` entries are examined (from the right).
const MAX_HOPS: usize = 64;

/// The proxies whose `X-Forwarded-For` entries are believed, as CIDR blocks.
///
/// Empty (the default) trusts nobody: the client is always the TCP peer and
/// forwarding headers are ignored.
///
/// ```
/// use authstore_axum::TrustedProxies;
/// let proxies = TrustedProxies::parse(["10.0.0.0/8", "192.0.2.7"]).unwrap();
/// assert!(proxies.contains("10.1.2.3".parse().unwrap()));
/// assert!(!proxies.contains("203.0.113.9".parse().unwrap()));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    /// Trusts nobody.
    pub fn none() -> Self {
        Self::default()
    }

    /// Trusts these networks.
    pub fn new(nets: impl IntoIterator<Item = IpNet>) -> Self {
        Self {
            nets: nets.into_iter().collect(),
        }
    }

    /// Parses CIDR blocks (`10.0.0.0/8`, `2001:db8::/32`) or single addresses.
    ///
    /// # Errors
    /// The first text that is neither, unchanged.
    pub fn parse<I, T>(texts: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        let mut nets = Vec::new();
        for text in texts {
            let text = text.as_ref().trim();
            let net = match text.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => text
                    .parse::<IpAddr>()
                    .map(IpNet::from)
                    .map_err(|_| text.to_owned())?,
            };
            nets.push(net);
        }
        Ok(Self { nets })
    }

    /// The trusted networks.
    pub fn nets(&self) -> &[IpNet] {
        &self.nets
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }
}

/// The address of the client that sent a request.
///
/// Resolved from the TCP peer (`ConnectInfo<SocketAddr>`, see
/// [`axum::Router::into_make_service_with_connect_info`]) and, when the
/// peer is a trusted proxy, from `X-Forwarded-For`: the right-most entry
/// that is not a trusted proxy. Entries left of it were written by the
/// client itself and prove nothing. IPv4-mapped IPv6 addresses are
/// reported as IPv4.
///
/// As an extractor it takes the value the [`RateLimitLayer`](crate::RateLimitLayer)
/// put in the request (with the layer's trusted proxies) or, without the
/// layer, the TCP peer; it rejects with `500` when neither is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientIp(pub IpAddr);

impl ClientIp {
    /// The client of a request from `peer` carrying `headers`.
    ///
    /// Walks `X-Forwarded-For` (every such header, in order, as one list)
    /// from the right while the hop that wrote the entry is trusted, and
    /// stops at the first entry that is not trusted. A malformed entry stops
    /// the walk: the last good address (the peer, or the trusted proxy
    /// nearest to it) is the answer. Headers from an untrusted peer are
    /// ignored entirely.
    pub fn resolve(peer: IpAddr, headers: &HeaderMap, proxies: &TrustedProxies) -> Self {
        let mut client = peer.to_canonical();
        if !proxies.contains(client) {
            return Self(client);
        }
        let entries = headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .map(|value| value.to_str().ok());
        let mut hops: Vec<Option<&str>> = Vec::new();
        for value in entries {
            match value {
                Some(text) => hops.extend(text.split(',').map(|e| Some(e.trim()))),
                // A header that is not visible ASCII: everything left of it is unusable.
                None => hops.push(None),
            }
        }
        for hop in hops.iter().rev().take(MAX_HOPS) {
            let Some(ip) = hop.and_then(parse_hop) else {
                break;
            };
            client = ip;
            if !proxies.contains(ip) {
                break;
            }
        }
        Self(client)
    }

    /// The client of a request, from its `ConnectInfo<SocketAddr>` and
    /// headers; `None` without `ConnectInfo`.
    pub fn from_parts(parts: &Parts, proxies: &TrustedProxies) -> Option<Self> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
        Some(Self::resolve(peer, &parts.headers, proxies))
    }

    /// The rate-limit key of this address: `ip:203.0.113.9`, or with
    /// `ipv6_prefix` an IPv6 client's network (`ip:2001:db8:1:2::/64`), since
    /// one IPv6 client usually holds a whole /64.
    pub fn key(&self, ipv6_prefix: Option<u8>) -> String {
        match (self.0, ipv6_prefix) {
            (IpAddr::V6(v6), Some(len)) if len < 128 => {
                match ipnet::Ipv6Net::new(v6, len) {
                    Ok(net) => format!("ip:{}", net.trunc()),
                    // Longer than 128 bits: keep the address.
                    Err(_) => format!("ip:{v6}"),
                }
            }
            (ip, _) => format!("ip:{ip}"),
        }
    }
}

impl std::fmt::Display for ClientIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = crate::Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(ip) = parts.extensions.get::<ClientIp>() {
            return Ok(*ip);
        }
        Self::from_parts(parts, &TrustedProxies::none()).ok_or_else(|| {
            crate::Error::new(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "missing_client_ip",
                "the client address needs ConnectInfo<SocketAddr> (into_make_service_with_connect_info)",
            )
        })
    }
}

/// Infallible for `Option<ClientIp>` users: `None` when unknown.
impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, Infallible> {
        Ok(
            <Self as FromRequestParts<S>>::from_request_parts(parts, state)
                .await
                .ok(),
        )
    }
}

/// One `X-Forwarded-For` entry: `203.0.113.9`, `203.0.113.9:443`,
/// `2001:db8::1` or `[2001:db8::1]:443`; anything else (`unknown`,
/// obfuscated identifiers) is `None`.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    entry
        .parse::<SocketAddr>()
        .ok()
        .map(|s| s.ip().to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(X_FORWARDED_FOR, HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    fn proxies() -> TrustedProxies {
        TrustedProxies::parse(["10.0.0.0/8", "2001:db8:ffff::/48"]).unwrap()
    }

    #[test]
    fn untrusted_peer_ignores_forwarding_headers() {
        let headers = xff(&["198.51.100.1"]);
        let got = ClientIp::resolve(ip("203.0.113.9"), &headers, &proxies());
        assert_eq!(got, ClientIp(ip("203.0.113.9")));
        let nobody = ClientIp::resolve(ip("10.0.0.1"), &headers, &TrustedProxies::none());
        assert_eq!(nobody, ClientIp(ip("10.0.0.1")));
    }

    #[test]
    fn trusted_peer_gives_rightmost_untrusted_entry() {
        // The client forged 1.1.1.1; the first proxy appended the real client.
        let headers = xff(&["1.1.1.1, 198.51.100.7, 10.0.0.2"]);
        let got = ClientIp::resolve(ip("10.0.0.1"), &headers, &proxies());
        assert_eq!(got, ClientIp(ip("198.51.100.7")));
    }

    #[test]
    fn several_headers_form_one_list() {
        let headers = xff(&["1.1.1.1", "198.51.100.7", "10.9.9.9"]);
        let got = ClientIp::resolve(ip("10.0.0.1"), &headers, &proxies());
        assert_eq!(got, ClientIp(ip("198.51.100.7")));
    }

    #[test]
    fn all_trusted_gives_leftmost() {
        let headers = xff(&["10.0.0.3, 10.0.0.2"]);
        let got = ClientIp::resolve(ip("10.0.0.1"), &headers, &proxies());
        assert_eq!(got, ClientIp(ip("10.0.0.3")));
    }

    #[test]
    fn no_header_behind_trusted_peer_gives_peer() {
        let got = ClientIp::resolve(ip("10.0.0.1"), &HeaderMap::new(), &proxies());
        assert_eq!(got, ClientIp(ip("10.0.0.1")));
    }

    #[test]
    fn malformed_entry_stops_at_last_good_value() {
        let headers = xff(&["198.51.100.7, garbage, 10.0.0.2"]);
        let got = ClientIp::resolve(ip("10.0.0.1"), &headers, &proxies());
        assert_eq!(got, ClientIp(ip("10.0.0.2")));
        let headers = xff(&["198.51.100.7, unknown"]);
        let got = ClientIp::resolve(ip("10.0.0.1"), &headers, &proxies());
        assert_eq!(got, ClientIp(ip("10.0.0.1")));
        for bad in ["", ",,,", " , ", "[::1", "300.1.1.1", "1.2.3.4:99999"] {
            let got = ClientIp::resolve(ip("10.0.0.1"), &xff(&[bad]), &proxies());
            assert_eq!(got, ClientIp(ip("10.0.0.1")), "{bad:?}");
        }
    }

    #[test]
    fn non_ascii_header_is_not_trusted() {
        let mut headers = xff(&["198.51.100.7"]);
        headers.append(X_FORWARDED_FOR, HeaderValue::from_bytes(b"\xff").unwrap());
        let got = ClientIp::resolve(ip("10.0.0.1"), &headers, &proxies());
        assert_eq!(got, ClientIp(ip("10.0.0.1")));
    }

    #[test]
    fn ports_brackets_and_mapped_addresses() {
        let headers = xff(&["[2001:db8::5]:443, 198.51.100.7:80"]);
        let got = ClientIp::resolve(ip("10.0.0.1"), &headers, &proxies());
        assert_eq!(got, ClientIp(ip("198.51.100.7")));
        let headers = xff(&["2001:db8::5, 2001:db8:ffff::1"]);
        let got = ClientIp::resolve(ip("::ffff:10.0.0.1"), &headers, &proxies());
        assert_eq!(got, ClientIp(ip("2001:db8::5")));
        let got = ClientIp::resolve(ip("::ffff:203.0.113.9"), &headers, &proxies());
        assert_eq!(got, ClientIp(ip("203.0.113.9")));
    }

    #[test]
    fn long_chains_are_cut() {
        let chain = vec!["10.0.0.2"; 500].join(",");
        let headers = xff(&[&format!("198.51.100.7,{chain}")]);
        let got = ClientIp::resolve(ip("10.0.0.1"), &headers, &proxies());
        assert_eq!(got, ClientIp(ip("10.0.0.2")));
    }

    #[test]
    fn parse_accepts_cidrs_and_addresses() {
        let p = TrustedProxies::parse(["192.0.2.7", " 10.0.0.0/8 ", "::1"]).unwrap();
        assert_eq!(p.nets().len(), 3);
        assert!(p.contains(ip("192.0.2.7")) && !p.contains(ip("192.0.2.8")));
        assert!(p.contains(ip("::1")));
        assert_eq!(
            TrustedProxies::parse(["10.0.0.0/33"]),
            Err("10.0.0.0/33".to_owned())
        );
        assert!(TrustedProxies::none().is_empty());
    }

    #[test]
    fn keys() {
        assert_eq!(ClientIp(ip("203.0.113.9")).key(Some(64)), "ip:203.0.113.9");
        let v6 = ClientIp(ip("2001:db8:1:2:3:4:5:6"));
        assert_eq!(v6.key(None), "ip:2001:db8:1:2:3:4:5:6");
        assert_eq!(v6.key(Some(64)), "ip:2001:db8:1:2::/64");
        assert_eq!(v6.key(Some(200)), "ip:2001:db8:1:2:3:4:5:6");
        for key in [v6.key(None), v6.key(Some(48))] {
            assert!(authstore::validate_key(&key).is_ok(), "{key}");
        }
    }
}
