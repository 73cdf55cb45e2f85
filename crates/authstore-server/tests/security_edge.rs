//! The HTTP edge of the real `authstore serve`: header-read and request timeouts, connection and request limits, trusted proxies (`X-Forwarded-For`, RFC 7239 `Forwarded`) for per-IP limits and the access log, `/metrics` on a separate admin address, and the default bound of the memory store.

use std::collections::HashMap;
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use authstore_server::config::{ConfigFile, Overrides, ServeConfig};
use authstore_server::edge::{HttpLimits, limit_requests, serve_connections};
use authstore_server::serve::{DEFAULT_MEMORY_MAX_ENTRIES, Drain, bounded_store_url};
use axum::Router;
use axum::routing::get;
use tokio::sync::{Notify, oneshot};

mod ops_support;

use ops_support::{FAST_HASHING, Server, http, read_response};

const SECOND: Duration = Duration::from_secs(1);

/// A config file of `FAST_HASHING` plus `extra` (top-level keys first); keep the directory alive.
fn config(top: &str, sections: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("edge.toml");
    std::fs::write(&path, format!("{top}\n{FAST_HASHING}\n{sections}\n")).expect("write config");
    (dir, path.display().to_string())
}

/// One request with extra headers and a body on a fresh connection; returns status, head and body.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(30 * SECOND)).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    write!(stream, "{head}\r\n{body}").unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let status = raw.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    (status, head.to_owned(), body.to_owned())
}

/// The value of a sample in Prometheus text.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        line.strip_prefix(series)
            .and_then(|rest| rest.trim().parse().ok())
    })
}

/// Waits until the socket is closed by the server; panics if it is still open after `limit`.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut sink = Vec::new();
    match stream.read_to_end(&mut sink) {
        Ok(_) => {}
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            panic!("the connection was still open after {limit:?}")
        }
        // A reset is a close too.
        Err(_) => {}
    }
    started.elapsed()
}

#[test]
fn a_half_sent_request_line_is_closed_after_the_header_read_timeout() {
    let (_dir, config) = config("", "[http]\nheader_read_timeout = \"1s\"");
    let server = Server::start(&["--config", &config, "--store", "memory://"]);
    let mut slow = TcpStream::connect(server.addr).unwrap();
    slow.write_all(b"GET /health HT").unwrap();
    let waited = closed_within(&mut slow, 10 * SECOND);
    assert!(
        waited >= Duration::from_millis(900) && waited < 5 * SECOND,
        "closed after {waited:?}, expected about 1 s"
    );
    // Complete requests are unaffected.
    assert_eq!(http(server.addr, "GET", "/health").unwrap().0, 200);
}

/// A `/token` form.
const TOKEN_FORM: &str = "grant_type=authorization_code&code=x";

/// The head and the first 10 bytes of [`TOKEN_FORM`]: in flight until the rest arrives.
fn start_unfinished_token_request(addr: SocketAddr) -> TcpStream {
    let body = TOKEN_FORM;
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(30 * SECOND)).unwrap();
    write!(
        slow,
        "POST /token HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{}",
        body.len(),
        &body[..10]
    )
    .unwrap();
    slow.flush().unwrap();
    slow
}

