//! Checks of [`authstore::session`] on any store: ids, versioned saves, expiry, regeneration, per-user operations.

use std::sync::Arc;
use std::time::Duration;

use authstore::session::{SessionConfig, SessionId, SessionManager, SessionMeta, SessionUser};
use authstore::{Error, FakeClock, Store};

use crate::conformance::{pass_time, run_parallel};

/// Idle timeout of the expiry checks: short, because server-clock backends wait it out.
const IDLE: Duration = Duration::from_millis(1000);

fn manager(store: &Arc<dyn Store>, clock: &FakeClock, config: SessionConfig) -> SessionManager {
    SessionManager::with_config(Arc::clone(store), config, clock.clone())
}

fn meta(device: &str) -> SessionMeta {
    SessionMeta {
        ip: Some("192.0.2.7".into()),
        user_agent: Some("test-agent".into()),
        device: Some(device.into()),
    }
}

/// Ids are 43 base64url characters; only their SHA-256 reaches the store;
/// Debug output never shows them; a forged cookie is rejected before the store.
pub async fn session_ids_are_random_hashed_and_redacted(store: Arc<dyn Store>, clock: FakeClock) {
    let sessions = manager(&store, &clock, SessionConfig::default());
    let a = sessions.create(None, SessionMeta::default()).await.unwrap();
    let b = sessions.create(None, SessionMeta::default()).await.unwrap();
    let id = a.id().expose().to_owned();
    assert_eq!(id.len(), 43);
    assert_ne!(id, b.id().expose());
    assert!(
        !format!("{a:?} {:?}", a.id()).contains(&id),
        "Debug leaks the id"
    );
    let mut cursor = None;
    loop {
        let page = store.scan("", cursor.as_deref(), 100).await.unwrap();
        for e in &page.entries {
            assert!(!e.key.contains(&id), "the raw id is a key: {}", e.key);
            assert!(
                !String::from_utf8_lossy(&e.value).contains(&id),
                "the raw id is stored"
            );
        }
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert!(
        store
            .exists(&format!("session:{}", a.handle().as_str()))
            .await
            .unwrap()
    );
    for forged in [
        "",
        "../../etc",
        "x".repeat(44).as_str(),
        &format!("{}=", &id[1..]),
    ] {
        assert!(SessionId::parse(forged).is_none(), "{forged:?}");
    }
}

/// Data survives a save and a load; a second writer with a stale copy gets a conflict.
pub async fn session_concurrent_writers_conflict(store: Arc<dyn Store>, clock: FakeClock) {
    let sessions = manager(&store, &clock, SessionConfig::default());
    let mut s = sessions.create(None, meta("laptop")).await.unwrap();
    s.insert("n", 1).unwrap();
    sessions.save(&mut s).await.unwrap();
    let mut first = sessions.load(s.id()).await.unwrap().unwrap();
    let mut second = sessions.load(s.id()).await.unwrap().unwrap();
    assert_eq!(first.get::<i32>("n").unwrap(), Some(1));
    first.insert("n", 2).unwrap();
    second.insert("n", 3).unwrap();
    sessions.save(&mut first).await.unwrap();
    let err = sessions.save(&mut second).await.unwrap_err();
    assert!(matches!(err, Error::VersionConflict { .. }), "{err:?}");
    let now = sessions.load(s.id()).await.unwrap().unwrap();
    assert_eq!(
        now.get::<i32>("n").unwrap(),
        Some(2),
        "the first write stands"
    );
    assert_eq!(now.meta().device.as_deref(), Some("laptop"));
}

/// A request still in flight when the session is destroyed cannot bring it back.
pub async fn session_save_after_destroy_does_not_resurrect(
    store: Arc<dyn Store>,
    clock: FakeClock,
) {
    let sessions = manager(&store, &clock, SessionConfig::default());
    let s = sessions
        .create(Some(SessionUser::new("u1")), SessionMeta::default())
        .await
        .unwrap();
    let mut in_flight = sessions.load(s.id()).await.unwrap().unwrap();
    assert!(sessions.destroy(s.id()).await.unwrap());
    in_flight.insert("late", true).unwrap();
    let err = sessions.save(&mut in_flight).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert!(sessions.load(s.id()).await.unwrap().is_none());
    assert!(sessions.list_for_user("u1").await.unwrap().is_empty());
}

/// An idle session expires; reads extend it, but only once less than half the timeout remains.
pub async fn session_idle_timeout_and_throttled_touch(store: Arc<dyn Store>, clock: FakeClock) {
    let config = SessionConfig {
        idle_timeout: IDLE,
        touch_below: 0.5,
        ..SessionConfig::default()
    };
    let sessions = manager(&store, &clock, config);
    let s = sessions.create(None, SessionMeta::default()).await.unwrap();
    let created_expiry = s.expires_at().unwrap();
    pass_time(&*store, &clock, Duration::from_millis(300)).await;
    // Server-clock backends report expiry from their own clock: allow jitter.
    let moved = |at: std::time::SystemTime| at.duration_since(created_expiry).unwrap_or_default();
    let read = sessions.load(s.id()).await.unwrap().unwrap();
    assert!(
        moved(read.expires_at().unwrap()) < Duration::from_millis(100),
        "70% left: no touch"
    );
    pass_time(&*store, &clock, Duration::from_millis(350)).await;
    let read = sessions.load(s.id()).await.unwrap().unwrap();
    assert!(
        moved(read.expires_at().unwrap()) > Duration::from_millis(500),
        "35% left: touched"
    );
    pass_time(&*store, &clock, Duration::from_millis(700)).await;
    assert!(
        sessions.load(s.id()).await.unwrap().is_some(),
        "the touch extended it"
    );
    pass_time(&*store, &clock, IDLE + Duration::from_millis(200)).await;
    assert!(
        sessions.load(s.id()).await.unwrap().is_none(),
        "idle past the timeout"
    );
}

/// However active, a session ends at its absolute lifetime.
pub async fn session_absolute_lifetime_caps_activity(store: Arc<dyn Store>, clock: FakeClock) {
    let config = SessionConfig {
        idle_timeout: IDLE,
        absolute_lifetime: Duration::from_millis(1800),
        touch_below: 1.0,
        ..SessionConfig::default()
    };
    let sessions = manager(&store, &clock, config);
    let s = sessions.create(None, SessionMeta::default()).await.unwrap();
    for _ in 0..3 {
        pass_time(&*store, &clock, Duration::from_millis(500)).await;
        assert!(
            sessions.load(s.id()).await.unwrap().is_some(),
            "active and within its lifetime"
        );
    }
    pass_time(&*store, &clock, Duration::from_millis(400)).await;
    assert!(
        sessions.load(s.id()).await.unwrap().is_none(),
        "past the absolute end"
    );
}

/// Login moves the data to a new id, kills the old one, and lists the session under its user.
pub async fn session_login_regenerates_the_id(store: Arc<dyn Store>, clock: FakeClock) {
    let sessions = manager(&store, &clock, SessionConfig::default());
    let mut s = sessions.create(None, meta("phone")).await.unwrap();
    s.insert("cart", vec![1, 2]).unwrap();
    sessions.save(&mut s).await.unwrap();
    let old = s.id().clone();
    sessions
        .login(
            &mut s,
            SessionUser {
                id: "u7".into(),
                email: Some("a@example.com".into()),
                roles: vec!["admin".into()],
            },
        )
        .await
        .unwrap();
    assert_ne!(s.id(), &old);
    assert!(
        sessions.load(&old).await.unwrap().is_none(),
        "the pre-login id is dead"
    );
    let now = sessions.load(s.id()).await.unwrap().unwrap();
    assert_eq!(now.get::<Vec<i32>>("cart").unwrap(), Some(vec![1, 2]));
    assert_eq!(now.user().unwrap().roles, vec!["admin".to_string()]);
    let listed = sessions.list_for_user("u7").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].handle, s.handle());
    assert_eq!(listed[0].meta.device.as_deref(), Some("phone"));
}

