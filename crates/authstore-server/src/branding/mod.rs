//! How the pages look to users: the operator's product name, logo and accent colour, and page templates overridden from a directory, checked when the configuration is read.

use std::path::{Path, PathBuf};

use minijinja::Environment;
use serde::Deserialize;

mod render;

pub(crate) use render::Pages;

/// The page templates, by name, as built in.
pub const BUILT_IN: [(&str, &str); 5] = [
    ("base.html", include_str!("../pages/templates/base.html")),
    ("login.html", include_str!("../pages/templates/login.html")),
    (
        "consent.html",
        include_str!("../pages/templates/consent.html"),
    ),
    ("error.html", include_str!("../pages/templates/error.html")),
    (
        "account.html",
        include_str!("../pages/templates/account.html"),
    ),
];

/// The name the pages show when none is configured.
pub const DEFAULT_PRODUCT_NAME: &str = "authstore";

/// The accent colour when none is configured.
pub const DEFAULT_ACCENT: &str = "#2457c5";

/// Largest template file read from the templates directory.
const MAX_TEMPLATE_BYTES: u64 = 256 * 1024;

/// `[pages]` in the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagesSection {
    /// A directory whose `base.html`, `login.html`, `consent.html`,
    /// `error.html` and `account.html` replace the built-in ones.
    pub templates: Option<PathBuf>,
    /// The name shown in titles and headers (default "authstore").
    pub product_name: Option<String>,
    /// An https URL of a logo image shown in the header.
    pub logo_url: Option<String>,
    /// The colour of buttons and links: `#rgb` or `#rrggbb`.
    pub accent_color: Option<String>,
}

/// What the pages look like, resolved and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagesSettings {
    /// The name shown in titles and headers.
    pub product_name: String,
    /// A logo image (its origin is allowed as an image source in the pages' CSP).
    pub logo_url: Option<String>,
    /// `#rgb` or `#rrggbb`.
    pub accent_color: String,
    /// Templates that replace built-in ones: name and source.
    pub templates: Vec<(String, String)>,
}

impl Default for PagesSettings {
    fn default() -> Self {
        Self {
            product_name: DEFAULT_PRODUCT_NAME.to_owned(),
            logo_url: None,
            accent_color: DEFAULT_ACCENT.to_owned(),
            templates: Vec::new(),
        }
    }
}

impl PagesSection {
    /// Checks every value and reads the templates directory.
    ///
    /// # Errors
    /// What is wrong, naming the key or the file.
    pub fn resolve(&self, warnings: &mut Vec<String>) -> Result<PagesSettings, String> {
        let mut out = PagesSettings::default();
        if let Some(name) = &self.product_name {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 60 || name.chars().any(char::is_control) {
                return Err(
                    "pages.product_name must be 1 to 60 characters, without control characters"
                        .into(),
                );
            }
            name.clone_into(&mut out.product_name);
        }
        if let Some(url) = &self.logo_url {
            if image_source(url).is_none() {
                return Err(format!(
                    "pages.logo_url {url:?}: expected an https URL (or http on a loopback host) without credentials"
                ));
            }
            out.logo_url = Some(url.clone());
        }
        if let Some(colour) = &self.accent_color {
            let hex = colour.strip_prefix('#').unwrap_or("");
            if !matches!(hex.len(), 3 | 6) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "pages.accent_color {colour:?}: expected #rgb or #rrggbb"
                ));
            }
            colour.clone_into(&mut out.accent_color);
        }
        if let Some(dir) = &self.templates {
            out.templates = read_templates(dir)?;
            if out.templates.is_empty() {
                warnings.push(format!(
                    "pages.templates {}: none of {} is there; the built-in pages are used",
                    dir.display(),
                    BUILT_IN.map(|(name, _)| name).join(", ")
                ));
            }
        }
        environment(&out)?;
        Ok(out)
    }
}

/// The templates of `dir` that replace built-in ones.
fn read_templates(dir: &Path) -> Result<Vec<(String, String)>, String> {
    if !dir.is_dir() {
        return Err(format!(
            "pages.templates {}: not a directory",
            dir.display()
        ));
    }
    let mut found = Vec::new();
    for (name, _) in BUILT_IN {
        let path = dir.join(name);
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.len() > MAX_TEMPLATE_BYTES {
            return Err(format!("{}: larger than 256 KiB", path.display()));
        }
        let source = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        found.push((name.to_owned(), source));
    }
    Ok(found)
}

