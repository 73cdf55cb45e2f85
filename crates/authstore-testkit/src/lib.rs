//! Conformance suite and real-server harness for authstore backends.
//!
//! - [`conformance`]: one public async check per behaviour of the
//!   [`Store`](authstore::Store) contract, and [`conformance_suite!`] to run
//!   them all as `#[tokio::test]`s for a backend.
//! - `browser` (feature `browser`): headless Chromium driven by
//!   chromedriver, for end-to-end tests of web pages.
//! - [`harness`]: private `redis-server` and PostgreSQL processes for tests.
//! - [`model`]: a reference model of the [`Store`](authstore::Store)
//!   contract, checked against a backend on generated op sequences
//!   (proptest), with [`model::run_model`] to run it.
//! - [`modules`]: suites of the auth modules (sessions, CSRF, rate limits, API tokens, credentials, audit, OAuth) and
//!   [`modules_suite!`] to run them on a backend.
//! - [`persistence`]: durability across a restart and races between two
//!   stores on one database, for backends that persist.
//!
//! A third-party backend proves itself with:
//!
//! ```text
//! authstore_testkit::conformance_suite!(|prefix: String, clock: authstore::FakeClock| async move {
//!     let store = MyStore::connect(&url).await.unwrap().with_prefix(&prefix).with_clock(clock);
//!     std::sync::Arc::new(store) as std::sync::Arc<dyn authstore::Store>
//! });
//! ```
//! The test crate needs `tokio` (features `macros`, `rt-multi-thread`) as a dev-dependency.

#[cfg(feature = "browser")]
pub mod browser;
pub mod conformance;
mod failing;
pub mod harness;
pub mod model;
pub mod modules;
pub mod persistence;

pub use failing::UnavailableStore;

use std::sync::atomic::{AtomicU64, Ordering};