/// Of many concurrent regenerations of one session, exactly one succeeds.
pub async fn session_concurrent_regenerate_has_one_winner(store: Arc<dyn Store>, clock: FakeClock) {
    let sessions = manager(&store, &clock, SessionConfig::default());
    let s = sessions.create(None, SessionMeta::default()).await.unwrap();
    let outcomes = run_parallel(50, |_| {
        let (sessions, mut copy) = (sessions.clone(), s.clone());
        async move { sessions.regenerate(&mut copy).await.map(|()| copy) }
    });
    let winners: Vec<_> = outcomes.into_iter().filter_map(Result::ok).collect();
    assert_eq!(winners.len(), 1, "one regeneration wins");
    assert!(sessions.load(winners[0].id()).await.unwrap().is_some());
    assert!(sessions.load(s.id()).await.unwrap().is_none());
}

/// Revoke one session, all but the current one, or all of them.
pub async fn session_per_user_revocation(store: Arc<dyn Store>, clock: FakeClock) {
    let sessions = manager(&store, &clock, SessionConfig::default());
    let user = || Some(SessionUser::new("u1"));
    let mut mine = Vec::new();
    for device in ["a", "b", "c", "d"] {
        mine.push(sessions.create(user(), meta(device)).await.unwrap());
        clock.advance(Duration::from_millis(5));
    }
    let other = sessions
        .create(Some(SessionUser::new("u2")), SessionMeta::default())
        .await
        .unwrap();
    let listed = sessions.list_for_user("u1").await.unwrap();
    let devices: Vec<_> = listed
        .iter()
        .filter_map(|i| i.meta.device.clone())
        .collect();
    assert_eq!(devices, ["a", "b", "c", "d"], "oldest first, with metadata");
    assert!(sessions.revoke(&mine[0].handle()).await.unwrap());
    assert!(
        !sessions.revoke(&mine[0].handle()).await.unwrap(),
        "already gone"
    );
    assert_eq!(
        sessions
            .revoke_all_but("u1", &mine[2].handle())
            .await
            .unwrap(),
        2
    );
    let left = sessions.list_for_user("u1").await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].handle, mine[2].handle());
    assert_eq!(sessions.revoke_all("u1").await.unwrap(), 1);
    assert!(sessions.load(mine[2].id()).await.unwrap().is_none());
    assert!(
        sessions.load(other.id()).await.unwrap().is_some(),
        "other users untouched"
    );
}

