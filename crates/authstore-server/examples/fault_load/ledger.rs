//! The tokens each completed flow was given (with when the server acknowledged them), what the generator did with them (rotated, revoked, replayed), and the pools of redeemed codes and rotated-away refresh tokens waiting to be replayed.

use std::collections::VecDeque;
use std::sync::Mutex;

/// What a flow is for, chosen at its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Its tokens are left alone and must all be active after the run.
    Keep,
    /// One of its tokens is revoked; the revocation must hold after the run.
    Revoke,
    /// Its code is replayed after the flow.
    CodeReplay,
    /// Its rotated-away refresh tokens are replayed after the flow.
    RefreshReplay,
}

/// What happened to a flow's grant beyond its role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Normal,
    /// A refresh went unanswered; its retry was refused (the rotation had
    /// happened, and the retry came after the grace window: reuse).
    EndedByRefreshRetry,
}

/// A token and when its 200 arrived (ms since the epoch).
#[derive(Debug, Clone)]
pub(crate) struct Acked {
    pub(crate) token: String,
    pub(crate) at_ms: u64,
}

/// What the generator revoked, acknowledged at `at_ms`.
#[derive(Debug, Clone)]
pub(crate) enum Revoked {
    /// One access token.
    Access(Acked),
    /// A refresh token: its whole grant.
    Grant(Acked),
}

/// One completed code flow.
#[derive(Debug, Clone)]
pub(crate) struct Flow {
    pub(crate) role: Role,
    pub(crate) fate: Fate,
    pub(crate) access: Vec<Acked>,
    /// The refresh token the client holds now.
    pub(crate) refresh_head: Option<Acked>,
    /// Refresh tokens rotated away by an acknowledged refresh (when rotated).
    pub(crate) rotated: Vec<Acked>,
    pub(crate) revoked: Option<Revoked>,
    /// A replay of this flow's code or of one of its rotated refresh
    /// tokens reached the server (its grant may be revoked since).
    pub(crate) replayed: bool,
    /// The last replay got a definite refusal (4xx).
    pub(crate) replay_refused: bool,
}

/// A redeemed code, as the client sent it.
#[derive(Debug, Clone)]
pub(crate) struct CodeSample {
    pub(crate) flow: usize,
    pub(crate) code: String,
    pub(crate) verifier: String,
    pub(crate) tries: u32,
}

/// A refresh token rotated away at `rotated.at_ms`.
#[derive(Debug, Clone)]
pub(crate) struct RotatedSample {
    pub(crate) flow: usize,
    pub(crate) rotated: Acked,
    pub(crate) tries: u32,
}

#[derive(Debug, Default)]
struct Inner {
    flows: Vec<Flow>,
    codes: VecDeque<CodeSample>,
    rotated: VecDeque<RotatedSample>,
}

/// The ledger shared by the workers, the replayer and the checks.
#[derive(Debug, Default)]
pub(crate) struct Ledger(Mutex<Inner>);

impl Ledger {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Records a code exchange's tokens; returns the flow's number.
    pub(crate) fn exchanged(&self, role: Role, access: Acked, refresh: Option<Acked>) -> usize {
        self.with(|s| {
            s.flows.push(Flow {
                role,
                fate: Fate::Normal,
                access: vec![access],
                refresh_head: refresh,
                rotated: Vec::new(),
                revoked: None,
                replayed: false,
                replay_refused: false,
            });
            s.flows.len() - 1
        })
    }

    /// Records an acknowledged refresh: `old` rotated away at `at_ms`.
    pub(crate) fn refreshed(&self, flow: usize, access: Acked, refresh: Option<Acked>) {
        self.with(|s| {
            let f = &mut s.flows[flow];
            let at_ms = access.at_ms;
            if let Some(old) = f.refresh_head.take() {
                f.rotated.push(Acked {
                    token: old.token,
                    at_ms,
                });
            }
            f.access.push(access);
            f.refresh_head = refresh;
        });
    }

    pub(crate) fn set_fate(&self, flow: usize, fate: Fate) {
        self.with(|s| s.flows[flow].fate = fate);
    }

    pub(crate) fn revoked(&self, flow: usize, what: Revoked) {
        self.with(|s| s.flows[flow].revoked = Some(what));
    }

    /// Offers a finished flow's code or rotated tokens for replay, by its role.
    pub(crate) fn offer(&self, flow: usize, code: Option<(String, String)>) {
        self.with(|s| match s.flows[flow].role {
            Role::CodeReplay => {
                if let Some((code, verifier)) = code {
                    s.codes.push_back(CodeSample {
                        flow,
                        code,
                        verifier,
                        tries: 0,
                    });
                }
            }
            Role::RefreshReplay => {
                let rotated = s.flows[flow].rotated.clone();
                s.rotated.extend(rotated.into_iter().map(|r| RotatedSample {
                    flow,
                    rotated: r,
                    tries: 0,
                }));
            }
            Role::Keep | Role::Revoke => {}
        });
    }

    /// The oldest code waiting for a replay.
    pub(crate) fn take_code(&self) -> Option<CodeSample> {
        self.with(|s| {
            let sample = s.codes.pop_front()?;
            s.flows[sample.flow].replayed = true;
            Some(sample)
        })
    }

    /// The oldest rotated-away refresh token rotated before `before_ms`.
    pub(crate) fn take_rotated(&self, before_ms: u64) -> Option<RotatedSample> {
        self.with(|s| {
            if s.rotated.front()?.rotated.at_ms > before_ms {
                return None;
            }
            let sample = s.rotated.pop_front()?;
            s.flows[sample.flow].replayed = true;
            Some(sample)
        })
    }

    /// A replay that got no definite answer goes back, for a later try.
    pub(crate) fn retry_code(&self, mut sample: CodeSample) {
        sample.tries += 1;
        self.with(|s| s.codes.push_back(sample));
    }

    pub(crate) fn retry_rotated(&self, mut sample: RotatedSample) {
        sample.tries += 1;
        self.with(|s| s.rotated.push_back(sample));
    }

    pub(crate) fn replay_refused(&self, flow: usize) {
        self.with(|s| s.flows[flow].replay_refused = true);
    }

    pub(crate) fn flows(&self) -> Vec<Flow> {
        self.with(|s| s.flows.clone())
    }
}
