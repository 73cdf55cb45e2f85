//! Parsing the forwarding headers: `X-Forwarded-For` entries and RFC 7239 `Forwarded` elements (`for=` nodes, quoted IPv6, ports, obfuscated identifiers).

use std::net::{IpAddr, SocketAddr};

/// At most this many forwarding entries are examined (from the right).
pub(super) const MAX_HOPS: usize = 64;

/// One `X-Forwarded-For` entry: `203.0.113.9`, `203.0.113.9:443`,
/// `2001:db8::1` or `[2001:db8::1]:443`; anything else (`unknown`,
/// obfuscated identifiers) is `None`.
pub(super) fn parse_hop(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    entry
        .parse::<SocketAddr>()
        .ok()
        .map(|s| s.ip().to_canonical())
}

/// The `for=` addresses of one `Forwarded` header value, one per element,
/// left to right; `None` for an element that names no address. Empty
/// elements are skipped (RFC 9110 §5.6.1).
pub(super) fn forwarded_hops(value: &str) -> Vec<Option<IpAddr>> {
    split_unquoted(value, b',')
        .into_iter()
        .filter(|element| !element.trim().is_empty())
        .take(MAX_HOPS * 4)
        .map(forwarded_for)
        .collect()
}

/// The address of one `Forwarded` element's single `for=` parameter.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let mut node = None;
    for pair in split_unquoted(element, b';') {
        let pair = pair.trim();
        if pair.is_empty() {
            continue;
        }
        let (name, value) = pair.split_once('=')?;
        let value = forwarded_value(value.trim())?;
        if name.trim().eq_ignore_ascii_case("for") {
            if node.is_some() {
                // Two `for=` in one element: which one is meant is unknowable.
                return None;
            }
            node = Some(value);
        }
    }
    parse_node(&node?)
}

/// A parameter value: a token, or a quoted string with its escapes undone.
fn forwarded_value(raw: &str) -> Option<String> {
    let Some(quoted) = raw.strip_prefix('"') else {
        let token = !raw.is_empty()
            && raw
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"\"(),;=\\".contains(&b));
        return token.then(|| raw.to_owned());
    };
    let mut out = String::with_capacity(quoted.len());
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            // The closing quote must end the value.
            '"' => return chars.as_str().is_empty().then_some(out),
            c => out.push(c),
        }
    }
    None
}

/// An RFC 7239 node: `192.0.2.43`, `192.0.2.43:47011`, `[2001:db8::17]`,
/// `[2001:db8::17]:4711`, with a port that may be obfuscated (`:_p1`).
/// `unknown` and obfuscated identifiers (`_hidden`) name no address.
fn parse_node(node: &str) -> Option<IpAddr> {
    let (ip, port) = match node.strip_prefix('[') {
        Some(rest) => {
            let (v6, port) = rest.split_once(']')?;
            (IpAddr::V6(v6.parse().ok()?), port)
        }
        None => {
            let (v4, port) = node.find(':').map_or((node, ""), |i| node.split_at(i));
            (IpAddr::V4(v4.parse().ok()?), port)
        }
    };
    let port_ok = match port.strip_prefix(':') {
        None => port.is_empty(),
        Some(obfuscated) if obfuscated.starts_with('_') => {
            obfuscated.len() > 1
                && obfuscated[1..]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-_".contains(&b))
        }
        Some(number) => number.parse::<u16>().is_ok() && number.bytes().all(|b| b.is_ascii_digit()),
    };
    port_ok.then(|| ip.to_canonical())
}

/// `text` split at `separator` bytes outside quoted strings; an unclosed
/// quote runs to the end.
fn split_unquoted(text: &str, separator: u8) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, b) in text.bytes().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            quoted = !quoted;
        } else if b == separator && !quoted {
            parts.push(&text[start..i]);
            start = i + 1;
        }
    }
    parts.push(&text[start..]);
    parts
}
