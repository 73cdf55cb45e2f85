//! Client ID Metadata Documents over HTTP: a URL `client_id` is resolved by fetching its document from a local server (development `allow_loopback`; over https with a private CA given as extra roots), shown as unverified with its host on the consent page, and completes the code flow with PKCE; every refusal (client_id mismatch, private or loopback target, oversized, slow, non-JSON, redirect, a redirect URI the document does not list) names its reason and error code, caches nothing, and a refused target is never connected to; a document is cached as its headers say within min_cache and max_cache.

mod cimd_support;
mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use authstore::Clock;
use authstore::oauth::cimd::{ResolveError, cache_key};
use cimd_support::{
    DAY, DocServer, OTHER_REDIRECT, REDIRECT, TestPki, VERIFIER, fixture, fixture_cimd,
    fixture_with, query_of, unescape,
};
use common::{Browser, hidden};
use http::header::LOCATION;

#[tokio::test]
async fn a_document_client_signs_in_exchanges_its_code_and_refreshes() {
    let f = fixture(|_| {}).await;
    let url = f.docs.url("/good.json");

    let metadata = f.server_metadata().await;
    assert_eq!(metadata["client_id_metadata_document_supported"], true);

    // Sign in, then the consent page.
    let mut browser = Browser::new(&f.base);
    let login = browser.get(&f.authorize_url(&url, REDIRECT)).await;
    assert_eq!(login.status(), 200, "{}", login.body());
    let res = browser
        .post_form(
            &format!("{}/login", f.base),
            &[
                ("_csrf", &hidden(login.body(), "_csrf")),
                ("return_to", &hidden(login.body(), "return_to")),
                ("username", common::USER),
                ("password", common::PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), 303, "{}", res.body());
    let next = res.headers()[LOCATION].to_str().unwrap().to_owned();
    let consent = browser.get(&format!("{}{next}", f.base)).await;
    let page = unescape(consent.body());
    assert!(page.contains("id=\"consent\""), "{page}");
    assert!(page.contains("Doc App"), "{page}");
    assert!(
        page.contains("id=\"unverified\""),
        "marked unverified: {page}"
    );
    let host = format!("127.0.0.1:{}", f.docs.port());
    assert!(
        page.contains(&format!("<code id=\"document-host\">{host}</code>")),
        "the document's host is shown: {page}"
    );
    assert!(
        !page.contains("id=\"remember\""),
        "a public client's consent is never remembered"
    );

    // Approve: a code comes back to the document's redirect URI.
    let res = browser.approve(consent.body(), &[]).await;
    assert_eq!(res.status(), 303, "{}", res.body());
    let location = res.headers()[LOCATION].to_str().unwrap().to_owned();
    assert!(location.starts_with(REDIRECT), "{location}");
    let params = query_of(&location);
    assert_eq!(params["state"], "s-1");

    // The code exchange, with PKCE, as a public client (no secret).
    let (status, tokens) = f.redeem(&url, &params["code"]).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["scope"], "read");
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    let info = f
        .state
        .oauth()
        .introspect(tokens["access_token"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.client_id, url);

    // One fetch served every step; the cache lives as max-age=600 says.
    assert_eq!(f.docs.requests_for("/good.json"), 1);
    assert_eq!(f.state.client_metadata().unwrap().fetches(), 1);
    let entry = f
        .state
        .store()
        .get(&cache_key(&url))
        .await
        .unwrap()
        .unwrap();
    let ttl = entry
        .expires_at
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH + Duration::from_millis(f.clock.now_millis()))
        .unwrap();
    assert_eq!(ttl, Duration::from_secs(600));

    // Ten days later the cache is gone: the refresh fetches the document again.
    f.clock.advance(10 * DAY);
    assert!(!f.cached(&url).await);
    let (status, refreshed) = f
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", url.as_str()),
            ("refresh_token", &refresh_token),
        ])
        .await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(f.docs.requests_for("/good.json"), 2);

    // A document that now refuses ends the client's refreshes.
    f.clock.advance(DAY);
    f.docs.broken.store(true, Ordering::SeqCst);
    let (status, body) = f
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", url.as_str()),
            (
                "refresh_token",
                refreshed["refresh_token"].as_str().unwrap(),
            ),
        ])
        .await;
    assert_mismatch_refused(status, &body);
    assert!(!f.cached(&url).await);
}

