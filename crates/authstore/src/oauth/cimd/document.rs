//! A fetched client metadata document turned into a public [`Client`]: JSON with the URL as `client_id`, valid redirect URIs, the code flow, no secret and no authentication method but `none`.

use serde_json::{Map, Value};

use super::{DocumentRefusal, DocumentUrl};
use crate::oauth::client::is_scope_token;
use crate::oauth::redirect_uri::validate_redirect_uri;
use crate::oauth::{
    AuthMethod, Client, ClientOrigin, GrantType, OAuthError, id_token_signed_response_alg,
};

/// Largest accepted document, in bytes (5 KiB); reading stops past it.
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024;

/// At most this many redirect URIs.
const MAX_REDIRECT_URIS: usize = 20;

fn invalid(why: impl Into<String>) -> DocumentRefusal {
    DocumentRefusal::Invalid(why.into())
}

/// A member that must be a string when present.
fn string<'a>(doc: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, DocumentRefusal> {
    match doc.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(format!(
            "the client metadata document's {name} must be a string"
        ))),
    }
}

/// A member that must be an array of strings when present.
fn strings<'a>(
    doc: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<Vec<&'a str>>, DocumentRefusal> {
    let wrong = || {
        invalid(format!(
            "the client metadata document's {name} must be an array of strings"
        ))
    };
    match doc.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().ok_or_else(wrong))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(wrong()),
    }
}

/// `text` cut to `max` characters, for quoting untrusted values in descriptions.
fn quoted(text: &str, max: usize) -> String {
    let cut: String = text.chars().take(max).collect();
    format!("{cut:?}")
}

