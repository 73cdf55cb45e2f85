//! The OpenID Connect parameters of `/authorize`: `nonce`, `prompt` (`none`, `login`, `consent`) and `max_age`, and whether they call for a fresh sign-in.

use std::collections::BTreeMap;

/// The `prompt` values of a request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Prompt {
    /// No page at all: fail with `login_required` or `consent_required` instead.
    pub(super) none: bool,
    /// Sign in again, even with a session.
    pub(super) login: bool,
    /// Show the consent page, even with a remembered consent.
    pub(super) consent: bool,
}

/// A request's OpenID Connect parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct OidcParams {
    /// Echoed in the ID token.
    pub(super) nonce: Option<String>,
    pub(super) prompt: Prompt,
    /// The longest time since the user signed in, in seconds.
    pub(super) max_age: Option<u64>,
}

impl OidcParams {
    /// Reads `nonce`, `prompt` and `max_age`; the error is an
    /// `invalid_request` description.
    pub(super) fn parse(params: &BTreeMap<String, String>) -> Result<Self, &'static str> {
        let nonce = params.get("nonce").cloned();
        if let Some(nonce) = &nonce
            && authstore::oauth::check_nonce(nonce).is_err()
        {
            return Err("nonce must be 1 to 512 printable ASCII characters");
        }
        let mut prompt = Prompt::default();
        if let Some(value) = params.get("prompt") {
            for word in value.split(' ').filter(|w| !w.is_empty()) {
                match word {
                    "none" => prompt.none = true,
                    "login" => prompt.login = true,
                    "consent" => prompt.consent = true,
                    _ => return Err("prompt must be none, login or consent"),
                }
            }
            if prompt.none && (prompt.login || prompt.consent) {
                return Err("prompt=none cannot be combined with other values");
            }
        }
        let max_age = match params.get("max_age") {
            None => None,
            Some(v) if !v.is_empty() && v.len() <= 10 && v.bytes().all(|b| b.is_ascii_digit()) => {
                Some(
                    v.parse()
                        .map_err(|_| "max_age must be a number of seconds")?,
                )
            }
            Some(_) => return Err("max_age must be a number of seconds"),
        };
        Ok(Self {
            nonce,
            prompt,
            max_age,
        })
    }

    /// Whether the user must sign in (again) before the request goes on:
    /// no session user, `prompt=login`, or a sign-in older than `max_age`
    /// (or of unknown time) at `now` (unix seconds). `max_age=0` always asks.
    pub(super) fn needs_sign_in(&self, signed_in: bool, auth_time: Option<u64>, now: u64) -> bool {
        if !signed_in || self.prompt.login {
            return true;
        }
        match (self.max_age, auth_time) {
            (None, _) => false,
            (Some(0), _) | (Some(_), None) => true,
            (Some(max_age), Some(at)) => now.saturating_sub(at) > max_age,
        }
    }
}

/// Where the sign-in page sends the browser afterwards: the same request
/// under the issuer's path `base`, without what the sign-in just satisfied
/// (`prompt=login`, `max_age`), so that it does not ask again.
pub(super) fn after_login(base: &str, params: &BTreeMap<String, String>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in params {
        match key.as_str() {
            "max_age" => {}
            "prompt" => {
                let rest: Vec<&str> = value
                    .split(' ')
                    .filter(|w| !w.is_empty() && *w != "login")
                    .collect();
                if !rest.is_empty() {
                    query.append_pair(key, &rest.join(" "));
                }
            }
            _ => {
                query.append_pair(key, value);
            }
        }
    }
    format!("{base}/authorize?{}", query.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn prompt_values() {
        let p = OidcParams::parse(&params(&[("prompt", "login consent")])).unwrap();
        assert!(p.prompt.login && p.prompt.consent && !p.prompt.none);
        assert!(
            OidcParams::parse(&params(&[("prompt", "none")]))
                .unwrap()
                .prompt
                .none
        );
        assert!(OidcParams::parse(&params(&[("prompt", "none login")])).is_err());
        assert!(OidcParams::parse(&params(&[("prompt", "select_account")])).is_err());
        assert!(OidcParams::parse(&params(&[("max_age", "-1")])).is_err());
        assert!(OidcParams::parse(&params(&[("max_age", "")])).is_err());
        assert!(OidcParams::parse(&params(&[("nonce", "a\u{7f}")])).is_err());
    }

    #[test]
    fn sign_in_is_needed_when_the_session_is_too_old() {
        let p = |max_age| OidcParams {
            max_age,
            ..OidcParams::default()
        };
        assert!(p(None).needs_sign_in(false, None, 100));
        assert!(!p(None).needs_sign_in(true, None, 100));
        assert!(!p(Some(60)).needs_sign_in(true, Some(40), 100));
        assert!(p(Some(59)).needs_sign_in(true, Some(40), 100));
        assert!(p(Some(60)).needs_sign_in(true, None, 100));
        assert!(p(Some(0)).needs_sign_in(true, Some(100), 100));
    }

    #[test]
    fn after_login_drops_what_the_sign_in_satisfies() {
        let url = after_login(
            "/t",
            &params(&[
                ("client_id", "c"),
                ("prompt", "login consent"),
                ("max_age", "0"),
            ]),
        );
        assert_eq!(url, "/t/authorize?client_id=c&prompt=consent");
        let url = after_login("", &params(&[("prompt", "login")]));
        assert_eq!(url, "/authorize?");
    }
}