/// With a per-user maximum, creating one more ends the oldest.
pub async fn session_max_per_user_evicts_the_oldest(store: Arc<dyn Store>, clock: FakeClock) {
    let config = SessionConfig {
        max_per_user: Some(2),
        ..SessionConfig::default()
    };
    let sessions = manager(&store, &clock, config);
    let mut created = Vec::new();
    for device in ["first", "second", "third"] {
        created.push(
            sessions
                .create(Some(SessionUser::new("u3")), meta(device))
                .await
                .unwrap(),
        );
        clock.advance(Duration::from_millis(5));
    }
    assert!(
        sessions.load(created[0].id()).await.unwrap().is_none(),
        "the oldest was ended"
    );
    let devices: Vec<_> = sessions
        .list_for_user("u3")
        .await
        .unwrap()
        .into_iter()
        .filter_map(|i| i.meta.device)
        .collect();
    assert_eq!(devices, ["second", "third"]);
}

/// An oversize session is a typed error and nothing is written.
pub async fn session_size_limit_is_typed(store: Arc<dyn Store>, clock: FakeClock) {
    let config = SessionConfig {
        max_size: 2048,
        ..SessionConfig::default()
    };
    let sessions = manager(&store, &clock, config);
    let mut s = sessions.create(None, SessionMeta::default()).await.unwrap();
    let version = s.version();
    s.insert("blob", "x".repeat(4096)).unwrap();
    let err = sessions.save(&mut s).await.unwrap_err();
    assert!(matches!(err, Error::ValueTooLarge { .. }), "{err:?}");
    let stored = sessions.load(s.id()).await.unwrap().unwrap();
    assert_eq!(stored.version(), version, "nothing written");
    assert!(stored.data().is_empty());
}

/// Stats count stored sessions, creations and destructions.
pub async fn session_stats_count(store: Arc<dyn Store>, clock: FakeClock) {
    let sessions = manager(&store, &clock, SessionConfig::default());
    let a = sessions.create(None, SessionMeta::default()).await.unwrap();
    sessions.create(None, SessionMeta::default()).await.unwrap();
    sessions.destroy(a.id()).await.unwrap();
    let stats = sessions.stats().await.unwrap();
    assert_eq!((stats.active, stats.created, stats.destroyed), (1, 2, 1));
}
