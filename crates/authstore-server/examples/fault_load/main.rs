//! A bounded load generator of real OAuth clients for `authstore serve`, to see what clients see when the server's store dies and comes back.
//!
//! A fixed number of workers run authorization code flows against one or
//! more base URLs (round-robin, as a load balancer spreads requests over
//! server processes that share one store): `GET /authorize` with PKCE
//! S256, the sign-in page (its CSRF field and cookie), the consent page,
//! the redirect with `code`, the code exchange at `/token`, refreshes
//! (rotation), `/introspect` and, for some flows, `/revoke`. A replayer
//! sends already-redeemed codes and rotated-away refresh tokens again.
//! Every request is paced to `--rate` (all workers together), and retried
//! after a 5xx or no answer as a client honouring `Retry-After` does.
//!
//! It records every answer by endpoint and status class, and checks:
//! - every 5xx is a 503 with `Retry-After` (`temporarily_unavailable` on
//!   the OAuth endpoints) and names no store internals;
//! - the time from the store's return (`--events`: lines `kill MS`,
//!   `restart MS`, `ready MS`, ms since the epoch, written by the driver) to
//!   the first success of each kind of request;
//! - after the run, no acknowledged token is lost: every access and
//!   refresh token answered 200 is introspected and must be active unless
//!   the generator revoked it or it was rotated away; revocations hold;
//! - no code is redeemed twice and no refresh family forks (any 200 to a
//!   replay).
//!
//! It prints tables and a JSON summary (also to `--json-out`), optionally
//! the answers per time window as CSV (`--timeline-out`, `--window-secs`),
//! and exits 1 on any violation. `benches/fault/serve-store-failure.sh` provisions the
//! server, runs this, and kills and restarts the store.
//!
//! ```text
//! FAULT_LOAD_PASSWORD=… FAULT_LOAD_INTROSPECTOR_SECRET=… \
//! cargo run --release -p authstore-server --example fault_load -- \
//!     --base http://127.0.0.1:8081 --base http://127.0.0.1:8082 \
//!     --workers 16 --rate 300 --duration 60 --events events.txt
//! ```

mod check;
mod figures;
mod flow;
mod http;
mod ledger;
mod record;
mod replay;
mod report;
mod timeline;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;

use crate::http::{Http, Req, now_ms};
use crate::ledger::Ledger;
use crate::record::{Class, Recorder};
use crate::report::Phases;

#[derive(Debug, Clone, Parser)]
#[command(about = "OAuth client load with store-outage checks for authstore serve")]
struct Options {
    /// Base URL of a server (repeat for several; requests go round-robin).
    #[arg(long = "base", required = true)]
    bases: Vec<String>,
    /// The public client the flows use.
    #[arg(long, default_value = "load-app")]
    client_id: String,
    #[arg(long, default_value = "http://127.0.0.1/callback")]
    redirect_uri: String,
    #[arg(long, default_value = "offline_access")]
    scope: String,
    /// A confidential client that is a trusted introspector.
    #[arg(long, default_value = "load-introspector")]
    introspector_id: String,
    #[arg(long, env = "FAULT_LOAD_INTROSPECTOR_SECRET", hide_env_values = true)]
    introspector_secret: String,
    /// Users are PREFIX0 … PREFIX(N-1), all with the same password.
    #[arg(long, default_value = "load-user-")]
    user_prefix: String,
    #[arg(long, default_value_t = 16)]
    users: usize,
    #[arg(long, env = "FAULT_LOAD_PASSWORD", hide_env_values = true)]
    password: String,
    /// Concurrent flows.
    #[arg(long, default_value_t = 16)]
    workers: usize,
    /// Requests per second over all workers; 0: as fast as they go.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Seconds of load.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Refreshes per flow.
    #[arg(long, default_value_t = 2)]
    refreshes: u32,
    /// A new browser (a new sign-in) every N flows of a worker.
    #[arg(long, default_value_t = 4)]
    relogin_every: u32,
    /// The server's `[tokens] refresh_grace`, in seconds: rotated tokens
    /// are replayed only once it has passed.
    #[arg(long, default_value = "10", value_parser = secs)]
    refresh_grace: Duration,
    /// One replay (alternately a code and a refresh token) every N ms.
    #[arg(long, default_value = "100", value_parser = millis)]
    replay_every: Duration,
    /// Seconds a request may take before it counts as unanswered.
    #[arg(long, default_value = "15", value_parser = secs)]
    request_timeout: Duration,
    /// The driver's store events: lines `kill MS`, `restart MS`, `ready MS`.
    #[arg(long)]
    events: Option<PathBuf>,
    /// Also write the JSON summary here.
    #[arg(long)]
    json_out: Option<PathBuf>,
    /// The longest acceptable time (ms) from the store's return to the
    /// first success of each kind of request; 0: not checked.
    #[arg(long, default_value_t = 2000)]
    recovery_target_ms: u64,
    /// Concurrent introspections of the checks after the run.
    #[arg(long, default_value_t = 8)]
    check_concurrency: usize,
    /// Seconds the checks after the run may take; a token not checked by
    /// then counts as lost.
    #[arg(long, default_value = "60", value_parser = secs)]
    check_limit: Duration,
    /// Also write the answers per time window as CSV here (start, requests
    /// by status class, p50, p99 and max ms).
    #[arg(long)]
    timeline_out: Option<PathBuf>,
    /// The timeline's window, in seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    window_secs: u64,
    /// The servers' `[tokens] access_token_ttl`, when a run outlives it:
    /// an access token older than this (plus a margin) when it is checked
    /// must be inactive, one within the margin of it may be either.
    #[arg(long, value_parser = secs)]
    access_ttl: Option<Duration>,
    /// The servers' `[tokens] refresh_token_ttl`, likewise.
    #[arg(long, value_parser = secs)]
    refresh_ttl: Option<Duration>,
}