/// A prefix no other test run uses: `name`, process id, a per-process
/// counter and the start time, so suites can share one server.
pub fn unique_prefix(name: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "t-{name}-{}-{}-{nanos:x}:",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The part of a [`unique_prefix`] that every store of one test shares
/// (`prefix_isolation` opens `{unique}a:` and `{unique}b:`), so a backend
/// can give each test its own schema, file or database.
///
/// ```
/// let p = authstore_testkit::unique_prefix("demo");
/// assert_eq!(authstore_testkit::test_scope(&format!("{p}a:")), p);
/// ```
pub fn test_scope(prefix: &str) -> &str {
    prefix.find(':').map_or(prefix, |i| &prefix[..=i])
}

/// A short SQL identifier (`t_` + 16 hex digits) naming the test that owns `prefix`.
pub fn scope_identifier(prefix: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    test_scope(prefix).hash(&mut h);
    format!("t_{:016x}", h.finish())
}

/// Instantiates every conformance check as a `#[tokio::test]`.
///
/// The argument is an expression callable as
/// `open(prefix: String, clock: FakeClock) -> impl Future<Output = Arc<dyn Store>>`:
/// it must return a store with that key prefix, judging expiry by `clock`,
/// and stores opened with different prefixes must share the same backing
/// storage (the same server, or the same memory engine) so that prefix
/// isolation is really tested.
#[macro_export]
macro_rules! conformance_suite {
    ($open:expr) => {
        $crate::__conformance_tests!($open;
            // basic
            get_missing_is_none, put_then_get_round_trips, binary_values_round_trip,
            upsert_overwrites_and_bumps_version, put_with_ttl_reports_expiry,
            put_without_ttl_clears_ttl, ttl_expiry_hides_entry,
            touch_extends_ttl_keeping_value_and_version, touch_can_shorten_ttl,
            touch_missing_or_expired_is_false, create_only_creates_absent,
            create_only_collision_changes_nothing, create_only_after_expiry_succeeds,
            update_only_missing_is_not_found, update_only_after_delete_does_not_resurrect,
            update_only_after_expiry_does_not_resurrect, update_only_live_updates,
            if_version_match_writes, if_version_conflict_changes_nothing,
            if_version_missing_is_not_found, take_is_single_use, delete_reports_removal,
            put_many_reports_each_item_as_put_would, get_inline_agrees_with_get,
            // commit
            commit_writes_every_put_when_all_conditions_hold,
            commit_failed_condition_writes_nothing, commit_rejects_bad_arguments,
            concurrent_commits_have_one_winner,
            // counters and rate limits
            incr_creates_with_ttl, incr_keeps_ttl_of_existing, incr_negative_decrements,
            incr_after_expiry_restarts, counter_reads_as_decimal,
            incr_non_counter_is_typed_error, incr_accepts_only_canonical_decimals,
            incr_overflow_changes_nothing,
            gcra_burst_then_deny, gcra_recovers_over_time, gcra_cost_and_query,
            gcra_inline_agrees_with_gcra,
            // indexes
            index_lists_members, index_multiple_keys_per_entry, index_excludes_expired,
            index_follows_delete_and_take, index_follows_rewrite,
            delete_index_removes_members_only, delete_index_spares_rewritten_entries,
            delete_index_with_expired_members, index_recreate_after_expiry,
            // scan, purge, stats, health
            scan_pages_cover_every_entry_once, scan_filters_by_prefix, scan_skips_expired,
            scan_shows_counters, scan_rejects_bad_arguments, purge_expired_counts_and_limits,
            stats_count_operations, stats_expirations_are_counted, health_is_ok,
            capabilities_name_the_backend,
            // validation
            invalid_keys_are_rejected_everywhere, invalid_index_keys_are_rejected,
            oversize_value_is_rejected, zero_ttl_is_rejected, unicode_and_colon_keys_work,
            // concurrency
            concurrent_take_has_one_winner, concurrent_incr_sums_exactly,
            concurrent_if_version_has_one_winner_per_version,
            concurrent_create_only_has_one_winner, concurrent_gcra_admits_exactly_the_burst,
            concurrent_index_upkeep_is_consistent, concurrent_list_while_creating_loses_nothing,
        );

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn prefix_isolation() {
            let clock = ::authstore::FakeClock::new();
            let prefix = $crate::unique_prefix("prefix_isolation");
            let a = ($open)(format!("{prefix}a:"), clock.clone()).await;
            let b = ($open)(format!("{prefix}b:"), clock.clone()).await;
            $crate::conformance::prefix_isolation(&*a, &*b, &clock).await;
        }
    };
}

/// Emits one test per check name; used by [`conformance_suite!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($open:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let clock = ::authstore::FakeClock::new();
                let store = ($open)($crate::unique_prefix(stringify!($check)), clock.clone()).await;
                $crate::conformance::$check(&*store, &clock).await;
            }
        )*
    };
}

