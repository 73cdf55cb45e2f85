//! RFC 6750 §3 and RFC 9728 §5.1 challenges: the status, `WWW-Authenticate` header and JSON body that answer a refused request.

use serde_json::{Value, json};

use super::Rejection;

/// The answer to a refused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// 401, 403 or 503.
    pub status: u16,
    /// The `WWW-Authenticate` header value; empty for 503.
    pub www_authenticate: String,
    /// `{"error": …, "error_description": …}`.
    pub body: Value,
    /// Seconds for `Retry-After` (503 only).
    pub retry_after: Option<u64>,
}

impl Challenge {
    pub(super) fn new(rejection: &Rejection, metadata_url: &str, required: &[String]) -> Self {
        let bearer = |scope: &[String], error: Option<(&str, String)>| {
            let mut header = format!(r#"Bearer resource_metadata="{metadata_url}""#);
            if !scope.is_empty() {
                header.push_str(&format!(r#", scope="{}""#, scope.join(" ")));
            }
            if let Some((code, description)) = error {
                header.push_str(&format!(
                    r#", error="{code}", error_description="{}""#,
                    quoted(&description)
                ));
            }
            header
        };
        match rejection {
            Rejection::Missing => Self {
                status: 401,
                www_authenticate: bearer(required, None),
                body: json!({
                    "error": "invalid_token",
                    "error_description": "a bearer access token is required",
                }),
                retry_after: None,
            },
            Rejection::Invalid(reason) => {
                let description = reason.to_string();
                Self {
                    status: 401,
                    www_authenticate: bearer(
                        required,
                        Some(("invalid_token", description.clone())),
                    ),
                    body: json!({ "error": "invalid_token", "error_description": description }),
                    retry_after: None,
                }
            }
            Rejection::InsufficientScope { scope } => {
                let description = format!("this request needs the scopes: {}", scope.join(" "));
                Self {
                    status: 403,
                    www_authenticate: bearer(
                        scope,
                        Some(("insufficient_scope", description.clone())),
                    ),
                    body: json!({
                        "error": "insufficient_scope",
                        "error_description": description,
                        "scope": scope.join(" "),
                    }),
                    retry_after: None,
                }
            }
            Rejection::Unavailable(_) => Self {
                status: 503,
                www_authenticate: String::new(),
                body: json!({
                    "error": "temporarily_unavailable",
                    "error_description": "the access token cannot be checked right now",
                }),
                retry_after: Some(5),
            },
        }
    }
}

/// `text` safe inside a quoted-string: no `"` or `\`, printable ASCII only.
fn quoted(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            c if c.is_ascii_graphic() || c == ' ' => c,
            _ => '?',
        })
        .collect()
}
