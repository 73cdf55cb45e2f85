//! The client side of HTTP: one pooled hyper client over several base URLs (round-robin, as a load balancer spreads requests), a request-rate pacer, a browser's cookie jar, and page parsing.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, LOCATION, RETRY_AFTER, SET_COOKIE};
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Mutex;

/// Milliseconds since the Unix epoch (the driver script writes its store events in the same unit).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One answer: status, headers and body text.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl Reply {
    /// The `Location` header, if any.
    pub(crate) fn location(&self) -> Option<&str> {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok())
    }

    /// `Retry-After` in whole seconds, if present and numeric.
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        let text = self.headers.get(RETRY_AFTER)?.to_str().ok()?;
        text.trim().parse::<u64>().ok().map(Duration::from_secs)
    }

    /// A JSON body, if it is one.
    pub(crate) fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// The string field `name` of a JSON body.
    pub(crate) fn field(&self, name: &str) -> Option<String> {
        self.json()?.get(name)?.as_str().map(str::to_owned)
    }
}

/// A request to send (again, on a retry, to the next base URL).
#[derive(Debug, Clone)]
pub(crate) struct Req {
    pub(crate) method: Method,
    /// Path and query, starting with `/`.
    pub(crate) path: String,
    /// A form body (`application/x-www-form-urlencoded`).
    pub(crate) form: Option<String>,
    /// An `Authorization` header value.
    pub(crate) authorization: Option<String>,
    /// Sent as a browser page request (`Sec-Fetch-Site: same-origin`, cookies).
    pub(crate) browser: bool,
}

impl Req {
    pub(crate) fn get(path: impl Into<String>) -> Self {
        Self {
            method: Method::GET,
            path: path.into(),
            form: None,
            authorization: None,
            browser: true,
        }
    }

    pub(crate) fn form(path: &str, pairs: &[(&str, &str)]) -> Self {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        Self {
            method: Method::POST,
            path: path.to_owned(),
            form: Some(body),
            authorization: None,
            browser: false,
        }
    }

    pub(crate) fn page(mut self) -> Self {
        self.browser = true;
        self
    }

    pub(crate) fn basic(mut self, id: &str, secret: &str) -> Self {
        use base64::Engine as _;
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let pair = format!("{}:{}", enc(id), enc(secret));
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
        self.authorization = Some(format!("Basic {encoded}"));
        self
    }
}

/// Spaces requests `interval` apart over all workers (no pacing when `None`).
#[derive(Debug)]
struct Pacer {
    interval: Duration,
    next: Mutex<Instant>,
}

/// The HTTP client shared by every worker.
#[derive(Debug)]
pub(crate) struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    bases: Vec<String>,
    turn: AtomicUsize,
    pacer: Option<Pacer>,
    timeout: Duration,
}

impl Http {
    /// `rate`: requests per second over all workers, 0 for as fast as they go.
    pub(crate) fn new(bases: Vec<String>, rate: f64, timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(5))
            .build(connector);
        let pacer = (rate > 0.0).then(|| Pacer {
            interval: Duration::from_secs_f64(1.0 / rate),
            next: Mutex::new(Instant::now()),
        });
        Self {
            client,
            bases,
            turn: AtomicUsize::new(0),
            pacer,
            timeout,
        }
    }

    pub(crate) fn bases(&self) -> &[String] {
        &self.bases
    }

    /// Waits for the next request's slot in the target rate.
    pub(crate) async fn pace(&self) {
        let Some(pacer) = &self.pacer else { return };
        let slot = {
            let mut next = pacer.next.lock().await;
            let now = Instant::now();
            // A pacer that fell behind (everyone was waiting on answers)
            // does not make up for it with a burst.
            let slot = (*next).max(now);
            *next = slot + pacer.interval;
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }

    /// Sends `req` to the next base URL, with `cookies`.
    pub(crate) async fn send(&self, req: &Req, cookies: Option<&str>) -> Result<Reply, String> {
        let base = &self.bases[self.turn.fetch_add(1, Ordering::Relaxed) % self.bases.len()];
        self.send_to(base, req, cookies).await
    }

    /// Sends `req` to `base`, unpaced.
    pub(crate) async fn send_to(
        &self,
        base: &str,
        req: &Req,
        cookies: Option<&str>,
    ) -> Result<Reply, String> {
        let mut builder = Request::builder()
            .method(req.method.clone())
            .uri(format!("{base}{}", req.path));
        if req.browser {
            builder = builder.header("sec-fetch-site", "same-origin");
        }
        if let Some(c) = cookies.filter(|c| !c.is_empty()) {
            builder = builder.header(COOKIE, c);
        }
        if let Some(auth) = &req.authorization {
            builder = builder.header(AUTHORIZATION, auth);
        }
        if req.form.is_some() {
            builder = builder.header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        let body = Full::new(Bytes::from(req.form.clone().unwrap_or_default()));
        let request = builder
            .body(body)
            .map_err(|e| format!("bad request: {e}"))?;
        let exchange = async {
            let res = self
                .client
                .request(request)
                .await
                .map_err(|e| format!("{e:?}"))?;
            let (parts, body) = res.into_parts();
            let bytes = body
                .collect()
                .await
                .map_err(|e| format!("body: {e}"))?
                .to_bytes();
            Ok::<_, String>(Reply {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        }
    }
}

/// A browser's cookies for this server (its name → value).
#[derive(Debug, Default)]
pub(crate) struct Jar(BTreeMap<String, String>);

impl Jar {
    /// The `Cookie` header to send.
    pub(crate) fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Applies a response's `Set-Cookie` headers.
    pub(crate) fn update(&mut self, headers: &HeaderMap) {
        for value in headers.get_all(SET_COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            let mut parts = text.split(';');
            let Some((name, val)) = parts.next().and_then(|p| p.trim().split_once('=')) else {
                continue;
            };
            let expired = parts.any(|a| a.trim().eq_ignore_ascii_case("max-age=0"));
            if expired || val.is_empty() {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_owned(), val.to_owned());
            }
        }
    }
}

/// The hidden inputs of a page's form, in order, HTML-unescaped.
pub(crate) fn hidden_fields(html: &str) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find("type=\"hidden\" name=\"") {
        rest = &rest[at + "type=\"hidden\" name=\"".len()..];
        let Some(end) = rest.find('"') else { break };
        let name = rest[..end].to_owned();
        rest = &rest[end..];
        let Some(v) = rest.find("value=\"") else {
            break;
        };
        rest = &rest[v + "value=\"".len()..];
        let Some(end) = rest.find('"') else { break };
        fields.push((name, unescape(&rest[..end])));
        rest = &rest[end..];
    }
    fields
}

fn unescape(text: &str) -> String {
    text.replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}