fn secs(s: &str) -> Result<Duration, String> {
    s.parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|e| e.to_string())
}

fn millis(s: &str) -> Result<Duration, String> {
    s.parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|e| e.to_string())
}

/// What every task shares.
#[derive(Debug)]
struct Ctx {
    opts: Options,
    http: Http,
    rec: Recorder,
    ledger: Ledger,
    deadline: Instant,
    /// `/health` probes: (server, ms since the epoch, 200).
    health: Mutex<Vec<(usize, u64, bool)>>,
}

/// Polls each server's `/health` every 100 ms until the run is over.
async fn monitor(ctx: Arc<Ctx>, server: usize) {
    let base = ctx.http.bases()[server].clone();
    while Instant::now() < ctx.deadline {
        let ok = ctx
            .http
            .send_to(&base, &Req::get("/health"), None)
            .await
            .is_ok_and(|r| r.status == 200);
        ctx.health
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((server, now_ms(), ok));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Per server: ms from the kill to `/health`'s first failure, and from
/// the store's return to its first 200.
fn health_json(ctx: &Ctx, phases: &Phases) -> serde_json::Value {
    let probes = ctx.health.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let servers: Vec<serde_json::Value> = ctx
        .http
        .bases()
        .iter()
        .enumerate()
        .map(|(i, base)| {
            let mine = probes.iter().filter(|p| p.0 == i);
            let after = |from: Option<u64>, ok: bool| {
                let from = from?;
                mine.clone()
                    .filter(|p| p.1 >= from && p.2 == ok)
                    .map(|p| p.1 - from)
                    .min()
            };
            json!({"base": base,
                   "first_503_ms_after_kill": after(phases.kill, false),
                   "first_200_ms_after_store_ready": after(phases.ready, true)})
        })
        .collect();
    json!(servers)
}

#[tokio::main]
async fn main() -> ExitCode {
    let opts = Options::parse();
    let started_ms = now_ms();
    let run = Duration::from_secs(opts.duration);
    let ctx = Arc::new(Ctx {
        http: Http::new(opts.bases.clone(), opts.rate, opts.request_timeout),
        opts,
        rec: Recorder::default(),
        ledger: Ledger::default(),
        deadline: Instant::now() + run,
        health: Mutex::new(Vec::new()),
    });
    let mut tasks = tokio::task::JoinSet::new();
    for id in 0..ctx.opts.workers {
        let ctx = ctx.clone();
        tasks.spawn(async move { flow::worker(&ctx, id).await });
    }
    let replayer = ctx.clone();
    tasks.spawn(async move { replay::replayer(&replayer).await });
    for server in 0..ctx.http.bases().len() {
        tasks.spawn(monitor(ctx.clone(), server));
    }
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done {
            eprintln!("fault_load: a task failed: {e}");
            return ExitCode::from(2);
        }
    }
    let ran_ms = now_ms() - started_ms;
    let phases = Phases::read(ctx.opts.events.as_deref());
    eprintln!("fault_load: load over after {ran_ms} ms; checking the tokens");
    let (checks, token_violations) = check::run(
        &ctx,
        &phases,
        ctx.opts.check_concurrency,
        ctx.opts.check_limit,
    )
    .await;
    summarize(&ctx, &phases, started_ms, ran_ms, checks, token_violations)
}

fn summarize(
    ctx: &Ctx,
    phases: &Phases,
    started_ms: u64,
    ran_ms: u64,
    checks: serde_json::Value,
    token_violations: u64,
) -> ExitCode {
    let events = ctx.rec.events();
    let answers = report::answers_json(&events, phases, started_ms);
    let (five_xx_checked, bad_5xx_samples) = ctx.rec.five_xx();
    let bad_5xx = events.iter().filter(|e| e.class == Class::Bad5xx).count() as u64;
    let (unexpected, samples) = ctx.rec.unexpected_answers();
    let no_answer = ctx.rec.counter("no_answer");
    let (first_success, worst) = report::recovery(&events, phases);
    let target = ctx.opts.recovery_target_ms;
    // Only kinds a client was waiting for count: the first revocation after
    // the outage says more about the workload's mix than about recovery.
    let slow = u64::from(target > 0 && worst.is_some_and(|w| w.is_none_or(|w| w > target)));
    let run_requests = answers["requests_total"].as_u64().unwrap_or(0);
    let violations = bad_5xx + no_answer + unexpected + token_violations + slow;
    let o = &ctx.opts;
    let summary = json!({
        "config": {"bases": o.bases, "workers": o.workers, "rate": o.rate, "duration_s": o.duration,
                   "refreshes_per_flow": o.refreshes, "relogin_every": o.relogin_every,
                   "refresh_grace_s": o.refresh_grace.as_secs(), "recovery_target_ms": target},
        "ran_ms": ran_ms,
        "requests_per_sec": run_requests as f64 * 1000.0 / ran_ms.max(1) as f64,
        "flows_completed": ctx.ledger.flows().len(),
        "answers": answers,
        "health": health_json(ctx, phases),
        "five_xx": {"checked": five_xx_checked, "bad": bad_5xx, "bad_samples": bad_5xx_samples},
        "no_answer": no_answer,
        "unexpected": {"count": unexpected, "samples": samples},
        "counters": ctx.rec.counters(),
        "code_replays_accepted": ctx.rec.counter("code_replay_accepted"),
        "refresh_replays_accepted": ctx.rec.counter("refresh_replay_accepted"),
        "token_checks": checks,
        "recovery_target_missed": slow == 1,
        "violations": violations,
    });
    let counters = ctx.rec.counters();
    let figures = figures::render(&figures::Inputs {
        events: &events,
        phases,
        first_success: &first_success,
        worst,
        target_ms: target,
        health: &summary["health"],
        checks: &summary["token_checks"],
        counters: &counters,
        violations,
    });
    println!("{}", report::human(&events, phases, started_ms));
    println!(
        "requests {run_requests} in {:.1} s ({:.0}/s), flows completed {}, 5xx checked {five_xx_checked} (bad {bad_5xx}), \
         no answer {no_answer}, unexpected {unexpected}, token-check violations {token_violations}, \
         worst first success after the store's return of a kind clients waited for: {} ms (target {target} ms)",
        ran_ms as f64 / 1000.0,
        summary["requests_per_sec"].as_f64().unwrap_or(0.0),
        summary["flows_completed"],
        match worst {
            None => "n/a (no client waiting)".to_owned(),
            Some(None) => "never".to_owned(),
            Some(Some(w)) => w.to_string(),
        },
    );
    let text = serde_json::to_string_pretty(&summary).unwrap_or_default();
    println!("{text}");
    println!("\n{figures}");
    if let Some(path) = &o.json_out
        && let Err(e) = std::fs::write(path, &text)
    {
        eprintln!("fault_load: cannot write {}: {e}", path.display());
        return ExitCode::from(2);
    }
    if let Some(path) = &o.timeline_out {
        let written = timeline::write(
            path,
            &events,
            started_ms,
            ran_ms,
            o.window_secs,
            run_requests,
        );
        if let Err(e) = written {
            eprintln!("fault_load: timeline: {e}");
            return ExitCode::from(2);
        }
    }
    if violations > 0 {
        eprintln!("fault_load: {violations} violation(s)");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