#[tokio::test]
async fn redirect_uris_come_from_the_document_and_match_exactly() {
    let f = fixture(|_| {}).await;
    let url = f.docs.url("/good.json");
    // Another port of the same loopback redirect URI: no RFC 8252 leeway here.
    let other_port = REDIRECT.replace("5555", "5556");
    let res = Browser::new(&f.base)
        .get(&f.authorize_url(&url, &other_port))
        .await;
    assert_eq!(res.status(), 400);
    assert!(
        res.body()
            .contains("the redirect URI is not registered for this client (invalid_request)."),
        "{}",
        res.body()
    );
    let res = Browser::new(&f.base)
        .get(&f.authorize_url(&url, "https://evil.example/cb"))
        .await;
    assert_eq!(res.status(), 400);
    assert!(res.headers().get(LOCATION).is_none(), "never redirected");
}

#[tokio::test]
async fn a_redirect_uri_the_document_does_not_list_is_invalid_request_and_caches_nothing() {
    let f = fixture(|_| {}).await;
    let url = f.docs.url("/good.json");
    let other_port = REDIRECT.replace("5555", "5556");
    let refused = |res: &http::Response<String>, what: &str| {
        assert_eq!(res.status(), 400, "{what}: {}", res.body());
        assert!(
            res.headers().get(LOCATION).is_none(),
            "{what}: never redirected"
        );
        let page = unescape(res.body());
        assert!(
            page.contains(&format!(
                "The application's request cannot be completed: {what} (invalid_request)."
            )),
            "{page}"
        );
    };
    let not_listed = "the redirect URI is not registered for this client";

    // Each refused request fetched the document, and left nothing cached:
    // the next request fetches it again.
    for (n, uri) in [(1, "https://evil.example/cb"), (2, other_port.as_str())] {
        let res = Browser::new(&f.base).get(&f.authorize_url(&url, uri)).await;
        refused(&res, not_listed);
        assert!(!f.cached(&url).await, "{uri}: nothing cached");
        assert_eq!(f.docs.requests_for("/good.json"), n, "{uri}");
    }
    assert_eq!(f.resolver().fetches(), 2);

    // The document's own redirect URI: accepted, fetched once more, cached.
    let (status, page) = f.authorize_page(&url).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(f.docs.requests_for("/good.json"), 3);
    assert!(
        f.cached(&url).await,
        "an accepted request caches the document"
    );

    // Once cached, a refused request reads the cache: no fetch, and the
    // document another request accepted stays cached.
    let res = Browser::new(&f.base)
        .get(&f.authorize_url(&url, "https://evil.example/cb"))
        .await;
    refused(&res, not_listed);
    assert_eq!(f.docs.requests_for("/good.json"), 3);
    assert!(f.cached(&url).await);

    // No redirect_uri from a client with two: refused, nothing cached.
    let two = f.docs.url("/two-redirects.json");
    let without_redirect = format!(
        "{}/authorize?{}",
        f.base,
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "code"),
                ("client_id", two.as_str()),
                ("scope", "read"),
                (
                    "code_challenge",
                    &authstore::oauth::pkce_challenge(VERIFIER)
                ),
                ("code_challenge_method", "S256"),
            ])
            .finish()
    );
    let res = Browser::new(&f.base).get(&without_redirect).await;
    refused(&res, "the request has no redirect_uri");
    assert!(!f.cached(&two).await, "nothing cached");
    assert_eq!(f.docs.requests_for("/two-redirects.json"), 1);
    // Either of its redirect URIs is accepted, and then it is cached.
    let res = Browser::new(&f.base)
        .get(&f.authorize_url(&two, OTHER_REDIRECT))
        .await;
    assert_eq!(res.status(), 200, "{}", res.body());
    assert!(f.cached(&two).await);
    assert_eq!(f.docs.requests_for("/two-redirects.json"), 2);
}

