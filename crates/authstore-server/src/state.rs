//! [`AppState`]: the store, the OAuth state, users, sessions, limiters and settings every endpoint shares.

use std::sync::Arc;
use std::time::Duration;

use authstore::credentials::Credentials;
use authstore::oauth::OAuth;
use authstore::ratelimit::{Limit, RateLimiter};
use authstore::session::SessionManager;
use authstore::{Clock, SharedClock, Store, SystemClock};

use authstore::audit::{AuditEvent, AuditSink};

use authstore_axum::ClientIp;
use http::request::Parts;

use crate::audit_log::ServerAudit;
use crate::metrics::Metrics;
use crate::settings::Settings;
use authstore::oauth::Client;
use authstore::oauth::cimd::{ResolveError, is_document_url};

/// Everything the endpoints share. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    clock: SharedClock,
    oauth: OAuth,
    credentials: Credentials,
    sessions: SessionManager,
    login_by_ip: RateLimiter,
    login_by_user: RateLimiter,
    page_requests: RateLimiter,
    registrations: RateLimiter,
    machine: crate::machine::MachineLimits,
    client_metadata: Option<authstore::oauth::cimd::ClientMetadataResolver>,
    metrics: Metrics,
    pages: crate::branding::Pages,
    audit: ServerAudit,
    settings: Settings,
}

impl AppState {
    /// The client `client_id` names: for a URL with documents enabled, the
    /// document's client (cached, or fetched now counting against
    /// `requester`, the client IP's rate-limit key); otherwise the stored client.
    ///
    /// # Errors
    /// Why the document was refused, a limit, or a store failure.
    pub(crate) async fn lookup_client(
        &self,
        client_id: &str,
        requester: &str,
    ) -> Result<Option<Client>, ResolveError> {
        match self.client_metadata() {
            Some(resolver) if is_document_url(client_id) => {
                resolver.resolve(client_id, requester).await.map(Some)
            }
            _ => Ok(self.oauth().client(client_id).await?),
        }
    }

    /// State on `store` with the system clock.
    ///
    /// # Errors
    /// Invalid argon2 parameters or limiter namespaces.
    pub fn new(store: Arc<dyn Store>, settings: Settings) -> authstore::Result<Self> {
        Self::with_clock(store, settings, SystemClock)
    }

    /// State on `store`, judging time by `clock` (use the store's).
    ///
    /// # Errors
    /// Invalid argon2 parameters or limiter namespaces.
    pub fn with_clock(
        store: Arc<dyn Store>,
        settings: Settings,
        clock: impl Clock,
    ) -> authstore::Result<Self> {
        Self::build(store, settings, clock, Metrics::new())
    }

    /// State on `store` with the system clock, the store's operations
    /// recorded in the state's [`metrics`](Self::metrics) (as `authstore
    /// serve` runs it).
    ///
    /// # Errors
    /// Invalid argon2 parameters or limiter namespaces.
    pub fn metered(store: Arc<dyn Store>, settings: Settings) -> authstore::Result<Self> {
        let metrics = Metrics::new();
        let store = Arc::new(metrics.meter(store));
        Self::build(store, settings, SystemClock, metrics)
    }

