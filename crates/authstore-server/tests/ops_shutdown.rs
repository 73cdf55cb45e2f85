//! The real `authstore serve`: graceful shutdown on SIGTERM during an in-flight request, on a second signal, and on SIGINT, and provisioning across a restart on an SQLite file.

use std::io::Write as _;
use std::net::TcpStream;
use std::time::{Duration, Instant};

mod ops_support;

use ops_support::{Server, http, read_response};

const SECOND: Duration = Duration::from_secs(1);

/// The value of a sample in Prometheus text.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        line.strip_prefix(series)
            .and_then(|rest| rest.trim().parse().ok())
    })
}

/// A `/token` form whose body is still coming: in flight until the rest arrives.
const BODY: &str = "grant_type=authorization_code&code=x";

/// Sends the head and the first 10 bytes of [`BODY`], and waits until the
/// server counts the request in flight (the `/metrics` request itself is the
/// second one).
fn start_slow_request(server: &Server) -> TcpStream {
    let addr = server.addr;
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        slow,
        "POST /token HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{}",
        BODY.len(),
        &BODY[..10]
    )
    .unwrap();
    slow.flush().unwrap();
    let deadline = Instant::now() + 30 * SECOND;
    loop {
        let (_, metrics) = http(addr, "GET", "/metrics").unwrap();
        if sample(&metrics, "authstore_http_requests_in_flight") == Some(2.0) {
            return slow;
        }
        assert!(
            Instant::now() < deadline,
            "the slow request never showed as in flight:\n{metrics}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_drains_an_in_flight_request_then_exits_0() {
    let (_dir, config) = ops_support::fast_config();
    let mut server = Server::start(&[
        "--config",
        &config,
        "--store",
        "memory://",
        "--shutdown-timeout",
        "60s",
    ]);
    let addr = server.addr;
    let mut slow = start_slow_request(&server);
    server.signal("TERM");
    server.wait_for("shutting down", 30 * SECOND);
    // New connections are refused while the request is still running.
    let deadline = Instant::now() + 30 * SECOND;
    while TcpStream::connect(addr).is_ok() {
        assert!(
            Instant::now() < deadline,
            "still accepting connections after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "exited with a request in flight"
    );
    slow.write_all(&BODY.as_bytes()[10..]).unwrap();
    let (status, response) = read_response(&mut slow).unwrap();
    assert!(
        (400..500).contains(&status),
        "the drained request got its answer: {status} {response}"
    );
    let exit = server.wait_exit(30 * SECOND);
    assert!(exit.success(), "{exit:?}\n{}", server.log.join("\n"));
    assert!(
        server.logged("all in-flight requests finished"),
        "{}",
        server.log.join("\n")
    );
    assert!(server.logged("store closed"), "{}", server.log.join("\n"));
    assert!(
        server.logged("\"signal\":\"SIGTERM\""),
        "{}",
        server.log.join("\n")
    );
}

#[test]
fn a_second_signal_cuts_the_drain_short() {
    let (_dir, config) = ops_support::fast_config();
    let args = [
        "--config",
        &config,
        "--store",
        "memory://",
        "--shutdown-timeout",
        "60s",
    ];
    let mut server = Server::start(&args);
    let _slow = start_slow_request(&server);
    server.signal("TERM");
    server.wait_for("shutting down", 30 * SECOND);
    assert!(server.child.try_wait().unwrap().is_none(), "draining");
    server.signal("INT");
    let exit = server.wait_exit(30 * SECOND);
    assert!(exit.success(), "{exit:?}\n{}", server.log.join("\n"));
    assert!(server.logged("second signal"), "{}", server.log.join("\n"));
}

#[test]
fn sigint_on_an_idle_server_exits_0_promptly() {
    let (_dir, config) = ops_support::fast_config();
    let mut server = Server::start(&["--config", &config, "--store", "memory://"]);
    assert_eq!(http(server.addr, "GET", "/health").unwrap().0, 200);
    let (_, metadata) = http(
        server.addr,
        "GET",
        "/.well-known/oauth-authorization-server",
    )
    .unwrap();
    let metadata: serde_json::Value = serde_json::from_str(&metadata).unwrap();
    let issuer = format!("http://{}", server.addr);
    assert_eq!(
        metadata["issuer"],
        issuer.as_str(),
        "the default issuer is the bound address"
    );
    let asked = Instant::now();
    server.signal("INT");
    let exit = server.wait_exit(10 * SECOND);
    assert!(exit.success(), "{exit:?}\n{}", server.log.join("\n"));
    assert!(asked.elapsed() < 10 * SECOND);
    assert!(
        server.logged("\"signal\":\"SIGINT\"") && server.logged("store closed"),
        "{}",
        server.log.join("\n")
    );
}

#[test]
fn provisioning_survives_a_restart_on_a_persistent_store_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("auth.db");
    let config = dir.path().join("authstore.toml");
    std::fs::write(
        &config,
        format!(
            "store = \"sqlite://{}\"\n{}\n\
             [[users]]\nname = \"alice\"\npassword_env = \"ALICE_PASSWORD\"\nuser_id = \"u-alice\"\n\
             [[clients]]\nname = \"cli\"\npublic = true\nredirect_uris = [\"http://127.0.0.1/callback\"]\nscopes = [\"openid\"]\n",
            db.display(),
            ops_support::FAST_HASHING
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let mut client_ids = Vec::new();
    for round in 0..2 {
        let mut server = Server::start_with(
            &["--config", &config],
            &[("ALICE_PASSWORD", "hunter2-but-longer")],
        );
        let line = server.wait_for("\"client_id\"", 10 * SECOND);
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        client_ids.push(json["client_id"].as_str().unwrap().to_owned());
        assert_eq!(http(server.addr, "GET", "/health").unwrap().0, 200);
        server.signal("TERM");
        assert!(
            server.wait_exit(30 * SECOND).success(),
            "{}",
            server.log.join("\n")
        );
        let expected = if round == 0 {
            "provisioned user"
        } else {
            "user exists; left unchanged"
        };
        assert!(
            server.logged(expected),
            "round {round}: {}",
            server.log.join("\n")
        );
        assert!(!server.logged("hunter2"), "the password is never logged");
    }
    assert_eq!(
        client_ids[0], client_ids[1],
        "the same client after the restart"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = authstore::open(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        assert_eq!(
            store
                .scan("oauth-client:", None, 100)
                .await
                .unwrap()
                .entries
                .len(),
            1
        );
        assert_eq!(
            store
                .scan("credential:", None, 100)
                .await
                .unwrap()
                .entries
                .len(),
            1
        );
    });
}