#[tokio::test]
async fn cache_lifetimes_are_kept_within_min_cache_and_max_cache() {
    const MIN: Duration = Duration::from_secs(120);
    const MAX: Duration = Duration::from_secs(3600);
    const SECOND: Duration = Duration::from_secs(1);
    let f = fixture_cimd(|c| {
        c.min_cache = MIN;
        c.max_cache = MAX;
    })
    .await;
    let f = &f;
    // What each document's headers say, and what the cache keeps.
    let documents = [
        ("/short.json", "max-age=10", MIN),
        ("/no-store.json", "no-store", MIN),
        ("/bare.json", "no cache headers", MIN),
        ("/good.json", "max-age=600", Duration::from_secs(600)),
        ("/long.json", "max-age=31536000", MAX),
    ];
    let fetched = |path: &str| f.docs.requests_for(path);
    let sign_in_page = |path: &'static str| {
        let url = f.docs.url(path);
        async move {
            let (status, page) = f.authorize_page(&url).await;
            assert_eq!(status, 200, "{path}: {page}");
        }
    };
    for (path, headers, kept) in documents {
        sign_in_page(path).await;
        assert_eq!(fetched(path), 1, "{path}");
        assert_eq!(
            f.cache_ttl(&f.docs.url(path)).await,
            Some(kept),
            "{path} ({headers})"
        );
    }

    // Just before min_cache every document is still served from the cache.
    f.clock.advance(MIN - SECOND);
    for (path, _, _) in documents {
        sign_in_page(path).await;
        assert_eq!(fetched(path), 1, "{path} is cached at least min_cache");
    }
    // Just after, the ones with shorter or no lifetimes are fetched again.
    f.clock.advance(2 * SECOND);
    for (path, headers, kept) in documents {
        sign_in_page(path).await;
        let expected = if kept == MIN { 2 } else { 1 };
        assert_eq!(fetched(path), expected, "{path} ({headers})");
    }
    // Just before max_cache the year-long document is still cached; just
    // after, it is fetched again.
    f.clock.advance(MAX - MIN - 2 * SECOND);
    sign_in_page("/long.json").await;
    assert_eq!(fetched("/long.json"), 1, "cached until max_cache");
    assert_eq!(f.cache_ttl(&f.docs.url("/long.json")).await, Some(SECOND));
    f.clock.advance(2 * SECOND);
    assert!(
        !f.cached(&f.docs.url("/long.json")).await,
        "gone after max_cache"
    );
    sign_in_page("/long.json").await;
    assert_eq!(fetched("/long.json"), 2, "fetched again after max_cache");
    assert_eq!(f.cache_ttl(&f.docs.url("/long.json")).await, Some(MAX));
    assert_eq!(f.resolver().fetches(), 9);
}

#[tokio::test]
async fn bad_documents_are_refused_with_the_reason_and_not_cached() {
    let f = fixture(|_| {}).await;
    for (path, reason) in [
        (
            "/mismatch.json",
            "the client metadata document's client_id does not match its URL",
        ),
        (
            "/big.json",
            "the client metadata document is larger than 5 KiB",
        ),
        ("/page.html", "the client metadata document is not JSON"),
        (
            "/missing.json",
            "the client metadata document server answered HTTP 404",
        ),
        ("/redirect.json", "redirects are not followed"),
    ] {
        f.assert_refused(&f.docs.url(path), reason).await;
    }
    assert_eq!(
        f.docs.requests_for("/good.json"),
        0,
        "the redirect was not followed"
    );
}

#[tokio::test]
async fn a_stalled_document_server_times_out() {
    let f = fixture(|_| {}).await;
    let started = Instant::now();
    f.assert_refused(
        &f.docs.url("/slow.json"),
        "the client metadata document server did not answer within 300 ms",
    )
    .await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(f.docs.requests_for("/slow.json"), 1);
}

