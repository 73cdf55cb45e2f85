//! What the generator saw: every answer with its time, endpoint and status class; each 5xx checked against what a store outage must look like; counters and samples of anything unexpected.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use crate::http::{Reply, now_ms};

/// The endpoint (and purpose) of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Kind {
    /// `GET /authorize`: the sign-in or consent page.
    AuthorizePage,
    /// `POST /login`.
    Login,
    /// `POST /authorize`: the consent decision.
    Consent,
    /// `POST /token`, `authorization_code`.
    CodeExchange,
    /// `POST /token`, `refresh_token`.
    Refresh,
    /// `POST /introspect` during a flow.
    Introspect,
    /// `POST /revoke`.
    Revoke,
    /// `POST /token` with a code already redeemed.
    CodeReplay,
    /// `POST /token` with a refresh token already rotated away.
    RefreshReplay,
    /// `POST /introspect` of the checks after the run.
    CheckIntrospect,
}

impl Kind {
    pub(crate) const ALL: [Kind; 10] = [
        Kind::AuthorizePage,
        Kind::Login,
        Kind::Consent,
        Kind::CodeExchange,
        Kind::Refresh,
        Kind::Introspect,
        Kind::Revoke,
        Kind::CodeReplay,
        Kind::RefreshReplay,
        Kind::CheckIntrospect,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::AuthorizePage => "GET /authorize",
            Kind::Login => "POST /login",
            Kind::Consent => "POST /authorize (consent)",
            Kind::CodeExchange => "POST /token (code)",
            Kind::Refresh => "POST /token (refresh)",
            Kind::Introspect => "POST /introspect",
            Kind::Revoke => "POST /revoke",
            Kind::CodeReplay => "POST /token (code replay)",
            Kind::RefreshReplay => "POST /token (refresh replay)",
            Kind::CheckIntrospect => "POST /introspect (post-check)",
        }
    }

    /// The OAuth JSON endpoints, whose 503 must say `temporarily_unavailable`.
    fn is_oauth_json(self) -> bool {
        !matches!(self, Kind::AuthorizePage | Kind::Login | Kind::Consent)
    }
}

/// The class of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Class {
    Ok2xx,
    Redirect3xx,
    /// A redirect to the client carrying `error=` (RFC 6749 §4.1.2.1).
    ErrorRedirect,
    Client4xx,
    /// 503 with `Retry-After` (and `temporarily_unavailable` on OAuth endpoints).
    Unavailable,
    /// Any other 5xx: a violation.
    Bad5xx,
    /// No HTTP answer (connection refused or reset, timeout).
    NoAnswer,
}

impl Class {
    pub(crate) const ALL: [Class; 7] = [
        Class::Ok2xx,
        Class::Redirect3xx,
        Class::ErrorRedirect,
        Class::Client4xx,
        Class::Unavailable,
        Class::Bad5xx,
        Class::NoAnswer,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Class::Ok2xx => "2xx",
            Class::Redirect3xx => "3xx",
            Class::ErrorRedirect => "3xx_error_redirect",
            Class::Client4xx => "4xx",
            Class::Unavailable => "503_retry_after",
            Class::Bad5xx => "5xx_bad",
            Class::NoAnswer => "no_answer",
        }
    }

    /// A successful answer (the request did what it asked).
    pub(crate) fn is_success(self) -> bool {
        matches!(self, Class::Ok2xx | Class::Redirect3xx)
    }
}

/// One answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Event {
    pub(crate) at_ms: u64,
    /// How long the answer took.
    pub(crate) took_ms: u32,
    pub(crate) kind: Kind,
    pub(crate) class: Class,
}

impl Event {
    /// A request of `kind` started at `took`, ending now as `class`.
    fn ended(kind: Kind, class: Class, took: Instant) -> Self {
        Event {
            at_ms: now_ms(),
            took_ms: took.elapsed().as_millis() as u32,
            kind,
            class,
        }
    }
}

/// Words that must not reach a client in a 5xx body: store internals.
const LEAKS: [&str; 10] = [
    "redis",
    "postgres",
    "panicked",
    "connection refused",
    "os error",
    "db error",
    "backend error",
    "broken pipe",
    "sqlstate",
    "timed out after",
];

#[derive(Debug, Default)]
struct Inner {
    events: Vec<Event>,
    five_xx_checked: u64,
    bad_5xx_samples: Vec<String>,
    unexpected: u64,
    unexpected_samples: Vec<String>,
    counters: BTreeMap<&'static str, u64>,
}