/// Parses `body`, fetched from `url`, into a public client.
///
/// `allowed_scopes`: the scopes such a client may request (`None`: any the
/// document names). A document's `scope` is cut down to them; without one
/// the client may request all of them.
///
/// # Errors
/// [`DocumentRefusal::NotJson`] and [`DocumentRefusal::Invalid`], each naming the problem.
pub fn parse_document(
    url: &DocumentUrl,
    body: &[u8],
    allowed_scopes: Option<&[String]>,
    now_secs: u64,
) -> Result<Client, DocumentRefusal> {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Err(DocumentRefusal::NotJson);
    };
    let Value::Object(doc) = value else {
        return Err(invalid("the client metadata document is not a JSON object"));
    };
    match string(&doc, "client_id")? {
        None => return Err(invalid("the client metadata document has no client_id")),
        Some(id) if id != url.as_str() => {
            return Err(invalid(
                "the client metadata document's client_id does not match its URL",
            ));
        }
        Some(_) => {}
    }
    for secret in ["client_secret", "client_secret_expires_at"] {
        if doc.contains_key(secret) {
            return Err(invalid(format!(
                "the client metadata document must not contain {secret}"
            )));
        }
    }
    match string(&doc, "token_endpoint_auth_method")? {
        None | Some("none") => {}
        Some(other) => {
            return Err(invalid(format!(
                "token_endpoint_auth_method {} is not accepted: a client identified by a metadata document is a public client here (use \"none\")",
                quoted(other, 64)
            )));
        }
    }
    let redirect_uris = match strings(&doc, "redirect_uris")? {
        Some(uris) if !uris.is_empty() => uris,
        _ => {
            return Err(invalid("the client metadata document has no redirect_uris"));
        }
    };
    if redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(invalid(format!(
            "the client metadata document has more than {MAX_REDIRECT_URIS} redirect_uris"
        )));
    }
    for uri in &redirect_uris {
        if let Err(OAuthError::InvalidRedirectUri(why)) = validate_redirect_uri(uri) {
            return Err(invalid(format!(
                "the client metadata document's redirect URI {why}"
            )));
        }
    }
    if let Some(types) = strings(&doc, "response_types")?
        && !types.contains(&"code")
    {
        return Err(invalid(
            "the client metadata document's response_types must include code",
        ));
    }
    let declared = strings(&doc, "grant_types")?.unwrap_or_else(|| vec!["authorization_code"]);
    let mut grant_types = Vec::new();
    for name in declared {
        let grant = match name {
            "authorization_code" => GrantType::AuthorizationCode,
            "refresh_token" => GrantType::RefreshToken,
            // Other grants (client_credentials needs a secret) are not
            // available to these clients; the rest is ignored.
            _ => continue,
        };
        if !grant_types.contains(&grant) {
            grant_types.push(grant);
        }
    }
    if !grant_types.contains(&GrantType::AuthorizationCode) {
        return Err(invalid(
            "the client metadata document's grant_types must include authorization_code",
        ));
    }
    let name = match string(&doc, "client_name")?.map(str::trim) {
        Some(name) if name.len() > 200 => {
            return Err(invalid(
                "the client metadata document's client_name is longer than 200 bytes",
            ));
        }
        Some(name) if name.chars().any(char::is_control) => {
            return Err(invalid(
                "the client metadata document's client_name contains control characters",
            ));
        }
        Some(name) if !name.is_empty() => name.to_owned(),
        _ => url.host_str().to_owned(),
    };
    // Displayed by nothing yet, but typed per RFC 7591 when present.
    string(&doc, "client_uri")?;
    string(&doc, "logo_uri")?;
    let declared_scope: Option<Vec<&str>> =
        string(&doc, "scope")?.map(|s| s.split(' ').filter(|p| !p.is_empty()).collect());
    if let Some(bad) = declared_scope.iter().flatten().find(|s| !is_scope_token(s)) {
        return Err(invalid(format!(
            "the client metadata document's scope {} is not a valid scope",
            quoted(bad, 64)
        )));
    }
    let scopes: Vec<String> = match (declared_scope, allowed_scopes) {
        (Some(declared), Some(allowed)) => allowed
            .iter()
            .filter(|s| declared.contains(&s.as_str()))
            .cloned()
            .collect(),
        (Some(declared), None) => declared.into_iter().map(str::to_owned).collect(),
        (None, Some(allowed)) => allowed.to_vec(),
        (None, None) => Vec::new(),
    };
    let id_token_alg = string(&doc, "id_token_signed_response_alg")?
        .map(|alg| {
            id_token_signed_response_alg(alg).map_err(|_| {
                invalid(format!(
                    "the client metadata document's id_token_signed_response_alg {} is not supported: use \"RS256\", \"ES256\" or \"EdDSA\"",
                    quoted(alg, 32)
                ))
            })
        })
        .transpose()?;
    Ok(Client {
        client_id: url.as_str().to_owned(),
        name,
        secret_hash: None,
        redirect_uris: redirect_uris.into_iter().map(str::to_owned).collect(),
        scopes,
        grant_types,
        auth_method: AuthMethod::None,
        created_at: now_secs,
        secret_expires_at: None,
        origin: ClientOrigin::MetadataDocument,
        lifetime_secs: None,
        id_token_alg,
        expires_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://app.example/client.json";

    fn parse(doc: &str) -> Result<Client, DocumentRefusal> {
        let url = DocumentUrl::parse(URL, false).unwrap();
        let allowed = ["read".to_owned(), "write".to_owned()];
        parse_document(&url, doc.as_bytes(), Some(&allowed), 7)
    }

    fn refusal(doc: &str) -> String {
        parse(doc).unwrap_err().to_string()
    }

    #[test]
    fn a_valid_document_makes_a_public_unverified_client() {
        let client = parse(&format!(
            r#"{{"client_id":"{URL}","client_name":" Example ","redirect_uris":["https://app.example/cb","http://127.0.0.1:3000/cb"],
               "grant_types":["authorization_code","refresh_token","urn:x"],"response_types":["code"],
               "token_endpoint_auth_method":"none","scope":"read admin","client_uri":"https://app.example","extra":1}}"#
        ))
        .unwrap();
        assert_eq!(client.client_id, URL);
        assert_eq!(client.name, "Example");
        assert!(!client.is_confidential());
        assert_eq!(client.auth_method, AuthMethod::None);
        assert_eq!(client.origin, ClientOrigin::MetadataDocument);
        assert_eq!(
            client.grant_types,
            [GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
        assert_eq!(client.scopes, ["read"], "cut down to the allowed scopes");
        assert_eq!(client.created_at, 7);
        // Redirect URIs match exactly: no loopback port leeway.
        assert!(client.accepts_redirect("http://127.0.0.1:3000/cb"));
        assert!(!client.accepts_redirect("http://127.0.0.1:3001/cb"));
        assert!(client.accepts_redirect("https://app.example/cb"));
    }

    #[test]
    fn defaults_follow_rfc_7591() {
        let client = parse(&format!(
            r#"{{"client_id":"{URL}","redirect_uris":["https://app.example/cb"]}}"#
        ))
        .unwrap();
        assert_eq!(client.name, "app.example", "the host stands in for a name");
        assert_eq!(client.grant_types, [GrantType::AuthorizationCode]);
        assert_eq!(client.scopes, ["read", "write"]);
        assert_eq!(client.id_token_alg, None, "the server's ID-token algorithm");
    }

    #[test]
    fn the_id_token_alg_is_taken_from_the_document() {
        let with = |alg: &str| {
            parse(&format!(
                r#"{{"client_id":"{URL}","redirect_uris":["https://app.example/cb"],"id_token_signed_response_alg":{alg}}}"#
            ))
        };
        assert_eq!(
            with("\"ES256\"").unwrap().id_token_alg,
            Some(crate::oauth::SigningAlg::ES256)
        );
        assert_eq!(
            with("\"EdDSA\"").unwrap().id_token_alg,
            Some(crate::oauth::SigningAlg::EdDSA)
        );
        for bad in ["\"none\"", "\"HS256\"", "\"rs256\""] {
            let why = with(bad).unwrap_err().to_string();
            assert!(
                why.contains("id_token_signed_response_alg") && why.contains("not supported"),
                "{bad}: {why}"
            );
        }
        let why = with("1").unwrap_err().to_string();
        assert!(
            why.contains("id_token_signed_response_alg must be a string"),
            "{why}"
        );
    }

    #[test]
    fn bad_documents_are_refused_with_the_reason() {
        let ok_uris = r#""redirect_uris":["https://app.example/cb"]"#;
        let cases = [
            ("<html>".to_owned(), "not JSON"),
            ("[1]".to_owned(), "not a JSON object"),
            (format!("{{{ok_uris}}}"), "has no client_id"),
            (
                format!(r#"{{"client_id":"https://app.example/other.json",{ok_uris}}}"#),
                "client_id does not match its URL",
            ),
            (
                format!(r#"{{"client_id":"{URL}/",{ok_uris}}}"#),
                "client_id does not match its URL",
            ),
            (
                format!(r#"{{"client_id":"{URL}","client_secret":"s",{ok_uris}}}"#),
                "must not contain client_secret",
            ),
            (
                format!(
                    r#"{{"client_id":"{URL}","token_endpoint_auth_method":"client_secret_basic",{ok_uris}}}"#
                ),
                "public client",
            ),
            (
                format!(
                    r#"{{"client_id":"{URL}","token_endpoint_auth_method":"private_key_jwt",{ok_uris}}}"#
                ),
                "\"private_key_jwt\" is not accepted",
            ),
            (format!(r#"{{"client_id":"{URL}"}}"#), "no redirect_uris"),
            (
                format!(r#"{{"client_id":"{URL}","redirect_uris":[]}}"#),
                "no redirect_uris",
            ),
            (
                format!(r#"{{"client_id":"{URL}","redirect_uris":"https://app.example/cb"}}"#),
                "redirect_uris must be an array of strings",
            ),
            (
                format!(r#"{{"client_id":"{URL}","redirect_uris":["http://app.example/cb"]}}"#),
                "redirect URI \"http://app.example/cb\"",
            ),
            (
                format!(r#"{{"client_id":"{URL}","response_types":["token"],{ok_uris}}}"#),
                "response_types must include code",
            ),
            (
                format!(
                    r#"{{"client_id":"{URL}","grant_types":["client_credentials"],{ok_uris}}}"#
                ),
                "grant_types must include authorization_code",
            ),
            (
                format!(r#"{{"client_id":"{URL}","client_name":5,{ok_uris}}}"#),
                "client_name must be a string",
            ),
            (
                format!(r#"{{"client_id":"{URL}","scope":"a\"b",{ok_uris}}}"#),
                "not a valid scope",
            ),
        ];
        for (doc, expected) in cases {
            let why = refusal(&doc);
            assert!(why.contains(expected), "{doc}: {why}");
        }
    }
}