#[tokio::test]
async fn private_and_loopback_targets_are_refused_without_connecting() {
    let f = fixture(|_| {}).await;
    f.assert_refused(
        "https://10.20.30.40/client.json",
        "the host resolves to a private address",
    )
    .await;
    f.assert_refused(
        "https://[::ffff:a9fe:a9fe]/latest/meta-data",
        "the host resolves to a link-local address",
    )
    .await;
    f.assert_refused(
        "https://100.64.0.1/c.json",
        "the host resolves to a shared (carrier-grade NAT) address",
    )
    .await;
    assert_eq!(f.docs.accepts(), 0, "no connection was made");

    // Without the development setting, loopback http is no document URL,
    // and an https one (named directly or by a name) is a loopback target.
    let strict = fixture_cimd(|c| c.allow_loopback = false).await;
    let port = strict.docs.port();
    strict
        .assert_refused(
            &format!("https://127.0.0.1:{port}/good.json"),
            "the host resolves to a loopback address",
        )
        .await;
    strict
        .assert_refused(
            &format!("https://localhost:{port}/good.json"),
            "the host resolves to a loopback address",
        )
        .await;
    let url = strict.docs.url("/good.json");
    strict
        .assert_refused(&url, "the client_id URL must use https")
        .await;
    let (status, body) = strict.redeem(&url, "x").await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_client");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("allow_loopback"),
        "{body}"
    );
    assert_eq!(strict.docs.accepts(), 0, "no connection was made");
}

#[tokio::test]
async fn url_rules_and_unknown_clients_at_the_token_endpoint() {
    let f = fixture(|_| {}).await;
    for (url, reason) in [
        ("https://app.example", "must have a path"),
        (
            "https://user:pw@app.example/c.json",
            "user name or password",
        ),
        ("https://app.example:443/c.json", "normal form"),
    ] {
        f.assert_refused(url, reason).await;
    }
    let (status, body) = f
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", &f.docs.url("/mismatch.json")),
            ("refresh_token", "r"),
        ])
        .await;
    assert_mismatch_refused(status, &body);
}

#[tokio::test]
async fn fetches_are_limited_per_address_and_shared_per_url() {
    let f = fixture_cimd(|c| c.fetches_per_minute = 3).await;
    let resolver = f.resolver();

    // Concurrent requests for one uncached URL share one fetch.
    let url = f.docs.url("/delayed.json");
    let waits: Vec<_> = (0..3)
        .map(|_| {
            let (resolver, url) = (resolver.clone(), url.clone());
            tokio::spawn(async move { resolver.resolve(&url, "ip:192.0.2.1").await })
        })
        .collect();
    for wait in waits {
        assert_eq!(wait.await.unwrap().unwrap().client_id, url);
    }
    assert_eq!(f.docs.requests_for("/delayed.json"), 1);

    // Cached: requests no longer count.
    for _ in 0..10 {
        resolver.resolve(&url, "ip:192.0.2.1").await.unwrap();
    }
    assert_eq!(f.docs.requests_for("/delayed.json"), 1);

    // Uncached URLs count, per address, per minute.
    let other = |n: u32| f.docs.url(&format!("/page{n}"));
    for n in 0..3 {
        let err = resolver
            .resolve(&other(n), "ip:192.0.2.2")
            .await
            .unwrap_err();
        assert!(matches!(err, ResolveError::Refused(_)), "{err}");
    }
    let err = resolver
        .resolve(&other(3), "ip:192.0.2.2")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "temporarily_unavailable");
    assert!(matches!(err, ResolveError::Busy { .. }), "{err}");
    assert_eq!(f.docs.requests_for("/page3"), 0, "not fetched");
    // Another address has its own budget.
    assert!(matches!(
        resolver.resolve(&other(3), "ip:192.0.2.3").await,
        Err(ResolveError::Refused(_))
    ));
    f.clock.advance(Duration::from_secs(61));
    assert!(matches!(
        resolver.resolve(&other(4), "ip:192.0.2.2").await,
        Err(ResolveError::Refused(_))
    ));

    // Over HTTP the limit is a 429 page.
    let f = fixture_cimd(|c| c.fetches_per_minute = 1).await;
    f.assert_refused(&f.docs.url("/page1"), "not JSON").await;
    let (status, page) = f.authorize_page(&f.docs.url("/page2")).await;
    assert_eq!(status, 429, "{page}");
    assert!(page.contains("(temporarily_unavailable)"), "{page}");
}