/// Instantiates every auth-module check (sessions, CSRF, rate limits, API tokens, credentials, audit, OAuth) as a
/// `#[tokio::test]`, with the same `open` as [`conformance_suite!`].
#[macro_export]
macro_rules! modules_suite {
    ($open:expr) => {
        $crate::__module_tests!($open; session;
            session_ids_are_random_hashed_and_redacted, session_concurrent_writers_conflict,
            session_save_after_destroy_does_not_resurrect, session_idle_timeout_and_throttled_touch,
            session_absolute_lifetime_caps_activity, session_login_regenerates_the_id,
            session_concurrent_regenerate_has_one_winner, session_per_user_revocation,
            session_max_per_user_evicts_the_oldest, session_size_limit_is_typed,
            session_stats_count,
        );
        $crate::__module_tests!($open; csrf;
            csrf_one_time_token_is_accepted_once, csrf_reusable_token_is_bound_and_expires,
            csrf_session_token_ends_with_the_session,
        );
        $crate::__module_tests!($open; tokens;
            tokens_verify_and_store_only_hashes, tokens_expire, tokens_list_and_revoke,
        );
        $crate::__module_tests!($open; credentials;
            credentials_register_and_authenticate, credentials_unknown_user_takes_the_same_path,
            credentials_lockout_after_failures, credentials_operator_actions,
        );
        $crate::__module_tests!($open; audit;
            audit_events_from_modules_are_queryable, audit_retention_and_disabled_sink,
        );
        $crate::__module_tests!($open; ratelimit;
            ratelimit_gcra_admits_exactly, ratelimit_fixed_window_admits_exactly,
            ratelimit_sliding_window_weighs_the_previous_window, ratelimit_blocked_keys_skip_the_store,
            ratelimit_several_limits_are_all_or_nothing, ratelimit_blocks_escalate,
            ratelimit_penalty_reward_and_quota,
        );
        $crate::__module_tests!($open; oauth_codes;
            oauth_code_flow_public_and_confidential, oauth_redirect_uri_is_checked_at_issue_and_exchange,
            oauth_pkce_is_required_and_checked, oauth_code_reuse_revokes_the_grant,
            oauth_expired_code_is_refused, oauth_code_of_another_client_is_invalid_grant,
            oauth_code_read_ahead_redeems_as_a_fresh_read,
        );
        $crate::__module_tests!($open; oauth_refresh;
            oauth_revoke_checks_the_client, oauth_refresh_reuse_revokes_the_grant,
            oauth_refresh_retry_within_grace_keeps_one_chain, oauth_revoking_a_refresh_token_revokes_the_grant,
            oauth_refresh_scope_can_narrow_not_widen, oauth_refresh_keeps_the_grant_alive,
        );
        $crate::__module_tests!($open; oauth_inputs; oauth_garbage_inputs_are_errors);
        $crate::__module_tests!($open; oauth_untagged; oauth_grants_from_before_tagged_keys_keep_working);
        $crate::__module_tests!($open; oauth_clients;
            oauth_client_authentication, oauth_remembered_secret_follows_the_stored_client,
            oauth_client_debug_hides_secrets, oauth_client_credentials_grant,
        );
        $crate::__module_tests!($open; oauth_client_admin; oauth_client_operator_actions);
        $crate::__module_tests!($open; oauth_consent; oauth_consent_is_remembered_and_revoked);
        $crate::__module_tests!($open; oauth_grants;
            oauth_grants_are_listed_and_revoked_by_user_and_client,
            oauth_grants_show_their_last_use_and_leave_when_expired, oauth_erase_user_leaves_nothing_behind,
        );
        $crate::__module_tests!($open; oauth_races;
            oauth_concurrent_code_redemption_has_one_winner,
            oauth_concurrent_refresh_within_grace_keeps_one_chain,
            oauth_concurrent_refresh_without_grace_revokes_the_grant,
        );
        $crate::__module_tests!($open; oauth_resources;
            oauth_resources_unknown_is_invalid_target, oauth_resources_exchange_picks_one,
            oauth_resources_refresh_narrows_never_widens, oauth_resources_read_earlier_grants,
        );

        /// Two store instances opened with the same prefix share the backend.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn ratelimit_two_stores_admit_exactly_the_limit() {
            let clock = ::authstore::FakeClock::new();
            let prefix = $crate::unique_prefix("ratelimit_two_stores");
            let a = ($open)(prefix.clone(), clock.clone()).await;
            let b = ($open)(prefix, clock.clone()).await;
            $crate::modules::ratelimit::ratelimit_two_stores_admit_exactly_the_limit(a, b, clock).await;
        }

        /// Two store instances opened with the same prefix race to redeem one OAuth code.
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn oauth_two_stores_redeem_a_code_once() {
            let clock = ::authstore::FakeClock::new();
            let prefix = $crate::unique_prefix("oauth_two_stores");
            let a = ($open)(prefix.clone(), clock.clone()).await;
            let b = ($open)(prefix, clock.clone()).await;
            $crate::modules::oauth_races::oauth_two_stores_redeem_a_code_once(a, b, clock).await;
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __module_tests {
    ($open:expr; $module:ident; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let clock = ::authstore::FakeClock::new();
                let store = ($open)($crate::unique_prefix(stringify!($check)), clock.clone()).await;
                $crate::modules::$module::$check(store, clock).await;
            }
        )*
    };
}
