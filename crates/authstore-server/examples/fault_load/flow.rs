//! One worker: real authorization code flows as a browser and a public client run them (PKCE S256, sign-in page with its CSRF field, consent page, code exchange, refresh rotations, introspection, revocation), each request retried after a 5xx or no answer as a client honouring `Retry-After` does.

use std::time::{Duration, Instant};

use authstore::oauth::pkce_challenge;
use authstore::secret::random_token;

use crate::Ctx;
use crate::http::{Jar, Reply, Req, hidden_fields, now_ms};
use crate::ledger::{Acked, Fate, Revoked, Role};
use crate::record::{Class, Kind};

/// A small xorshift generator for the flows' random choices.
#[derive(Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new() -> Self {
        let bytes = authstore::secret::random_bytes().unwrap_or([7; 32]);
        let mut seed = [0u8; 8];
        seed.copy_from_slice(&bytes[..8]);
        Self(u64::from_le_bytes(seed) | 1)
    }

    /// A number in `0..n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// 0 to 200 ms, drawn afresh each time, so that clients waiting out the
/// same `Retry-After` do not all come back at once.
fn jitter() -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(now_ms());
    Duration::from_millis(hasher.finish() % 201)
}

/// Sends `req` until it gets an answer that is not a 5xx, waiting between
/// tries as a client does (`Retry-After`, at most 2 s). Returns the answer
/// and whether an earlier try failed (5xx or no answer), or `None` once the
/// run is over.
pub(crate) async fn attempt(
    ctx: &Ctx,
    kind: Kind,
    req: &Req,
    mut jar: Option<&mut Jar>,
) -> Option<(Reply, bool)> {
    let mut failed_before = false;
    while Instant::now() < ctx.deadline {
        let cookies = jar.as_deref().map(Jar::header);
        ctx.http.pace().await;
        let sent = Instant::now();
        let wait = match ctx.http.send(req, cookies.as_deref()).await {
            Ok(reply) => {
                if let Some(jar) = jar.as_deref_mut() {
                    jar.update(&reply.headers);
                }
                match ctx.rec.answer(kind, &reply, sent) {
                    Class::Unavailable => reply
                        .retry_after()
                        .unwrap_or(Duration::from_secs(1))
                        .min(Duration::from_secs(2)),
                    Class::Bad5xx => Duration::from_millis(500),
                    _ => return Some((reply, failed_before)),
                }
            }
            Err(e) => {
                ctx.rec.no_answer(kind, &e, sent);
                Duration::from_millis(250)
            }
        };
        failed_before = true;
        tokio::time::sleep(wait + jitter()).await;
    }
    None
}

/// Runs flows until the run is over. Worker `id` signs in as user `id % users`.
pub(crate) async fn worker(ctx: &Ctx, id: usize) {
    let mut rng = Rng::new();
    let user = format!("{}{}", ctx.opts.user_prefix, id % ctx.opts.users);
    let mut jar = Jar::default();
    let mut flows = 0u32;
    while Instant::now() < ctx.deadline {
        // A new browser (a new sign-in) every `relogin_every` flows.
        if flows.is_multiple_of(ctx.opts.relogin_every.max(1)) {
            jar = Jar::default();
        }
        flows += 1;
        let role = match rng.below(100) {
            n if n < 10 => Role::Revoke,
            n if n < 20 => Role::CodeReplay,
            n if n < 30 => Role::RefreshReplay,
            _ => Role::Keep,
        };
        run_flow(ctx, &mut jar, &user, role, &mut rng).await;
    }
}

/// One authorization: pages until the redirect with a code.
async fn authorize(ctx: &Ctx, jar: &mut Jar, user: &str) -> Option<(String, String)> {
    let o = &ctx.opts;
    let verifier = random_token().ok()?;
    let state = random_token().ok()?;
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &o.client_id)
        .append_pair("redirect_uri", &o.redirect_uri)
        .append_pair("scope", &o.scope)
        .append_pair("state", &state)
        .append_pair("code_challenge", &pkce_challenge(&verifier))
        .append_pair("code_challenge_method", "S256")
        .finish();
    let (mut page, _) = attempt(
        ctx,
        Kind::AuthorizePage,
        &Req::get(format!("/authorize?{query}")),
        Some(jar),
    )
    .await?;
    if page.status == 200 && page.body.contains("id=\"login\"") {
        let fields = hidden_fields(&page.body);
        let field = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let (csrf, return_to) = (field("_csrf"), field("return_to"));
        let form = [
            ("_csrf", csrf.as_str()),
            ("return_to", return_to.as_str()),
            ("username", user),
            ("password", o.password.as_str()),
        ];
        let req = Req::form("/login", &form).page();
        let (signed_in, _) = attempt(ctx, Kind::Login, &req, Some(jar)).await?;
        let Some(next) = signed_in.location().filter(|_| signed_in.status == 303) else {
            ctx.rec
                .unexpected(Kind::Login, "no redirect after sign-in", Some(&signed_in));
            return None;
        };
        let next = next.to_owned();
        (page, _) = attempt(ctx, Kind::AuthorizePage, &Req::get(next), Some(jar)).await?;
    }
    if page.status != 200 || !page.body.contains("id=\"consent\"") {
        ctx.rec
            .unexpected(Kind::AuthorizePage, "not the consent page", Some(&page));
        return None;
    }
    let mut fields = hidden_fields(&page.body);
    fields.push(("decision".into(), "approve".into()));
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let req = Req::form("/authorize", &pairs).page();
    let (answer, _) = attempt(ctx, Kind::Consent, &req, Some(jar)).await?;
    let location = answer.location().and_then(|l| url::Url::parse(l).ok());
    let Some(location) = location.filter(|_| answer.status == 303) else {
        ctx.rec
            .unexpected(Kind::Consent, "no redirect to the client", Some(&answer));
        return None;
    };
    let param = |name: &str| {
        location
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    if let Some(error) = param("error") {
        // RFC 6749 §4.1.2.1: the authorization ends; the client starts over.
        if error == "temporarily_unavailable" {
            ctx.rec.count("consent_redirected_temporarily_unavailable");
        } else {
            ctx.rec
                .unexpected(Kind::Consent, &format!("error redirect {error}"), None);
        }
        return None;
    }
    if param("state").as_deref() != Some(state.as_str()) {
        ctx.rec
            .unexpected(Kind::Consent, "the redirect's state differs", None);
        return None;
    }
    Some((param("code")?, verifier))
}