/// The templates of `pages`: the built-in ones with the overrides in
/// place. HTML escaping is on for every template (their names end in
/// `.html`), overridden or not.
///
/// # Errors
/// A template that does not parse, with minijinja's message.
pub fn environment(pages: &PagesSettings) -> Result<Environment<'static>, String> {
    let mut env = Environment::new();
    for (name, source) in BUILT_IN {
        let source = pages
            .templates
            .iter()
            .find(|(n, _)| n == name)
            .map_or_else(|| source.to_owned(), |(_, s)| s.clone());
        env.add_template_owned(name, source)
            .map_err(|e| format!("page template {name}: {e}"))?;
    }
    Ok(env)
}

/// The CSP source of an image URL (`https://cdn.example`), if it is one
/// pages may show: https, or http on a loopback host, without credentials.
pub fn image_source(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let loopback = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    let allowed = parsed.scheme() == "https" || (parsed.scheme() == "http" && loopback);
    if !allowed || !parsed.username().is_empty() || parsed.password().is_some() || url.len() > 2048
    {
        return None;
    }
    let origin = parsed.origin().ascii_serialization();
    origin
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+-.:/[]".contains(&b))
        .then_some(origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(f: impl FnOnce(&mut PagesSection)) -> PagesSection {
        let mut s = PagesSection::default();
        f(&mut s);
        s
    }

    #[test]
    fn values_are_checked() {
        let ok = section(|s| {
            s.product_name = Some(" Acme ID ".into());
            s.logo_url = Some("https://cdn.acme.example/logo.svg".into());
            s.accent_color = Some("#0a7".into());
        })
        .resolve(&mut Vec::new())
        .unwrap();
        assert_eq!(ok.product_name, "Acme ID");
        assert_eq!(ok.accent_color, "#0a7");
        for bad in [
            section(|s| s.product_name = Some(" ".into())),
            section(|s| s.product_name = Some("a\nb".into())),
            section(|s| s.logo_url = Some("http://cdn.example/logo.png".into())),
            section(|s| s.logo_url = Some("javascript:alert(1)".into())),
            section(|s| s.logo_url = Some("https://u:p@cdn.example/l.png".into())),
            section(|s| s.accent_color = Some("red".into())),
            section(|s| s.accent_color = Some("#12345g".into())),
            section(|s| s.accent_color = Some("#fff;}body{display:none".into())),
        ] {
            assert!(bad.resolve(&mut Vec::new()).is_err(), "{bad:?}");
        }
        assert_eq!(
            image_source("http://127.0.0.1:9000/logo.png").as_deref(),
            Some("http://127.0.0.1:9000")
        );
    }

    #[test]
    fn a_template_directory_replaces_what_it_has_and_must_parse() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("error.html"), "<p>{{ message }}</p>").unwrap();
        std::fs::write(dir.path().join("other.html"), "ignored").unwrap();
        let with = |d: &Path| section(|s| s.templates = Some(d.to_owned()));
        let pages = with(dir.path()).resolve(&mut Vec::new()).unwrap();
        assert_eq!(pages.templates.len(), 1);
        let env = environment(&pages).unwrap();
        let html = env
            .get_template("error.html")
            .unwrap()
            .render(minijinja::context! { message => "<script>x</script>" })
            .unwrap();
        assert_eq!(
            html, "<p>&lt;script&gt;x&lt;&#x2f;script&gt;</p>",
            "escaped"
        );
        std::fs::write(dir.path().join("login.html"), "{% if %}").unwrap();
        let err = with(dir.path()).resolve(&mut Vec::new()).unwrap_err();
        assert!(err.contains("login.html"), "{err}");
        let empty = tempfile::tempdir().unwrap();
        let mut warnings = Vec::new();
        with(empty.path()).resolve(&mut warnings).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(
            with(&empty.path().join("missing"))
                .resolve(&mut Vec::new())
                .is_err()
        );
    }
}
