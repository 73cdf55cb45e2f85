//! [`ClientMetadataResolver`]: a URL `client_id` to a client: from the cache when it is there, else by one bounded fetch (per-requester and concurrency limits, concurrent requests for one URL sharing it), cached only when accepted.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::{BoxFuture, Shared};
use parking_lot::Mutex;
use tokio::sync::Semaphore;

use super::fetch::Fetcher;
use super::{
    ClientMetadataConfig, DocumentRefusal, DocumentUrl, ResolveError, cache_key, parse_document,
};
use crate::ext::StoreExt;
use crate::oauth::{Client, OAuth};
use crate::ratelimit::{Limit, RateLimiter};
use crate::types::PutOptions;

type SharedFetch = Shared<BoxFuture<'static, Result<Client, ResolveError>>>;

/// Resolves URL client ids to clients by their metadata documents. Cheap
/// to clone; one per process (its limits and the fetches it shares are
/// in memory).
///
/// ```no_run
/// # async fn f(oauth: authstore::oauth::OAuth) -> Result<(), Box<dyn std::error::Error>> {
/// use authstore::oauth::cimd::{ClientMetadataConfig, ClientMetadataResolver};
/// let resolver = ClientMetadataResolver::new(oauth.clone(), ClientMetadataConfig::default())?;
/// let url = "https://app.example/oauth/client.json";
/// // At /authorize and /token, before the client is looked up:
/// let client = resolver.resolve(url, "ip:203.0.113.7").await?;
/// assert_eq!(oauth.client(url).await?.unwrap().client_id, client.client_id);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ClientMetadataResolver {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    oauth: OAuth,
    config: ClientMetadataConfig,
    fetcher: Fetcher,
    per_requester: RateLimiter,
    slots: Arc<Semaphore>,
    in_flight: Mutex<HashMap<String, SharedFetch>>,
    fetches: AtomicU64,
}

