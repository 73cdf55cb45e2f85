//! A small HTTP(S) client for the remote validators: GET and form POST with a deadline and a response-size cap, over rustls with the webpki roots; it never follows redirects, and its errors name the URL without its credentials or query.

use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::error::{Error, Result, error_chain};

/// An answer: its status and its whole body.
#[derive(Debug)]
pub(crate) struct HttpResponse {
    /// The HTTP status code.
    pub(crate) status: u16,
    /// The body, at most the cap given to the request.
    pub(crate) body: Bytes,
}

/// A pooled HTTP/1.1 client for `http` and `https` URLs.
#[derive(Clone)]
pub(crate) struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client whose every request (connecting, sending, reading the whole
    /// body) must finish within `timeout`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a zero timeout; [`Error::Internal`] if
    /// TLS cannot be set up.
    pub(crate) fn new(timeout: Duration) -> Result<Self> {
        if timeout.is_zero() {
            return Err(Error::InvalidArgument("an HTTP timeout must be positive"));
        }
        let connector = HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| Error::internal("TLS set-up", e))?
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(8)
            .build(connector);
        Ok(Self { client, timeout })
    }

    /// `GET url`, accepting JSON; the body may be at most `max_body` bytes.
    pub(crate) async fn get(
        &self,
        url: &str,
        max_body: usize,
    ) -> std::result::Result<HttpResponse, String> {
        let request = Request::builder()
            .method(Method::GET)
            .uri(parse_uri(url)?)
            .header(ACCEPT, "application/json")
            .body(Full::new(Bytes::new()))
            .map_err(|_| format!("could not build a request to {}", shown_url(url)))?;
        self.send(url, request, max_body).await
    }

    /// `POST url` with an `application/x-www-form-urlencoded` body of
    /// `form` and the `Authorization` header value `authorization`.
    pub(crate) async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        authorization: &str,
        max_body: usize,
    ) -> std::result::Result<HttpResponse, String> {
        let body = {
            let mut body = url::form_urlencoded::Serializer::new(String::new());
            for (name, value) in form {
                body.append_pair(name, value);
            }
            body.finish()
        };
        let request = Request::builder()
            .method(Method::POST)
            .uri(parse_uri(url)?)
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(AUTHORIZATION, authorization)
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| format!("could not build a request to {}", shown_url(url)))?;
        self.send(url, request, max_body).await
    }

    async fn send(
        &self,
        url: &str,
        request: Request<Full<Bytes>>,
        max_body: usize,
    ) -> std::result::Result<HttpResponse, String> {
        let exchange = async {
            let response =
                self.client.request(request).await.map_err(|e| {
                    format!("could not reach {}: {}", shown_url(url), error_chain(&e))
                })?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), max_body)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        format!(
                            "the answer of {} is larger than {max_body} bytes",
                            shown_url(url)
                        )
                    } else {
                        format!("could not read the answer of {}: {e}", shown_url(url))
                    }
                })?
                .to_bytes();
            Ok(HttpResponse { status, body })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(answer) => answer,
            Err(_) => Err(format!(
                "{} did not answer within {:?}",
                shown_url(url),
                self.timeout
            )),
        }
    }
}

/// Whether `url` is an absolute `http` or `https` URL with a host.
pub(crate) fn is_http_url(url: &str) -> bool {
    url::Url::parse(url)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

fn parse_uri(url: &str) -> std::result::Result<Uri, String> {
    if !is_http_url(url) {
        return Err(format!("{} is not an http(s) URL", shown_url(url)));
    }
    url.parse::<Uri>()
        .map_err(|_| format!("{} is not a valid URI", shown_url(url)))
}

/// `url` for messages: scheme, host, port and path only (never a user,
/// password or query, which may carry secrets).
pub(crate) fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => match u.host_str() {
            Some(host) => {
                let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
                format!("{}://{host}{port}{}", u.scheme(), u.path())
            }
            None => format!("a {} URL", u.scheme()),
        },
        Err(_) => "an unparseable URL".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_urls_drop_credentials_and_queries() {
        assert_eq!(
            shown_url("https://user:pw@as.example:8443/introspect?key=s3cret#x"),
            "https://as.example:8443/introspect"
        );
        assert_eq!(shown_url("http://127.0.0.1/jwks"), "http://127.0.0.1/jwks");
        assert_eq!(shown_url("not a url"), "an unparseable URL");
    }

    #[test]
    fn only_http_urls_with_a_host_are_accepted() {
        assert!(is_http_url("https://as.example/jwks"));
        assert!(is_http_url("http://127.0.0.1:9/x"));
        assert!(!is_http_url("ftp://as.example/jwks"));
        assert!(!is_http_url("file:///etc/passwd"));
        assert!(!is_http_url("/relative"));
    }

    /// A server on 127.0.0.1 that answers every connection with `response`
    /// (raw HTTP), or never answers when it is `None`.
    async fn raw_server(response: Option<String>) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/doc", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let response = response.clone();
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = stream.read(&mut request).await;
                    match response {
                        Some(response) => {
                            let _ = stream.write_all(response.as_bytes()).await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                });
            }
        });
        url
    }

    #[tokio::test]
    async fn bodies_past_the_cap_are_refused_and_redirects_are_not_followed() {
        let client = HttpClient::new(Duration::from_secs(5)).unwrap();
        let body = "x".repeat(2000);
        let ok = format!("HTTP/1.1 200 OK\r\ncontent-length: 2000\r\n\r\n{body}");
        let url = raw_server(Some(ok)).await;
        assert_eq!(client.get(&url, 2000).await.unwrap().body.len(), 2000);
        let err = client.get(&url, 1000).await.unwrap_err();
        assert!(err.contains("larger than 1000 bytes"), "{err}");

        let moved =
            "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:1/x\r\ncontent-length: 0\r\n\r\n";
        let url = raw_server(Some(moved.to_owned())).await;
        let answer = client
            .post_form(&url, &[("token", "t")], "Basic x", 100)
            .await;
        assert_eq!(answer.unwrap().status, 302);
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out() {
        let client = HttpClient::new(Duration::from_millis(200)).unwrap();
        let url = raw_server(None).await;
        let err = client.get(&url, 1000).await.unwrap_err();
        assert!(err.contains("did not answer within"), "{err}");
    }

    #[tokio::test]
    async fn a_closed_port_is_an_error_naming_the_url() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let client = HttpClient::new(Duration::from_secs(5)).unwrap();
        let url = format!("http://127.0.0.1:{port}/jwks?secret=x");
        let err = client.get(&url, 1024).await.unwrap_err();
        assert!(
            err.starts_with(&format!("could not reach http://127.0.0.1:{port}/jwks")),
            "{err}"
        );
        assert!(!err.contains("secret"), "{err}");
    }
}