/// Everything recorded, shared by the workers.
#[derive(Debug, Default)]
pub(crate) struct Recorder(Mutex<Inner>);

const SAMPLES: usize = 12;

impl Recorder {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Records an answer that took `took`, and returns its class; a 5xx is checked.
    pub(crate) fn answer(&self, kind: Kind, reply: &Reply, took: Instant) -> Class {
        let class = match reply.status {
            200..=299 => Class::Ok2xx,
            300..=399 if reply.location().is_some_and(is_error_redirect) => Class::ErrorRedirect,
            300..=399 => Class::Redirect3xx,
            500..=599 => match check_5xx(kind, reply) {
                Ok(()) => Class::Unavailable,
                Err(_) => Class::Bad5xx,
            },
            _ => Class::Client4xx,
        };
        let event = Event::ended(kind, class, took);
        self.with(|s| {
            s.events.push(event);
            if reply.status >= 500 {
                s.five_xx_checked += 1;
                if let Err(why) = check_5xx(kind, reply)
                    && s.bad_5xx_samples.len() < SAMPLES
                {
                    let body: String = reply.body.chars().take(300).collect();
                    s.bad_5xx_samples.push(format!(
                        "{}: {why}: {} {body}",
                        kind.name(),
                        reply.status
                    ));
                }
            }
        });
        class
    }

    /// Records a request that got no HTTP answer.
    pub(crate) fn no_answer(&self, kind: Kind, error: &str, took: Instant) {
        let event = Event::ended(kind, Class::NoAnswer, took);
        self.with(|s| {
            s.events.push(event);
            s.bump("no_answer");
            if s.unexpected_samples.len() < SAMPLES {
                let error: String = error.chars().take(200).collect();
                s.unexpected_samples
                    .push(format!("{}: no answer: {error}", kind.name()));
            }
        });
    }

    /// An answer no correct server gives in this run (a violation), with a sample.
    pub(crate) fn unexpected(&self, kind: Kind, what: &str, reply: Option<&Reply>) {
        self.with(|s| {
            s.unexpected += 1;
            if s.unexpected_samples.len() < SAMPLES {
                let detail = reply.map_or(String::new(), |r| {
                    let body: String = r.body.chars().take(200).collect();
                    format!(" ({} {body})", r.status)
                });
                s.unexpected_samples
                    .push(format!("{}: {what}{detail}", kind.name()));
            }
        });
    }

    /// Adds one to a named counter.
    pub(crate) fn count(&self, name: &'static str) {
        self.with(|s| s.bump(name));
    }

    pub(crate) fn counter(&self, name: &str) -> u64 {
        self.with(|s| s.counters.get(name).copied().unwrap_or(0))
    }

    pub(crate) fn counters(&self) -> BTreeMap<&'static str, u64> {
        self.with(|s| s.counters.clone())
    }

    pub(crate) fn events(&self) -> Vec<Event> {
        self.with(|s| s.events.clone())
    }

    /// (5xx checked, bad-5xx samples).
    pub(crate) fn five_xx(&self) -> (u64, Vec<String>) {
        self.with(|s| (s.five_xx_checked, s.bad_5xx_samples.clone()))
    }

    /// (unexpected answers, samples of them and of requests without answer).
    pub(crate) fn unexpected_answers(&self) -> (u64, Vec<String>) {
        self.with(|s| (s.unexpected, s.unexpected_samples.clone()))
    }
}

impl Inner {
    fn bump(&mut self, name: &'static str) {
        *self.counters.entry(name).or_default() += 1;
    }
}

fn is_error_redirect(location: &str) -> bool {
    url::Url::parse(location).is_ok_and(|u| u.query_pairs().any(|(k, _)| k == "error"))
}

/// What a 5xx must be while the store is down: 503 with `Retry-After`,
/// `temporarily_unavailable` on the OAuth endpoints, and no internals.
fn check_5xx(kind: Kind, reply: &Reply) -> Result<(), String> {
    if reply.status != 503 {
        return Err(format!("status {} (only 503 is expected)", reply.status));
    }
    if reply.retry_after().is_none() {
        return Err("503 without Retry-After".into());
    }
    if kind.is_oauth_json() && reply.field("error").as_deref() != Some("temporarily_unavailable") {
        return Err("503 whose error is not temporarily_unavailable".into());
    }
    let body = reply.body.to_lowercase();
    if let Some(word) = LEAKS.iter().find(|w| body.contains(*w)) {
        return Err(format!("the body names store internals ({word:?})"));
    }
    Ok(())
}