/// The tokens of a token response, acknowledged now.
fn tokens(reply: &Reply) -> Option<(Acked, Option<Acked>)> {
    let at_ms = now_ms();
    let access = reply.field("access_token")?;
    let refresh = reply.field("refresh_token");
    Some((
        Acked {
            token: access,
            at_ms,
        },
        refresh.map(|token| Acked { token, at_ms }),
    ))
}

/// Whether the introspection of a token says it is active.
pub(crate) fn is_active(reply: &Reply) -> Option<bool> {
    (reply.status == 200).then(|| reply.json()?.get("active")?.as_bool())?
}

/// Introspects `token` (by the trusted introspector) during the flow.
async fn introspect(ctx: &Ctx, token: &str) -> Option<bool> {
    let o = &ctx.opts;
    let req = Req::form("/introspect", &[("token", token)])
        .basic(&o.introspector_id, &o.introspector_secret);
    let (reply, _) = attempt(ctx, Kind::Introspect, &req, None).await?;
    let active = is_active(&reply);
    if active.is_none() {
        ctx.rec.unexpected(
            Kind::Introspect,
            "not an introspection answer",
            Some(&reply),
        );
    }
    active
}

async fn run_flow(ctx: &Ctx, jar: &mut Jar, user: &str, role: Role, rng: &mut Rng) {
    let o = &ctx.opts;
    let Some((code, verifier)) = authorize(ctx, jar, user).await else {
        return;
    };
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", o.redirect_uri.as_str()),
        ("code_verifier", verifier.as_str()),
        ("client_id", o.client_id.as_str()),
    ];
    let Some((reply, retried)) =
        attempt(ctx, Kind::CodeExchange, &Req::form("/token", &form), None).await
    else {
        return;
    };
    let Some((access, mut refresh)) = tokens(&reply).filter(|_| reply.status == 200) else {
        if reply.status == 400 && retried {
            // An unanswered try redeemed the code; its retry is reuse.
            ctx.rec.count("code_exchange_refused_after_unanswered_try");
        } else {
            ctx.rec
                .unexpected(Kind::CodeExchange, "no tokens", Some(&reply));
        }
        return;
    };
    let flow = ctx.ledger.exchanged(role, access.clone(), refresh.clone());
    let mut latest_access = access.token;
    for _ in 0..o.refreshes {
        let Some(old) = refresh.clone() else { break };
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", old.token.as_str()),
            ("client_id", o.client_id.as_str()),
        ];
        let Some((reply, retried)) =
            attempt(ctx, Kind::Refresh, &Req::form("/token", &form), None).await
        else {
            return;
        };
        let Some((access, next)) = tokens(&reply).filter(|_| reply.status == 200) else {
            if reply.status == 400 && retried {
                ctx.rec.count("refresh_refused_after_unanswered_try");
                ctx.ledger.set_fate(flow, Fate::EndedByRefreshRetry);
            } else {
                ctx.rec.unexpected(Kind::Refresh, "no tokens", Some(&reply));
            }
            return;
        };
        if retried {
            ctx.rec.count("refresh_answered_after_unanswered_try");
        }
        latest_access = access.token.clone();
        ctx.ledger.refreshed(flow, access, next.clone());
        refresh = next;
        if introspect(ctx, &latest_access).await == Some(false) {
            ctx.rec
                .unexpected(Kind::Introspect, "a fresh access token is inactive", None);
            ctx.rec.count("fresh_access_token_inactive");
        }
    }
    if role == Role::Revoke {
        revoke(ctx, flow, &latest_access, refresh.as_ref(), rng).await;
    }
    ctx.ledger.offer(flow, Some((code, verifier)));
}

/// Revokes the access token or (half the time) the refresh token, then
/// checks that introspection says so.
async fn revoke(ctx: &Ctx, flow: usize, access: &str, refresh: Option<&Acked>, rng: &mut Rng) {
    let o = &ctx.opts;
    let (token, whole_grant) = match refresh {
        Some(r) if rng.below(2) == 0 => (r.token.clone(), true),
        _ => (access.to_owned(), false),
    };
    let form = [
        ("token", token.as_str()),
        ("client_id", o.client_id.as_str()),
    ];
    let Some((reply, _)) = attempt(ctx, Kind::Revoke, &Req::form("/revoke", &form), None).await
    else {
        return;
    };
    if reply.status != 200 {
        ctx.rec
            .unexpected(Kind::Revoke, "not revoked", Some(&reply));
        return;
    }
    let acked = Acked {
        token: token.clone(),
        at_ms: now_ms(),
    };
    let what = if whole_grant {
        Revoked::Grant(acked)
    } else {
        Revoked::Access(acked)
    };
    ctx.ledger.revoked(flow, what);
    if introspect(ctx, &token).await == Some(true) {
        ctx.rec
            .unexpected(Kind::Introspect, "a revoked token is active", None);
        ctx.rec.count("revoked_token_active");
    }
}
