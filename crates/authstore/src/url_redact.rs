//! [`redact_url`]: a store URL with its password hidden, for logs and errors.

/// `url` with any password replaced by `***`, for logs and errors.
///
/// ```
/// assert_eq!(
///     authstore::redact_url("redis://app:hunter2@cache:6379/0"),
///     "redis://app:***@cache:6379/0"
/// );
/// ```
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_owned(),
        // Unparseable: hide everything between "://" and "@" to be safe.
        Err(_) => match (url.find("://"), url.rfind('@')) {
            (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
            _ => url.to_owned(),
        },
    }
}