#[test]
fn a_request_that_outlasts_the_request_timeout_gets_503_with_a_body() {
    let (_dir, config) = config("", "[http]\nrequest_timeout = \"1s\"");
    let server = Server::start(&["--config", &config, "--store", "memory://"]);
    let started = Instant::now();
    let mut slow = start_unfinished_token_request(server.addr);
    let mut raw = String::new();
    let _ = slow.read_to_string(&mut raw);
    let waited = started.elapsed();
    assert!(raw.starts_with("HTTP/1.1 503"), "after {waited:?}: {raw:?}");
    assert!(waited < 10 * SECOND, "answered after {waited:?}");
    let lower = raw.to_ascii_lowercase();
    assert!(lower.contains("retry-after: 1"), "{raw}");
    assert!(lower.contains("connection: close"), "{raw}");
    let body = raw.split_once("\r\n\r\n").unwrap().1;
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(json["error"], "temporarily_unavailable", "{body}");
    let (_, metrics) = http(server.addr, "GET", "/metrics").unwrap();
    assert_eq!(
        sample(
            &metrics,
            "authstore_http_requests_total{method=\"POST\",route=\"/token\",status=\"503\"}"
        ),
        Some(1.0),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_slow_handler_is_cut_by_the_request_timeout() {
    let entered = Arc::new(Notify::new());
    let hang = {
        let entered = Arc::clone(&entered);
        get(move || async move {
            entered.notify_one();
            std::future::pending::<&'static str>().await
        })
    };
    let limits = HttpLimits {
        request_timeout: Duration::from_millis(300),
        ..HttpLimits::default()
    };
    let router = limit_requests(
        Router::new()
            .route("/hang", hang)
            .route("/fast", get(|| async { "fast" })),
        &limits,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(serve_connections(
        listener,
        router,
        async move { drop(stop_rx.await) },
        10 * SECOND,
        limits,
    ));
    let started = Instant::now();
    let (status, _, body) =
        tokio::task::spawn_blocking(move || request(addr, "GET", "/hang", &[], ""))
            .await
            .unwrap();
    let waited = started.elapsed();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("temporarily_unavailable"), "{body}");
    assert!(
        waited >= Duration::from_millis(250) && waited < 5 * SECOND,
        "{waited:?}"
    );
    let (status, _, body) =
        tokio::task::spawn_blocking(move || request(addr, "GET", "/fast", &[], ""))
            .await
            .unwrap();
    assert_eq!((status, body.as_str()), (200, "fast"));
    stop_tx.send(()).unwrap();
    let drain = tokio::time::timeout(30 * SECOND, server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(drain, Drain::Complete);
}

#[test]
fn requests_beyond_the_concurrency_limit_wait_for_a_slot() {
    let (_dir, config) = config("", "[http]\nmax_concurrent_requests = 1");
    let server = Server::start(&["--config", &config, "--store", "memory://"]);
    let addr = server.addr;
    let mut slow = start_unfinished_token_request(addr);
    // Probe with /health until one probe is not answered: then the slow
    // request holds the only slot and the probe waits for it.
    let deadline = Instant::now() + 30 * SECOND;
    let mut waiting = loop {
        let mut probe = TcpStream::connect(addr).unwrap();
        write!(
            probe,
            "GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        probe
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut first = [0u8; 1];
        match probe.read(&mut first) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break probe;
            }
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "the limit of one request at a time never held a probe back"
        );
    };
    // Finishing the slow request frees the slot: both are answered.
    slow.write_all(&TOKEN_FORM.as_bytes()[10..]).unwrap();
    let (status, body) = read_response(&mut slow).unwrap();
    assert!((400..500).contains(&status), "{status} {body}");
    waiting.set_read_timeout(Some(30 * SECOND)).unwrap();
    let (status, body) = read_response(&mut waiting).unwrap();
    assert_eq!(status, 200, "the waiting request got its slot: {body}");
}

#[test]
fn connections_beyond_the_limit_wait_until_one_closes() {
    let (_dir, config) = config(
        "",
        "[http]\nmax_connections = 1\nheader_read_timeout = \"60s\"",
    );
    let server = Server::start(&["--config", &config, "--store", "memory://"]);
    let addr = server.addr;
    // The first connection is served, and stays open (keep-alive).
    let mut first = TcpStream::connect(addr).unwrap();
    first.set_read_timeout(Some(30 * SECOND)).unwrap();
    write!(first, "GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut buf = [0u8; 12];
    first.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"HTTP/1.1 200");
    // A second one is not served while the first is open.
    let mut second = TcpStream::connect(addr).unwrap();
    write!(
        second,
        "GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    second
        .set_read_timeout(Some(Duration::from_millis(800)))
        .unwrap();
    let mut one = [0u8; 1];
    let early = second.read(&mut one);
    assert!(
        matches!(&early, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "a second connection was served beyond max_connections = 1: {early:?}"
    );
    // Closing the first lets the second in.
    drop(first);
    second.set_read_timeout(Some(30 * SECOND)).unwrap();
    let (status, body) = read_response(&mut second).unwrap();
    assert_eq!(status, 200, "{body}");
}

/// A public client's registration (RFC 7591), as open registration allows.
const REGISTRATION: &str = r#"{"client_name":"edge","redirect_uris":["http://127.0.0.1/callback"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"response_types":["code"]}"#;

fn register(addr: SocketAddr, header: Option<(&str, &str)>) -> u16 {
    let mut headers = vec![("Content-Type", "application/json")];
    headers.extend(header);
    let (status, _, body) = request(addr, "POST", "/register", &headers, REGISTRATION);
    assert!(
        status == 201 || status == 429,
        "unexpected answer {status}: {body}"
    );
    status
}

#[test]
fn clients_behind_a_trusted_proxy_get_their_own_registration_bucket() {
    let (_dir, config) = config(
        "trusted_proxies = [\"127.0.0.1/32\"]",
        "[rate_limits]\nregistrations_per_hour = 1",
    );
    let mut server = Server::start(&["--config", &config, "--store", "memory://"]);
    let addr = server.addr;
    let xff = |ip| Some(("X-Forwarded-For", ip));
    assert_eq!(register(addr, xff("198.51.100.1")), 201);
    assert_eq!(register(addr, xff("198.51.100.1")), 429, "same client");
    assert_eq!(
        register(addr, xff("198.51.100.2")),
        201,
        "another client behind the proxy"
    );
    // A value the client wrote left of the proxy's entry proves nothing.
    assert_eq!(register(addr, xff("203.0.113.1, 198.51.100.2")), 429);
    // The access log names the client, not the proxy.
    server.wait_for("\"client_ip\":\"198.51.100.2\"", 10 * SECOND);
    // The `Forwarded` header is not what these proxies write: ignored.
    let forwarded = |v| Some(("Forwarded", v));
    assert_eq!(register(addr, forwarded("for=198.51.100.9")), 201);
    assert_eq!(register(addr, forwarded("for=198.51.100.10")), 429);
}

#[test]
fn rfc_7239_forwarded_is_read_when_the_proxies_write_it() {
    let (_dir, config) = config(
        "forwarded_header = \"forwarded\"",
        "[rate_limits]\nregistrations_per_hour = 1",
    );
    // Trusted proxies from the environment this time.
    let server = Server::start_with(
        &["--config", &config, "--store", "memory://"],
        &[("AUTHSTORE_TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")],
    );
    let addr = server.addr;
    let forwarded = |v| Some(("Forwarded", v));
    assert_eq!(
        register(addr, forwarded("for=\"[2001:db8::1]:4711\";proto=https")),
        201
    );
    assert_eq!(
        register(addr, forwarded("for=\"[2001:db8::2]\"")),
        429,
        "one IPv6 /64 is one client"
    );
    assert_eq!(
        register(addr, forwarded("for=192.0.2.1, for=198.51.100.1")),
        201
    );
    assert_eq!(register(addr, forwarded("for=198.51.100.1")), 429);
    // An obfuscated identifier names nobody: the proxy's own bucket.
    assert_eq!(register(addr, forwarded("for=_hidden")), 201);
    assert_eq!(register(addr, forwarded("for=unknown")), 429);
    // X-Forwarded-For is not what these proxies write: a spoofed one is ignored.
    assert_eq!(
        register(addr, Some(("X-Forwarded-For", "198.51.100.77"))),
        429
    );
}

#[test]
fn without_trusted_proxies_a_spoofed_forwarding_header_is_ignored() {
    let (_dir, config) = config("", "[rate_limits]\nregistrations_per_hour = 1");
    let mut server = Server::start(&["--config", &config, "--store", "memory://"]);
    let addr = server.addr;
    assert_eq!(
        register(addr, Some(("X-Forwarded-For", "198.51.100.1"))),
        201
    );
    assert_eq!(
        register(addr, Some(("X-Forwarded-For", "198.51.100.2"))),
        429
    );
    assert_eq!(register(addr, Some(("Forwarded", "for=198.51.100.3"))), 429);
    server.wait_for("\"client_ip\":\"127.0.0.1\"", 10 * SECOND);
    assert!(!server.logged("198.51.100."), "{}", server.log.join("\n"));
}

#[test]
fn bad_trusted_proxies_are_config_errors_naming_the_key() {
    let (_dir, config) = config("trusted_proxies = [\"10.0.0.0/33\"]", "");
    let out = ops_support::authstore()
        .args(["serve", "--config", &config, "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("trusted_proxies") && stderr.contains("10.0.0.0/33"),
        "{stderr}"
    );
    let (_dir, config) = ops_support::fast_config();
    for (var, value) in [
        ("AUTHSTORE_TRUSTED_PROXIES", "10.0.0.0/8,not-an-address"),
        ("AUTHSTORE_FORWARDED_HEADER", "x-real-ip"),
        ("AUTHSTORE_ADMIN_LISTEN", "localhost"),
    ] {
        let out = ops_support::authstore()
            .args(["serve", "--config", &config, "--listen", "127.0.0.1:0"])
            .env(var, value)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}: {stderr}");
        assert!(stderr.contains(var), "{var}: {stderr}");
    }
}

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

fn resolve(text: &str, env: &[(&str, &str)]) -> Result<ServeConfig, String> {
    let file = ConfigFile::parse(text, "edge.toml").map_err(|e| e.0)?;
    ServeConfig::resolve(&Overrides::default(), Some(&file), &env_of(env)).map_err(|e| e.0)
}

#[test]
fn http_limits_and_edge_keys_map_onto_the_serve_config() {
    let defaults = resolve("", &[]).unwrap();
    assert_eq!(defaults.http, HttpLimits::default());
    assert_eq!(defaults.http.header_read_timeout, 10 * SECOND);
    assert_eq!(defaults.http.request_timeout, 30 * SECOND);
    assert_eq!(defaults.http.max_connections, 1024);
    assert_eq!(defaults.http.max_concurrent_requests, 512);
    assert_eq!(defaults.admin_listen, None);
    assert!(defaults.settings.trusted_proxies.is_empty());
    let config = resolve(
        "admin_listen = \"127.0.0.1:9090\"\ntrusted_proxies = [\"10.0.0.0/8\", \"192.0.2.7\"]\nforwarded_header = \"Forwarded\"\n\
         [http]\nheader_read_timeout = \"5s\"\nrequest_timeout = \"1m\"\nmax_connections = 10\nmax_concurrent_requests = 3\n",
        &[],
    )
    .unwrap();
    assert_eq!(
        config.http,
        HttpLimits {
            header_read_timeout: 5 * SECOND,
            request_timeout: 60 * SECOND,
            max_connections: 10,
            max_concurrent_requests: 3,
        }
    );
    assert_eq!(config.admin_listen, Some("127.0.0.1:9090".parse().unwrap()));
    let proxies = &config.settings.trusted_proxies;
    assert_eq!(proxies.nets().len(), 2);
    assert!(proxies.contains("10.1.2.3".parse().unwrap()));
    assert_eq!(proxies.header(), authstore_axum::ForwardedHeader::Forwarded);
    // The environment wins over the file, and keeps the file's header choice.
    let config = resolve(
        "admin_listen = \"127.0.0.1:9090\"\ntrusted_proxies = [\"10.0.0.0/8\"]\nforwarded_header = \"forwarded\"",
        &[
            ("AUTHSTORE_ADMIN_LISTEN", "127.0.0.1:9191"),
            ("AUTHSTORE_TRUSTED_PROXIES", "192.0.2.0/24,"),
        ],
    )
    .unwrap();
    assert_eq!(config.admin_listen, Some("127.0.0.1:9191".parse().unwrap()));
    let proxies = &config.settings.trusted_proxies;
    assert!(proxies.contains("192.0.2.9".parse().unwrap()));
    assert!(!proxies.contains("10.1.2.3".parse().unwrap()));
    assert_eq!(proxies.header(), authstore_axum::ForwardedHeader::Forwarded);
    for (text, key) in [
        ("[http]\nmax_connections = 0", "http.max_connections"),
        (
            "[http]\nmax_concurrent_requests = 0",
            "http.max_concurrent_requests",
        ),
        (
            "[http]\nheader_read_timeout = 0",
            "http.header_read_timeout",
        ),
        ("[http]\nrequest_timeout = \"0s\"", "http.request_timeout"),
        ("[http]\nidle_timeout = \"5s\"", "idle_timeout"),
        ("admin_listen = \"9090\"", "admin_listen"),
        (
            "trusted_proxies = [\"10.0.0.0/8\", \"nope\"]",
            "trusted_proxies",
        ),
        ("forwarded_header = \"via\"", "forwarded_header"),
    ] {
        let error = resolve(text, &[]).unwrap_err();
        assert!(error.contains(key), "{text}: {error}");
    }
}

#[test]
fn admin_listen_moves_metrics_off_the_main_address() {
    let (_dir, config) = config("admin_listen = \"127.0.0.1:0\"", "");
    let mut server = Server::start(&["--config", &config, "--store", "memory://"]);
    let listening = server.wait_for("listening", 10 * SECOND);
    let json: serde_json::Value = serde_json::from_str(&listening).unwrap();
    let admin: SocketAddr = json["admin"]
        .as_str()
        .expect("the admin address is logged")
        .parse()
        .unwrap();
    assert_ne!(admin, server.addr);
    let (status, _) = http(server.addr, "GET", "/metrics").unwrap();
    assert_eq!(status, 404, "no /metrics on the main address");
    assert_eq!(http(server.addr, "GET", "/health").unwrap().0, 200);
    let (status, metrics) = http(admin, "GET", "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(
        metrics.contains(
            "authstore_http_requests_total{method=\"GET\",route=\"/health\",status=\"200\"}"
        ),
        "{metrics}"
    );
    let (status, health) = http(admin, "GET", "/health").unwrap();
    assert_eq!(status, 200, "{health}");
    assert!(health.contains("\"status\":\"ok\""), "{health}");
    assert!(!server.logged("/metrics is served on the main listen address"));
    server.signal("TERM");
    let exit = server.wait_exit(30 * SECOND);
    assert!(exit.success(), "{exit:?}\n{}", server.log.join("\n"));
    assert!(
        TcpStream::connect(admin).is_err(),
        "the admin address is closed"
    );
}

#[test]
fn with_admin_clients_an_operator_clients_admin_token_from_token_opens_the_admin_api() {
    const SECRET: &str = "ops-robot-secret-of-at-least-32-characters";
    let (_dir, config) = config(
        "admin_listen = \"127.0.0.1:0\"\nadmin_clients = true",
        &format!(
            "[[clients]]\nname = \"ops robot\"\nclient_id = \"ops-robot\"\nsecret = \"{SECRET}\"\n\
             redirect_uris = [\"http://127.0.0.1/callback\"]\nscopes = [\"admin\", \"read\"]\n\
             grant_types = [\"client_credentials\"]\n"
        ),
    );
    let mut server = Server::start(&["--config", &config, "--store", "memory://"]);
    let listening = server.wait_for("listening", 10 * SECOND);
    let json: serde_json::Value = serde_json::from_str(&listening).unwrap();
    assert_eq!(json["admin_api"], true, "{listening}");
    let admin: SocketAddr = json["admin"].as_str().unwrap().parse().unwrap();
    let basic = {
        use base64::Engine as _;
        let pair = format!("ops-robot:{SECRET}");
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    };
    let token = |scope: &str| {
        let (status, _, body) = request(
            server.addr,
            "POST",
            "/token",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Authorization", &basic),
            ],
            &format!("grant_type=client_credentials&scope={scope}"),
        );
        assert_eq!(status, 200, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        json["access_token"].as_str().unwrap().to_owned()
    };
    let users = |token: &str| {
        let bearer = format!("Bearer {token}");
        request(
            admin,
            "GET",
            "/admin/v1/users",
            &[("Authorization", &bearer)],
            "",
        )
        .0
    };
    assert_eq!(
        users(&token("admin")),
        200,
        "the admin-scoped token opens it"
    );
    assert_eq!(
        users(&token("read")),
        401,
        "a token without the scope does not"
    );
    assert_eq!(users("not-a-token"), 401);
    let (status, _, _) = request(server.addr, "GET", "/admin/v1/users", &[], "");
    assert_eq!(status, 404, "the admin API is not on the main address");
}

#[test]
fn without_admin_listen_metrics_stay_on_the_main_address_with_a_warning() {
    let (_dir, config) = ops_support::fast_config();
    let mut server = Server::start(&["--config", &config, "--store", "memory://"]);
    let (status, metrics) = http(server.addr, "GET", "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(metrics.contains("authstore_build_info"), "{metrics}");
    server.wait_for("/metrics is served on the main listen address", 10 * SECOND);
}

#[test]
fn serve_bounds_its_memory_store_by_default() {
    let (_dir, config) = ops_support::fast_config();
    let mut server = Server::start(&["--config", &config, "--store", "memory://"]);
    let (_, metrics) = http(server.addr, "GET", "/metrics").unwrap();
    assert_eq!(
        sample(&metrics, "authstore_store_max_entries"),
        Some(DEFAULT_MEMORY_MAX_ENTRIES as f64),
        "{metrics}"
    );
    server.wait_for("memory store bounded", 10 * SECOND);
    // An explicit bound wins.
    let explicit = Server::start(&[
        "--config",
        &config,
        "--store",
        "memory://?max_entries=5000&eviction=lru",
    ]);
    let (_, metrics) = http(explicit.addr, "GET", "/metrics").unwrap();
    assert_eq!(
        sample(&metrics, "authstore_store_max_entries"),
        Some(5000.0),
        "{metrics}"
    );
}

#[test]
fn memory_urls_without_a_bound_get_the_default_one() {
    let default = DEFAULT_MEMORY_MAX_ENTRIES;
    let cases = [
        (
            "memory://",
            format!("memory://?max_entries={default}&eviction=soonest-expiry"),
            Some(default),
        ),
        (
            "MEMORY://",
            format!("MEMORY://?max_entries={default}&eviction=soonest-expiry"),
            Some(default),
        ),
        (
            "memory://?sweep_interval_ms=0",
            format!("memory://?sweep_interval_ms=0&max_entries={default}&eviction=soonest-expiry"),
            Some(default),
        ),
        (
            "memory://?eviction=lru",
            format!("memory://?eviction=lru&max_entries={default}"),
            Some(default),
        ),
        (
            "memory://?max_entries=10",
            "memory://?max_entries=10".to_owned(),
            Some(10),
        ),
        (
            "memory://?max_bytes=1000000",
            "memory://?max_bytes=1000000".to_owned(),
            None,
        ),
        ("sqlite::memory:", "sqlite::memory:".to_owned(), None),
        (
            "redis://127.0.0.1/?max_entries",
            "redis://127.0.0.1/?max_entries".to_owned(),
            None,
        ),
    ];
    for (url, expected, bound) in cases {
        assert_eq!(bounded_store_url(url), (expected.clone(), bound), "{url}");
    }
}

#[tokio::test]
async fn the_bounded_default_store_evicts_instead_of_growing() {
    // What serve opens for memory://, with the bound scaled down to be
    // reached here: entries beyond it are evicted, soonest-expiring first.
    let (url, _) = bounded_store_url("memory://?shards=1");
    let url = url.replace(&DEFAULT_MEMORY_MAX_ENTRIES.to_string(), "100");
    let store = authstore::open(&url).await.unwrap();
    store
        .put("user:keep", b"x", authstore::PutOptions::new())
        .await
        .unwrap();
    for i in 0..500 {
        store
            .put(
                &format!("session:{i}"),
                b"x",
                authstore::PutOptions::new().ttl(Duration::from_secs(60 + i)),
            )
            .await
            .unwrap();
    }
    let stats = store.stats().await.unwrap();
    assert!(stats.entries <= 100, "{stats:?}");
    assert!(stats.evictions >= 400, "{stats:?}");
    assert!(
        store.get("user:keep").await.unwrap().is_some(),
        "an entry without TTL outlives the expiring ones"
    );
}
