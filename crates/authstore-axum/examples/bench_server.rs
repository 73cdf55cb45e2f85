//! Benchmark server for `benches/peers/session-bench.sh`: `POST /login` starts a session, `GET /me` (the measured route) reads its user without writing.
//!
//! `GET /hello` answers `bench` outside the session layer: the baseline of
//! the same server without sessions. `--signed` signs the cookie (HMAC-SHA256
//! with a key drawn at start), as express-session always does.
//!
//! Run: `cargo run --release -p authstore-axum --example bench_server -- --store memory:// --listen 127.0.0.1:3000`.
//! A `redis://127.0.0.1:PORT` store needs authstore's `redis` feature:
//! add `--features authstore/redis` to the cargo command.

use std::process::ExitCode;

use authstore::csrf::KeyRing;
use authstore::session::{SessionId, SessionManager, SessionUser};
use authstore_axum::{RequestSession, SessionLayer};
use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::StatusCode;

/// `POST /login`: logs the fixed user `bench` in (creating the session and setting the cookie).
async fn login(session: RequestSession) -> Result<StatusCode, authstore_axum::Error> {
    session.set_user(SessionUser::new("bench")).await?;
    Ok(StatusCode::OK)
}

/// `GET /me`: cookie → session load → user id as text, `401` without a user. Never writes.
async fn me(session: RequestSession) -> Result<Response, authstore_axum::Error> {
    Ok(match session.user().await? {
        Some(user) => user.id.into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    })
}

/// `GET /hello`: no session layer around it.
async fn hello() -> &'static str {
    "bench"
}

/// `--store URL`, `--listen ADDR` and `--signed`, with their defaults.
struct Args {
    store: String,
    listen: String,
    signed: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        store: "memory://".into(),
        listen: "127.0.0.1:3000".into(),
        signed: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let slot = match flag.as_str() {
            "--store" => &mut args.store,
            "--listen" => &mut args.listen,
            "--signed" => {
                args.signed = true;
                continue;
            }
            "-h" | "--help" => {
                return Err("usage: bench_server [--store URL] [--listen ADDR] [--signed]".into());
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        };
        *slot = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
    }
    Ok(args)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let store = match authstore::open(&args.store).await {
        Ok(store) => store,
        Err(e) => {
            eprintln!(
                "bench_server: cannot open {}: {e}",
                authstore::redact_url(&args.store)
            );
            return ExitCode::FAILURE;
        }
    };
    // Plain HTTP on loopback: the cookie cannot be `Secure`.
    let mut layer = SessionLayer::new(SessionManager::new(store)).dev_mode();
    if args.signed {
        // A fresh session id is 256 random bits: good enough as a throwaway key.
        let ring = SessionId::generate()
            .and_then(|secret| KeyRing::new().with_key("bench", secret.expose().as_bytes()));
        match ring {
            Ok(ring) => layer = layer.signed(ring),
            Err(e) => {
                eprintln!("bench_server: cannot make a signing key: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let app = Router::new()
        .route("/login", post(login))
        .route("/me", get(me))
        .layer(layer)
        // Added after `layer`, so outside it.
        .route("/hello", get(hello));
    let listener = match tokio::net::TcpListener::bind(&args.listen).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("bench_server: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "bench_server: listening on {} with store {}{}",
        args.listen,
        authstore::redact_url(&args.store),
        if args.signed { ", signed cookie" } else { "" }
    );
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("bench_server: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