    fn build(
        store: Arc<dyn Store>,
        mut settings: Settings,
        clock: impl Clock,
        metrics: Metrics,
    ) -> authstore::Result<Self> {
        settings.issuer = settings.issuer.trim_end_matches('/').to_owned();
        if settings.jwt_access_tokens {
            settings.oauth.jwt_issuer = Some(settings.issuer.clone());
        }
        settings.oauth.openid = settings.openid;
        if settings.openid {
            settings.oauth.id_token_issuer = Some(settings.issuer.clone());
        } else {
            settings
                .scopes_supported
                .retain(|s| s != authstore::oauth::OPENID_SCOPE);
        }
        crate::resources::align(&mut settings)?;
        let clock: SharedClock = Arc::new(clock);
        let oauth = OAuth::with_config(
            Arc::clone(&store),
            settings.oauth.clone(),
            Arc::clone(&clock),
        )?;
        let credentials = Credentials::with_config(
            Arc::clone(&store),
            settings.credentials.clone(),
            Arc::clone(&clock),
        )?;
        let sessions = SessionManager::with_config(
            Arc::clone(&store),
            settings.sessions.clone(),
            Arc::clone(&clock),
        );
        let per_minute = Limit::per(settings.logins_per_minute.max(1), Duration::from_secs(60));
        let limiter = |limit: Limit, namespace: &str| {
            RateLimiter::with_clock(Arc::clone(&store), limit, Arc::clone(&clock))
                .namespace(namespace)
        };
        let login_by_ip = limiter(per_minute, "rl-login-ip:")?;
        let login_by_user = limiter(per_minute, "rl-login-user:")?;
        // Page loads are counted in a bounded map of this process: an
        // anonymous visitor writes nothing to the store.
        let page_store = authstore::MemoryStore::builder()
            .max_entries(65_536)
            .clock(Arc::clone(&clock))
            .build()?;
        let page_requests = RateLimiter::with_clock(
            Arc::new(page_store),
            Limit::per(
                settings.page_requests_per_minute.max(1),
                Duration::from_secs(60),
            ),
            Arc::clone(&clock),
        )
        .namespace("rl-page-ip:")?;
        let registrations = limiter(
            Limit::per(
                settings.registrations_per_hour.max(1),
                Duration::from_secs(3600),
            ),
            "rl-register:",
        )?;
        let machine = crate::machine::MachineLimits::new(
            settings.machine_requests_per_minute,
            settings.secret_checks_per_ip_per_minute,
            settings.secret_checks_per_minute,
            Arc::clone(&clock),
        )?;
        let client_metadata = crate::client_metadata::effective_config(&settings)
            .map(|config| {
                authstore::oauth::cimd::ClientMetadataResolver::new(oauth.clone(), config)
            })
            .transpose()?;
        let pages = crate::branding::Pages::new(&settings.pages).map_err(|e| {
            tracing::error!(error = %e, "the page templates do not parse");
            authstore::Error::InvalidArgument("the page templates do not parse")
        })?;
        let audit = ServerAudit::new(
            Arc::clone(&store),
            settings.audit_retention,
            Arc::clone(&clock),
        );
        Ok(Self {
            inner: Arc::new(Inner {
                audit,
                store,
                clock,
                oauth,
                credentials,
                sessions,
                login_by_ip,
                login_by_user,
                page_requests,
                registrations,
                machine,
                client_metadata,
                metrics,
                pages,
                settings,
            }),
        })
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The clock.
    pub fn clock(&self) -> &SharedClock {
        &self.inner.clock
    }

    /// The OAuth grant state.
    pub fn oauth(&self) -> &OAuth {
        &self.inner.oauth
    }

    /// Users and passwords.
    pub fn credentials(&self) -> &Credentials {
        &self.inner.credentials
    }

    /// Login sessions of the server's own pages.
    pub fn sessions(&self) -> &SessionManager {
        &self.inner.sessions
    }

    /// Login attempts per client IP.
    pub fn login_by_ip(&self) -> &RateLimiter {
        &self.inner.login_by_ip
    }

    /// Login attempts per (username, client network).
    pub fn login_by_user(&self) -> &RateLimiter {
        &self.inner.login_by_user
    }

    /// Page loads per client IP (in this process's memory, not the store).
    pub fn page_requests(&self) -> &RateLimiter {
        &self.inner.page_requests
    }

    /// Dynamic registrations per client IP.
    pub fn registrations(&self) -> &RateLimiter {
        &self.inner.registrations
    }

    /// The limits on client authentication at the machine endpoints.
    pub fn machine_limits(&self) -> &crate::machine::MachineLimits {
        &self.inner.machine
    }

    /// The resolver of URL client ids (Client ID Metadata Documents), when enabled.
    pub fn client_metadata(&self) -> Option<&authstore::oauth::cimd::ClientMetadataResolver> {
        self.inner.client_metadata.as_ref()
    }

    /// The page templates and brand.
    pub(crate) fn pages(&self) -> &crate::branding::Pages {
        &self.inner.pages
    }

    /// The server's metrics (HTTP, grants, and the store's when [`metered`](Self::metered)).
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The request's client IP, seen through [`Settings::trusted_proxies`].
    pub fn client_ip(&self, parts: &Parts) -> Option<ClientIp> {
        ClientIp::from_parts(parts, &self.inner.settings.trusted_proxies)
    }

    /// The rate-limit key of the request's client IP (IPv6 by /64), or
    /// `ip:unknown` when the server was not given the peer address.
    pub fn client_ip_key(&self, parts: &Parts) -> String {
        self.client_ip(parts)
            .map_or_else(|| "ip:unknown".to_owned(), |ip| ip.key(Some(64)))
    }

    /// The security event log.
    pub fn audit_log(&self) -> &ServerAudit {
        &self.inner.audit
    }

    /// Records a security event in the audit trail; never fails.
    pub async fn audit(&self, event: AuditEvent) {
        let _ = self.inner.audit.record(event).await;
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }
}