impl ClientMetadataResolver {
    /// A resolver caching in `oauth`'s store and judging time by its clock.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a zero
    /// timeout or fetch limit, or `min_cache` above `max_cache`;
    /// [`Error::Internal`](crate::Error::Internal) if TLS cannot be set up.
    pub fn new(oauth: OAuth, config: ClientMetadataConfig) -> crate::Result<Self> {
        if config.min_cache.is_zero() || config.min_cache > config.max_cache {
            return Err(crate::Error::InvalidArgument(
                "client metadata min_cache must be positive and at most max_cache",
            ));
        }
        if config.fetches_per_minute == 0 || config.max_concurrent_fetches == 0 {
            return Err(crate::Error::InvalidArgument(
                "client metadata fetch limits must be positive",
            ));
        }
        let fetcher = Fetcher::new(config.timeout, &config.extra_roots)?;
        // Counted in a bounded map of this process: anonymous requesters
        // write nothing to the store.
        let counts = crate::MemoryStore::builder()
            .max_entries(65_536)
            .clock(Arc::clone(&oauth.clock))
            .build()?;
        let per_requester = RateLimiter::with_clock(
            Arc::new(counts),
            Limit::per(config.fetches_per_minute, Duration::from_secs(60)),
            Arc::clone(&oauth.clock),
        )
        .namespace("cimd-fetch:")?;
        Ok(Self {
            inner: Arc::new(Inner {
                slots: Arc::new(Semaphore::new(config.max_concurrent_fetches)),
                oauth,
                config,
                fetcher,
                per_requester,
                in_flight: Mutex::new(HashMap::new()),
                fetches: AtomicU64::new(0),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ClientMetadataConfig {
        &self.inner.config
    }

    /// How many documents this resolver has fetched (attempts, refused ones included).
    pub fn fetches(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// The client named by the URL `client_id`: the cached one, or the
    /// one its document describes, fetched now and cached. A client the
    /// operator stored under this very id wins over any document.
    ///
    /// A request that finds nothing cached counts against `requester`'s
    /// [`fetches_per_minute`](ClientMetadataConfig::fetches_per_minute)
    /// (pass the client IP's rate-limit key); requests for a URL being
    /// fetched wait for that fetch instead of starting another.
    ///
    /// # Errors
    /// [`ResolveError::Refused`] with the reason (the URL, the address, the
    /// answer or the document); [`ResolveError::Busy`] past a limit; store errors.
    pub async fn resolve(&self, client_id: &str, requester: &str) -> Result<Client, ResolveError> {
        self.resolve_accepting(client_id, requester, |_| true).await
    }

    /// [`resolve`](Self::resolve) for a request the caller checks against
    /// the client afterwards: a document fetched for this request is cached
    /// only when `accept` approves its client, so a request the document
    /// does not allow (a redirect URI it does not list, say) leaves nothing
    /// cached and the next request fetches the document again. The client
    /// is returned either way, for the caller to refuse the request with
    /// its own error. A request that joins a fetch another request started
    /// gets that fetch's client, cached or not by the other's check.
    ///
    /// # Errors
    /// As [`resolve`](Self::resolve).
    pub async fn resolve_accepting(
        &self,
        client_id: &str,
        requester: &str,
        accept: impl FnOnce(&Client) -> bool + Send + 'static,
    ) -> Result<Client, ResolveError> {
        let inner = &self.inner;
        let parsed = DocumentUrl::parse(client_id, inner.config.allow_loopback);
        if let Some(client) = inner.oauth.client(client_id).await? {
            return Ok(client);
        }
        let url = parsed?;
        let decision = inner
            .per_requester
            .check(requester, 1)
            .await
            .map_err(|e| ResolveError::from(crate::oauth::OAuthError::Store(e)))?;
        if !decision.allowed {
            return Err(ResolveError::Busy {
                reason: "too many client metadata documents were fetched for your network; try again in a minute",
                retry_after: decision.retry_after,
            });
        }
        let fetch = {
            let mut in_flight = inner.in_flight.lock();
            match in_flight.get(client_id) {
                Some(shared) => shared.clone(),
                None => {
                    let Ok(permit) = Arc::clone(&inner.slots).try_acquire_owned() else {
                        return Err(ResolveError::Busy {
                            reason: "the server is fetching too many client metadata documents; try again shortly",
                            retry_after: Duration::from_secs(1),
                        });
                    };
                    let task_inner = Arc::clone(inner);
                    let task = tokio::spawn(async move {
                        let result = task_inner.fetch_and_cache(&url, accept).await;
                        task_inner.in_flight.lock().remove(url.as_str());
                        drop(permit);
                        result
                    });
                    let shared = async move {
                        task.await.unwrap_or_else(|_| {
                            Err(ResolveError::Refused(DocumentRefusal::Unreachable(
                                "the fetch was interrupted".into(),
                            )))
                        })
                    }
                    .boxed()
                    .shared();
                    in_flight.insert(client_id.to_owned(), shared.clone());
                    shared
                }
            }
        };
        fetch.await
    }
}

impl Inner {
    /// Fetches, checks and caches the document (unless a fetch that just
    /// ended cached it). A refused document caches nothing, and neither does
    /// one whose client `accept` refuses.
    async fn fetch_and_cache(
        &self,
        url: &DocumentUrl,
        accept: impl FnOnce(&Client) -> bool,
    ) -> Result<Client, ResolveError> {
        if let Some(client) = self.oauth.cached_document_client(url.as_str()).await? {
            return Ok(client);
        }
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let now_millis = self.oauth.now();
        let now = crate::clock::millis_to_system_time(now_millis);
        let fetched = self.fetcher.fetch(url, now).await?;
        let now_secs = now_millis / 1000;
        let mut client =
            parse_document(url, &fetched.body, self.config.scopes.as_deref(), now_secs)?;
        let ttl = fetched
            .lifetime
            .unwrap_or(Duration::ZERO)
            .clamp(self.config.min_cache, self.config.max_cache);
        client.expires_at = Some(now_secs + ttl.as_secs());
        if !accept(&client) {
            return Ok(client);
        }
        self.oauth
            .store
            .put_json(
                &cache_key(url.as_str()),
                &client,
                PutOptions::new().ttl(ttl),
            )
            .await
            .map_err(|e| ResolveError::from(crate::oauth::OAuthError::Store(e)))?;
        Ok(client)
    }
}
