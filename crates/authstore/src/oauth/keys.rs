//! Store keys of a grant and its tokens: each key of a grant carries the grant id as its hash tag, so that redeeming a code or rotating a refresh token is one [`Store::commit`](crate::Store::commit), on Redis Cluster too.
//!
//! A grant id is 44 base64url characters (33 random bytes); a code,
//! refresh token or opaque access token of the grant is `<grant id>.<43
//! random characters>`, and a JWT access token carries such a string as its
//! `jti`. Keys are `namespace:{<grant id>}…`, so all of them fall in one
//! Redis Cluster hash slot. Grants made before keys were tagged have
//! 43-character ids and 43-character tokens; their keys stay untagged
//! (`namespace:<grant id>`, `namespace:<sha256>`) and are still read.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::error::Result;
use crate::secret;

/// Random bytes in a grant id.
const GRANT_ID_BYTES: usize = 33;
/// Length of a grant id's text: 33 bytes in unpadded base64url.
const GRANT_ID_LEN: usize = 44;

fn is_base64url(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A fresh grant id (264 bits from the OS CSPRNG).
pub(crate) fn new_grant_id() -> Result<String> {
    let mut bytes = [0u8; GRANT_ID_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|e| crate::Error::internal("the OS random generator", e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Whether a grant's keys carry its id as their hash tag (a grant made
/// since keys were tagged).
pub(crate) fn is_tagged(grant_id: &str) -> bool {
    grant_id.len() == GRANT_ID_LEN && is_base64url(grant_id)
}

/// `namespace:{grant}` for a tagged grant, `namespace:grant` otherwise.
fn grant_scoped(namespace: &str, grant_id: &str) -> String {
    if is_tagged(grant_id) {
        format!("{namespace}:{{{grant_id}}}")
    } else {
        format!("{namespace}:{grant_id}")
    }
}

/// The grant record.
pub(crate) fn grant_key(grant_id: &str) -> String {
    grant_scoped("oauth-grant", grant_id)
}

/// The grant's refresh chain head.
pub(crate) fn head_key(grant_id: &str) -> String {
    grant_scoped("oauth-rt-head", grant_id)
}

/// The index listing every artefact of a grant.
pub(crate) fn grant_index(grant_id: &str) -> String {
    grant_scoped("oauth-grant-ix", grant_id)
}

/// The grant id in a grant key, tagged or not.
pub(crate) fn grant_id_of_key(key: &str) -> Option<&str> {
    let id = key.strip_prefix("oauth-grant:")?;
    Some(
        id.strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or(id),
    )
}

/// A fresh code or token of a grant: `<grant id>.<43 random characters>`
/// for a tagged grant, 43 random characters otherwise.
pub(crate) fn grant_token(grant_id: &str) -> Result<String> {
    let secret = secret::random_token()?;
    Ok(if is_tagged(grant_id) {
        format!("{grant_id}.{secret}")
    } else {
        secret
    })
}

/// A code or token of a tagged grant split into (grant id, secret), by
/// its length and the dot alone: it only places keys, and every entry
/// point checks a presented token with [`is_token_shaped`] first.
fn split_tagged(token: &str) -> Option<(&str, &str)> {
    if token.len() != GRANT_ID_LEN + 1 + secret::TOKEN_TEXT_LEN
        || token.as_bytes()[GRANT_ID_LEN] != b'.'
    {
        return None;
    }
    Some((&token[..GRANT_ID_LEN], &token[GRANT_ID_LEN + 1..]))
}

/// The tagged grant a code or opaque token names, if it has that shape.
pub(crate) fn token_grant(token: &str) -> Option<&str> {
    let (grant_id, secret) = split_tagged(token)?;
    (is_base64url(grant_id) && secret::is_token_shaped(secret)).then_some(grant_id)
}

/// Whether `token` has the shape of a code or opaque token: of a tagged
/// grant, or 43 random characters.
pub(crate) fn is_token_shaped(token: &str) -> bool {
    secret::is_token_shaped(token) || token_grant(token).is_some()
}

/// `namespace:{grant}<sha256 of the secret>` for a token of a tagged
/// grant (the grant id is in the key already), else
/// `namespace:<sha256 of the token>`.
fn token_key(namespace: &str, token: &str) -> String {
    match split_tagged(token) {
        Some((grant_id, secret)) => {
            format!("{namespace}:{{{grant_id}}}{}", secret::sha256_hex(secret))
        }
        None => format!("{namespace}:{}", secret::sha256_hex(token)),
    }
}

/// An authorization code.
pub(crate) fn code_key(code: &str) -> String {
    token_key("oauth-code", code)
}

/// A refresh token.
pub(crate) fn refresh_key(token: &str) -> String {
    token_key("oauth-rt", token)
}

/// An access token, opaque or JWT (whose `jti` names its grant).
pub(crate) fn access_key(token: &str) -> String {
    if split_tagged(token).is_some() {
        return token_key("oauth-at", token);
    }
    let hash = secret::sha256_hex(token);
    match jwt_id(token).as_deref().and_then(token_grant) {
        Some(grant_id) => format!("oauth-at:{{{grant_id}}}{hash}"),
        None => format!("oauth-at:{hash}"),
    }
}

/// A JWT's `jti`, read without verifying the signature: it only places
/// the record's key, and the record found there is what is trusted.
fn jwt_id(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Claims {
        jti: Option<String>,
    }
    let mut parts = token.split('.');
    let (_, payload, _, None) = (parts.next()?, parts.next()?, parts.next()?, parts.next()) else {
        return None;
    };
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<Claims>(&bytes).ok()?.jti
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tagged_grants_keys_share_its_hash_tag() {
        let grant = new_grant_id().unwrap();
        assert!(is_tagged(&grant));
        let tag = format!("{{{grant}}}");
        let code = grant_token(&grant).unwrap();
        assert_eq!(token_grant(&code), Some(grant.as_str()));
        assert!(is_token_shaped(&code));
        for key in [
            grant_key(&grant),
            head_key(&grant),
            grant_index(&grant),
            code_key(&code),
            refresh_key(&code),
            access_key(&code),
        ] {
            assert!(key.contains(&tag), "{key}");
            assert!(
                !key.contains(code.rsplit('.').next().unwrap()),
                "no secret in {key}"
            );
        }
        let secret = code.rsplit('.').next().unwrap();
        assert_eq!(
            code_key(&code),
            format!("oauth-code:{tag}{}", secret::sha256_hex(secret))
        );
        assert_eq!(grant_id_of_key(&grant_key(&grant)), Some(grant.as_str()));
    }

    #[test]
    fn earlier_grants_and_tokens_keep_untagged_keys() {
        let grant = secret::random_token().unwrap();
        assert!(!is_tagged(&grant));
        assert_eq!(grant_key(&grant), format!("oauth-grant:{grant}"));
        assert_eq!(grant_id_of_key(&grant_key(&grant)), Some(grant.as_str()));
        let token = grant_token(&grant).unwrap();
        assert!(secret::is_token_shaped(&token) && token_grant(&token).is_none());
        assert_eq!(
            access_key(&token),
            format!("oauth-at:{}", secret::sha256_hex(&token))
        );
        assert!(!is_token_shaped("short.token"));
        assert!(!is_token_shaped(&format!(
            "{}.{}",
            "a".repeat(44),
            "b".repeat(42)
        )));
    }

    #[test]
    fn a_jwt_is_placed_by_its_jti() {
        let grant = new_grant_id().unwrap();
        let jti = grant_token(&grant).unwrap();
        let payload = URL_SAFE_NO_PAD.encode(format!(r#"{{"jti":"{jti}","sub":"u"}}"#));
        let jwt = format!("eyJhbGciOiJFZERTQSJ9.{payload}.c2ln");
        assert_eq!(
            access_key(&jwt),
            format!("oauth-at:{{{grant}}}{}", secret::sha256_hex(&jwt))
        );
        let untagged = format!("eyJhbGciOiJFZERTQSJ9.{}.c2ln", URL_SAFE_NO_PAD.encode("{}"));
        assert_eq!(
            access_key(&untagged),
            format!("oauth-at:{}", secret::sha256_hex(&untagged))
        );
    }
}