#[tokio::test]
async fn fetches_in_progress_are_bounded() {
    let f = fixture_cimd(|c| c.max_concurrent_fetches = 1).await;
    let resolver = f.resolver();
    let slow = f.docs.url("/slow.json");
    let stalled = {
        let resolver = resolver.clone();
        tokio::spawn(async move { resolver.resolve(&slow, "ip:192.0.2.1").await })
    };
    while f.docs.requests_for("/slow.json") == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let err = resolver
        .resolve(&f.docs.url("/good.json"), "ip:192.0.2.2")
        .await
        .unwrap_err();
    assert!(
        matches!(err, ResolveError::Busy { .. }),
        "the only fetch slot is taken: {err}"
    );
    assert_eq!(f.docs.requests_for("/good.json"), 0);
    assert!(matches!(
        stalled.await.unwrap(),
        Err(ResolveError::Refused(_))
    ));
    // The slot is free again once the stalled fetch timed out.
    resolver
        .resolve(&f.docs.url("/good.json"), "ip:192.0.2.2")
        .await
        .unwrap();
}

#[tokio::test]
async fn documents_can_be_turned_off() {
    let f = fixture(|s| s.client_metadata = None).await;
    let metadata = f.server_metadata().await;
    assert!(
        metadata
            .get("client_id_metadata_document_supported")
            .is_none()
    );
    let (status, page) = f.authorize_page(&f.docs.url("/good.json")).await;
    assert_eq!(status, 400);
    assert!(page.contains("Unknown client."), "{page}");
    assert_eq!(f.docs.accepts(), 0);
}

#[tokio::test]
async fn an_https_loopback_document_is_trusted_by_its_ca_file_only() {
    let pki = TestPki::generate();
    // The CA as the server reads it: `[client_metadata_documents] ca_file`.
    let toml = format!(
        "[client_metadata_documents]\nallow_loopback = true\nca_file = {:?}\n",
        pki.ca_file.display().to_string()
    );
    let file = authstore_server::config::ConfigFile::parse(&toml, "test.toml").unwrap();
    let configured = authstore_server::config::admin_settings(Some(&file))
        .unwrap()
        .client_metadata
        .unwrap();
    assert!(configured.allow_loopback);
    assert_eq!(configured.extra_roots.len(), 1, "one CA certificate");
    let roots = configured.extra_roots;

    // With the CA: fetched over TLS (the certificate's IP SAN matches
    // 127.0.0.1), shown and cached.
    let trusted = fixture_with(DocServer::start_tls(pki.acceptor()).await, |s| {
        s.client_metadata.as_mut().unwrap().extra_roots = roots;
    })
    .await;
    let url = trusted.docs.url("/good.json");
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let (status, page) = trusted.authorize_page(&url).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Doc App") || page.contains("password"),
        "{page}"
    );
    assert!(trusted.cached(&url).await, "the document is cached");
    assert_eq!(trusted.docs.requests_for("/good.json"), 1);
    let (status, body) = trusted.redeem(&url, "not-a-code").await;
    assert_eq!(status, 400, "the client is known, the code is not: {body}");
    assert_eq!(body["error"], "invalid_grant");

    // Without it: the certificate is refused, nothing is read or cached.
    let untrusted = fixture_with(DocServer::start_tls(pki.acceptor()).await, |_| {}).await;
    let url = untrusted.docs.url("/good.json");
    untrusted
        .assert_refused(&url, "could not be reached: TLS failed")
        .await;
    assert_eq!(untrusted.docs.accepts(), 1, "the server was connected to");
    assert_eq!(untrusted.docs.requests_for("/good.json"), 0);
}

/// A `/token` answer refusing a document whose `client_id` is not its URL.
fn assert_mismatch_refused(status: u16, body: &serde_json::Value) {
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(
        body["error_description"],
        "the client metadata document's client_id does not match its URL"
    );
}
