//! [`Check`], the future of [`RateLimiter::check`](super::RateLimiter::check): ready at once when the store answers in place.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::Decision;
use crate::error::Result;

type Waiting<'a> = Pin<Box<dyn Future<Output = Result<Decision>> + Send + 'a>>;

/// The future of one [`RateLimiter::check`](super::RateLimiter::check).
///
/// A check the store answered in place (the memory store, one GCRA limit,
/// no extras) is already decided: polling it once returns the decision,
/// and nothing was allocated. Any other check is a boxed future that
/// waits for the store.
#[must_use = "a check does nothing until it is awaited"]
pub struct Check<'a>(State<'a>);

enum State<'a> {
    Ready(Option<Result<Decision>>),
    Waiting(Waiting<'a>),
}

impl<'a> Check<'a> {
    pub(super) fn ready(result: Result<Decision>) -> Self {
        Self(State::Ready(Some(result)))
    }

    pub(super) fn waiting(future: impl Future<Output = Result<Decision>> + Send + 'a) -> Self {
        Self(State::Waiting(Box::pin(future)))
    }
}

impl Future for Check<'_> {
    type Output = Result<Decision>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().0 {
            State::Ready(result) => Poll::Ready(
                result
                    .take()
                    .expect("a rate-limit check polled after it completed"),
            ),
            State::Waiting(future) => future.as_mut().poll(cx),
        }
    }
}

impl std::fmt::Debug for Check<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.0 {
            State::Ready(Some(_)) => "ready",
            State::Ready(None) => "done",
            State::Waiting(_) => "waiting",
        };
        f.debug_tuple("Check").field(&state).finish()
    }
}
