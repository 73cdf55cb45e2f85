//! Rendering a page: the templates (built in or the operator's), the brand every page is given, and the headers every page carries.

use axum::response::{Html, IntoResponse, Response};
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use http::{HeaderValue, StatusCode};
use minijinja::Environment;

use super::{PagesSettings, image_source};

/// The page templates and the brand, built once per server.
#[derive(Debug)]
pub(crate) struct Pages {
    env: Environment<'static>,
    brand: minijinja::Value,
    img_src: Option<String>,
}

impl Pages {
    /// The pages `settings` describe.
    ///
    /// # Errors
    /// A template that does not parse (the configuration checks this first).
    pub(crate) fn new(settings: &PagesSettings) -> Result<Self, String> {
        Ok(Self {
            env: super::environment(settings)?,
            brand: minijinja::context! {
                name => settings.product_name,
                logo => settings.logo_url,
                accent => settings.accent_color,
            },
            img_src: settings.logo_url.as_deref().and_then(image_source),
        })
    }

    /// Renders `template` with `context` and `brand`, and the headers every
    /// page carries: no caching, no framing, no scripts, no sniffing, no
    /// referrer, images only from the logo's origin, and forms that post
    /// only to this server (plus `form_target`, where a form's answer
    /// redirects).
    pub(crate) fn render_to(
        &self,
        status: StatusCode,
        template: &str,
        context: minijinja::Value,
        form_target: Option<&str>,
    ) -> Response {
        let context = minijinja::context! { brand => self.brand.clone(), ..context };
        let html = self
            .env
            .get_template(template)
            .and_then(|t| t.render(context));
        let mut response = match html {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(error = %e, template, "a page failed to render");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
            }
        };
        let mut form_action = String::from("'self'");
        if let Some(source) = form_target.and_then(csp_source) {
            form_action.push(' ');
            form_action.push_str(&source);
        }
        let img_src = self
            .img_src
            .as_deref()
            .map_or_else(String::new, |origin| format!(" img-src {origin};"));
        let csp = format!(
            "default-src 'none'; style-src 'unsafe-inline';{img_src} frame-ancestors 'none'; base-uri 'none'; form-action {form_action}"
        );
        let headers = response.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        if let Ok(csp) = HeaderValue::from_str(&csp) {
            headers.insert(CONTENT_SECURITY_POLICY, csp);
        }
        response
    }
}

/// The CSP source of a redirect URI's origin (`https://app.example:8443`,
/// or `com.example.app:` for a private-use scheme), if it can be written
/// as one safely. Browsers apply `form-action` to the redirects that
/// follow a form post too, and the consent form's answer is a redirect to
/// the client.
fn csp_source(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    let source = match url.scheme() {
        "http" | "https" => url.origin().ascii_serialization(),
        scheme => format!("{scheme}:"),
    };
    let safe = source
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+-.:/[]".contains(&b));
    (safe && source != "null").then_some(source)
}
