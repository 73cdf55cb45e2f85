//! The replayer: while the flows run (before, during and after the outage) it sends already-redeemed codes and rotated-away refresh tokens to `/token` again, once each; a 200 is a code redeemed twice or a forked refresh family. An attempt that gets no definite answer (a 5xx, no answer) goes back in the queue.

use std::time::{Duration, Instant};

use crate::Ctx;
use crate::http::{Req, now_ms};
use crate::record::{Class, Kind};

/// Tries per sample before it is dropped (a long outage may take many).
const MAX_TRIES: u32 = 1000;

pub(crate) async fn replayer(ctx: &Ctx) {
    let mut tick = tokio::time::interval(ctx.opts.replay_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut turn = 0u64;
    while Instant::now() < ctx.deadline {
        tick.tick().await;
        turn += 1;
        if turn.is_multiple_of(2) {
            replay_code(ctx).await;
        } else {
            replay_refresh(ctx).await;
        }
    }
}

async fn replay_code(ctx: &Ctx) {
    let Some(sample) = ctx.ledger.take_code() else {
        return;
    };
    let o = &ctx.opts;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", sample.code.as_str()),
        ("redirect_uri", o.redirect_uri.as_str()),
        ("code_verifier", sample.verifier.as_str()),
        ("client_id", o.client_id.as_str()),
    ];
    let req = Req::form("/token", &form);
    ctx.http.pace().await;
    let sent = Instant::now();
    match ctx.http.send(&req, None).await {
        Ok(reply) => match ctx.rec.answer(Kind::CodeReplay, &reply, sent) {
            Class::Ok2xx => {
                ctx.rec.count("code_replay_accepted");
                ctx.rec
                    .unexpected(Kind::CodeReplay, "a code was redeemed twice", Some(&reply));
            }
            Class::Client4xx => {
                ctx.ledger.replay_refused(sample.flow);
                if reply.field("error").as_deref() != Some("invalid_grant") {
                    ctx.rec
                        .unexpected(Kind::CodeReplay, "not invalid_grant", Some(&reply));
                }
            }
            _ if sample.tries < MAX_TRIES => ctx.ledger.retry_code(sample),
            _ => ctx.rec.count("code_replay_given_up"),
        },
        Err(e) => {
            ctx.rec.no_answer(Kind::CodeReplay, &e, sent);
            if sample.tries < MAX_TRIES {
                ctx.ledger.retry_code(sample);
            }
        }
    }
}

async fn replay_refresh(ctx: &Ctx) {
    // Outside the grace window, where a retry gets the rotation's answer again.
    let settled = ctx.opts.refresh_grace + Duration::from_secs(1);
    let before = now_ms().saturating_sub(settled.as_millis() as u64);
    let Some(sample) = ctx.ledger.take_rotated(before) else {
        return;
    };
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", sample.rotated.token.as_str()),
        ("client_id", ctx.opts.client_id.as_str()),
    ];
    let req = Req::form("/token", &form);
    ctx.http.pace().await;
    let sent = Instant::now();
    match ctx.http.send(&req, None).await {
        Ok(reply) => match ctx.rec.answer(Kind::RefreshReplay, &reply, sent) {
            Class::Ok2xx => {
                ctx.rec.count("refresh_replay_accepted");
                ctx.rec.unexpected(
                    Kind::RefreshReplay,
                    "a rotated-away refresh token was accepted",
                    Some(&reply),
                );
            }
            Class::Client4xx => {
                ctx.ledger.replay_refused(sample.flow);
                if reply.field("error").as_deref() != Some("invalid_grant") {
                    ctx.rec
                        .unexpected(Kind::RefreshReplay, "not invalid_grant", Some(&reply));
                }
            }
            _ if sample.tries < MAX_TRIES => ctx.ledger.retry_rotated(sample),
            _ => ctx.rec.count("refresh_replay_given_up"),
        },
        Err(e) => {
            ctx.rec.no_answer(Kind::RefreshReplay, &e, sent);
            if sample.tries < MAX_TRIES {
                ctx.ledger.retry_rotated(sample);
            }
        }
    }
}
