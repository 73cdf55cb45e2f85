//! Checks of get, put and its modes, take, delete, exists, touch and expiry.

use std::time::Duration;

use authstore::{Error, FakeClock, PutItem, PutOptions, Store};

use super::{SHORT_TTL, assert_expires_in, pass_time};

/// A missing key reads as `None` and does not exist.
pub async fn get_missing_is_none(store: &dyn Store, _clock: &FakeClock) {
    assert!(store.get("item:missing").await.unwrap().is_none());
    assert!(!store.exists("item:missing").await.unwrap());
}

/// A put is read back with its bytes, version 1 and no expiry.
pub async fn put_then_get_round_trips(store: &dyn Store, _clock: &FakeClock) {
    let version = store
        .put("item:a", b"hello", PutOptions::new())
        .await
        .unwrap();
    assert_eq!(version, 1, "a created entry has version 1");
    let entry = store.get("item:a").await.unwrap().expect("entry present");
    assert_eq!(&entry.value[..], b"hello");
    assert_eq!(entry.version, 1);
    assert_eq!(entry.expires_at, None, "no TTL means no expiry");
    assert!(store.exists("item:a").await.unwrap());
}

/// Empty and arbitrary binary values survive unchanged.
pub async fn binary_values_round_trip(store: &dyn Store, _clock: &FakeClock) {
    let all_bytes: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
    store
        .put("bin:all", &all_bytes, PutOptions::new())
        .await
        .unwrap();
    store
        .put("bin:empty", b"", PutOptions::new())
        .await
        .unwrap();
    store
        .put("bin:json", br#"{"a":[1,2]}"#, PutOptions::new())
        .await
        .unwrap();
    assert_eq!(
        &store.get("bin:all").await.unwrap().unwrap().value[..],
        &all_bytes[..]
    );
    assert!(
        store
            .get("bin:empty")
            .await
            .unwrap()
            .unwrap()
            .value
            .is_empty()
    );
    assert_eq!(
        &store.get("bin:json").await.unwrap().unwrap().value[..],
        br#"{"a":[1,2]}"#
    );
}

/// Upsert overwrites and every write returns a greater version.
pub async fn upsert_overwrites_and_bumps_version(store: &dyn Store, _clock: &FakeClock) {
    let v1 = store
        .put("item:u", b"one", PutOptions::new())
        .await
        .unwrap();
    let v2 = store
        .put("item:u", b"two", PutOptions::new())
        .await
        .unwrap();
    let v3 = store
        .put("item:u", b"three", PutOptions::new())
        .await
        .unwrap();
    assert!(v1 < v2 && v2 < v3, "versions must increase: {v1} {v2} {v3}");
    let entry = store.get("item:u").await.unwrap().unwrap();
    assert_eq!(&entry.value[..], b"three");
    assert_eq!(entry.version, v3);
}

/// A put with a TTL reports the matching expiry.
pub async fn put_with_ttl_reports_expiry(store: &dyn Store, clock: &FakeClock) {
    let ttl = Duration::from_secs(3600);
    store
        .put("item:t", b"x", PutOptions::new().ttl(ttl))
        .await
        .unwrap();
    let entry = store.get("item:t").await.unwrap().unwrap();
    assert_expires_in(store, clock, entry.expires_at, ttl, "put with ttl");
}

/// A put without a TTL clears the TTL the entry had.
pub async fn put_without_ttl_clears_ttl(store: &dyn Store, _clock: &FakeClock) {
    store
        .put(
            "item:c",
            b"x",
            PutOptions::new().ttl(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    store.put("item:c", b"y", PutOptions::new()).await.unwrap();
    assert_eq!(store.get("item:c").await.unwrap().unwrap().expires_at, None);
}

/// Once its TTL passes an entry is gone for get, exists, take and delete.
pub async fn ttl_expiry_hides_entry(store: &dyn Store, clock: &FakeClock) {
    for key in ["exp:get", "exp:take", "exp:del"] {
        store
            .put(key, b"x", PutOptions::new().ttl(SHORT_TTL))
            .await
            .unwrap();
    }
    store
        .put("exp:forever", b"x", PutOptions::new())
        .await
        .unwrap();
    assert!(
        store.exists("exp:get").await.unwrap(),
        "live before the TTL"
    );
    pass_time(store, clock, SHORT_TTL + Duration::from_millis(100)).await;
    assert!(
        store.get("exp:get").await.unwrap().is_none(),
        "get after expiry"
    );
    assert!(
        !store.exists("exp:get").await.unwrap(),
        "exists after expiry"
    );
    assert!(
        store.take("exp:take").await.unwrap().is_none(),
        "take after expiry"
    );
    assert!(
        !store.delete("exp:del").await.unwrap(),
        "delete after expiry reports nothing deleted"
    );
    assert!(
        store.exists("exp:forever").await.unwrap(),
        "entries without TTL stay"
    );
}

/// `touch` moves expiry forward without changing value or version.
pub async fn touch_extends_ttl_keeping_value_and_version(store: &dyn Store, clock: &FakeClock) {
    let v = store
        .put("touch:a", b"keep", PutOptions::new().ttl(SHORT_TTL))
        .await
        .unwrap();
    let longer = Duration::from_secs(3600);
    assert!(
        store.touch("touch:a", longer).await.unwrap(),
        "touch of a live entry"
    );
    pass_time(store, clock, SHORT_TTL + Duration::from_millis(100)).await;
    let entry = store
        .get("touch:a")
        .await
        .unwrap()
        .expect("touch kept it alive");
    assert_eq!(&entry.value[..], b"keep");
    assert_eq!(entry.version, v, "touch does not change the version");
    let left = longer - SHORT_TTL - Duration::from_millis(100);
    assert_expires_in(store, clock, entry.expires_at, left, "after touch");
}

/// `touch` can also shorten a TTL.
pub async fn touch_can_shorten_ttl(store: &dyn Store, clock: &FakeClock) {
    store
        .put(
            "touch:s",
            b"x",
            PutOptions::new().ttl(Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    assert!(store.touch("touch:s", SHORT_TTL).await.unwrap());
    pass_time(store, clock, SHORT_TTL + Duration::from_millis(100)).await;
    assert!(
        !store.exists("touch:s").await.unwrap(),
        "shortened TTL applies"
    );
}

/// `touch` of a missing or expired entry is false and creates nothing.
pub async fn touch_missing_or_expired_is_false(store: &dyn Store, clock: &FakeClock) {
    assert!(
        !store
            .touch("touch:none", Duration::from_secs(5))
            .await
            .unwrap()
    );
    assert!(
        !store.exists("touch:none").await.unwrap(),
        "touch must not create"
    );
    store
        .put("touch:old", b"x", PutOptions::new().ttl(SHORT_TTL))
        .await
        .unwrap();
    pass_time(store, clock, SHORT_TTL + Duration::from_millis(100)).await;
    assert!(
        !store
            .touch("touch:old", Duration::from_secs(5))
            .await
            .unwrap()
    );
    assert!(
        store.get("touch:old").await.unwrap().is_none(),
        "touch must not revive"
    );
}

/// `CreateOnly` on a fresh key creates it.
pub async fn create_only_creates_absent(store: &dyn Store, _clock: &FakeClock) {
    let v = store
        .put("co:new", b"1", PutOptions::new().create_only())
        .await
        .unwrap();
    assert_eq!(v, 1);
    assert_eq!(&store.get("co:new").await.unwrap().unwrap().value[..], b"1");
}

/// `CreateOnly` over a live entry is `AlreadyExists` and changes nothing.
pub async fn create_only_collision_changes_nothing(store: &dyn Store, _clock: &FakeClock) {
    let v = store
        .put(
            "co:x",
            b"first",
            PutOptions::new().ttl(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let err = store
        .put("co:x", b"second", PutOptions::new().create_only())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::AlreadyExists { ref key } if key == "co:x"),
        "got {err:?}"
    );
    let entry = store.get("co:x").await.unwrap().unwrap();
    assert_eq!(&entry.value[..], b"first");
    assert_eq!(entry.version, v);
    assert!(entry.expires_at.is_some(), "the TTL is untouched");
}

/// `CreateOnly` over an expired entry succeeds as a fresh create.
pub async fn create_only_after_expiry_succeeds(store: &dyn Store, clock: &FakeClock) {
    store
        .put("co:e", b"old", PutOptions::new().ttl(SHORT_TTL))
        .await
        .unwrap();
    pass_time(store, clock, SHORT_TTL + Duration::from_millis(100)).await;
    let v = store
        .put("co:e", b"new", PutOptions::new().create_only())
        .await
        .unwrap();
    assert_eq!(v, 1, "an expired entry is absent, so this is a creation");
    assert_eq!(&store.get("co:e").await.unwrap().unwrap().value[..], b"new");
}

/// `UpdateOnly` on a key never written is `NotFound` and creates nothing.
pub async fn update_only_missing_is_not_found(store: &dyn Store, _clock: &FakeClock) {
    let err = store
        .put("uo:none", b"x", PutOptions::new().update_only())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "got {err:?}");
    assert!(!store.exists("uo:none").await.unwrap());
}

/// `UpdateOnly` never resurrects a deleted entry (logout wins over in-flight saves).
pub async fn update_only_after_delete_does_not_resurrect(store: &dyn Store, _clock: &FakeClock) {
    store
        .put("uo:s", b"session", PutOptions::new())
        .await
        .unwrap();
    assert!(store.delete("uo:s").await.unwrap());
    let err = store
        .put("uo:s", b"late save", PutOptions::new().update_only())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "got {err:?}");
    assert!(
        store.get("uo:s").await.unwrap().is_none(),
        "deleted entry stays deleted"
    );
}

/// `UpdateOnly` never resurrects an expired entry.
pub async fn update_only_after_expiry_does_not_resurrect(store: &dyn Store, clock: &FakeClock) {
    store
        .put("uo:e", b"x", PutOptions::new().ttl(SHORT_TTL))
        .await
        .unwrap();
    pass_time(store, clock, SHORT_TTL + Duration::from_millis(100)).await;
    let err = store
        .put("uo:e", b"y", PutOptions::new().update_only())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "got {err:?}");
    assert!(store.get("uo:e").await.unwrap().is_none());
}

/// `UpdateOnly` on a live entry writes and bumps the version.
pub async fn update_only_live_updates(store: &dyn Store, _clock: &FakeClock) {
    let v1 = store.put("uo:l", b"a", PutOptions::new()).await.unwrap();
    let v2 = store
        .put("uo:l", b"b", PutOptions::new().update_only())
        .await
        .unwrap();
    assert!(v2 > v1);
    assert_eq!(&store.get("uo:l").await.unwrap().unwrap().value[..], b"b");
}

/// `IfVersion` with the current version writes; the old version then conflicts.
pub async fn if_version_match_writes(store: &dyn Store, _clock: &FakeClock) {
    let v1 = store.put("cas:a", b"1", PutOptions::new()).await.unwrap();
    let v2 = store
        .put("cas:a", b"2", PutOptions::new().if_version(v1))
        .await
        .unwrap();
    assert!(v2 > v1);
    let err = store
        .put("cas:a", b"3", PutOptions::new().if_version(v1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::VersionConflict { expected, actual, .. } if expected == v1 && actual == v2),
        "got {err:?}"
    );
}

/// An `IfVersion` conflict leaves value, version and TTL as they were.
pub async fn if_version_conflict_changes_nothing(store: &dyn Store, _clock: &FakeClock) {
    let v = store
        .put(
            "cas:b",
            b"orig",
            PutOptions::new().ttl(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let err = store
        .put("cas:b", b"new", PutOptions::new().if_version(v + 7))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::VersionConflict { .. }), "got {err:?}");
    let entry = store.get("cas:b").await.unwrap().unwrap();
    assert_eq!((&entry.value[..], entry.version), (&b"orig"[..], v));
    assert!(entry.expires_at.is_some());
}

/// `IfVersion` on a missing or deleted entry is `NotFound`.
pub async fn if_version_missing_is_not_found(store: &dyn Store, _clock: &FakeClock) {
    let err = store
        .put("cas:none", b"x", PutOptions::new().if_version(1))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "got {err:?}");
    let v = store.put("cas:d", b"x", PutOptions::new()).await.unwrap();
    store.delete("cas:d").await.unwrap();
    let err = store
        .put("cas:d", b"x", PutOptions::new().if_version(v))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "got {err:?}");
    assert!(!store.exists("cas:d").await.unwrap());
}

/// `take` returns the entry once, then nothing.
pub async fn take_is_single_use(store: &dyn Store, clock: &FakeClock) {
    let ttl = Duration::from_secs(600);
    store
        .put("code:1", b"grant", PutOptions::new().ttl(ttl))
        .await
        .unwrap();
    let taken = store
        .take("code:1")
        .await
        .unwrap()
        .expect("first take gets it");
    assert_eq!(&taken.value[..], b"grant");
    assert_eq!(taken.version, 1);
    assert_expires_in(store, clock, taken.expires_at, ttl, "taken entry");
    assert!(
        store.take("code:1").await.unwrap().is_none(),
        "second take gets nothing"
    );
    assert!(!store.exists("code:1").await.unwrap());
    assert!(store.take("code:never").await.unwrap().is_none());
}

/// `delete` reports whether a live entry was removed.
pub async fn delete_reports_removal(store: &dyn Store, _clock: &FakeClock) {
    store.put("del:a", b"x", PutOptions::new()).await.unwrap();
    assert!(store.delete("del:a").await.unwrap());
    assert!(!store.delete("del:a").await.unwrap(), "already gone");
    assert!(!store.delete("del:never").await.unwrap());
    assert!(store.get("del:a").await.unwrap().is_none());
}

/// `put_many` writes each item as `put` would, in order, and reports each
/// outcome on its own: a failed condition or a bad key fails that item only.
pub async fn put_many_reports_each_item_as_put_would(store: &dyn Store, clock: &FakeClock) {
    store
        .put("many:taken", b"old", PutOptions::new())
        .await
        .unwrap();
    let items = [
        PutItem {
            key: "many:a",
            value: b"first",
            options: PutOptions::new()
                .ttl(SHORT_TTL)
                .create_only()
                .index("many-ix:1"),
        },
        PutItem {
            key: "many:taken",
            value: b"clash",
            options: PutOptions::new().create_only(),
        },
        PutItem {
            key: "no namespace",
            value: b"bad key",
            options: PutOptions::new(),
        },
        PutItem {
            key: "many:taken",
            value: b"wrong version",
            options: PutOptions::new().if_version(7),
        },
        PutItem {
            key: "many:b",
            value: b"second",
            options: PutOptions::new().index("many-ix:1"),
        },
        PutItem {
            key: "many:missing",
            value: b"update",
            options: PutOptions::new().update_only(),
        },
    ];
    let results = store.put_many(&items).await.expect("the batch is sent");
    assert_eq!(results.len(), items.len(), "one result per item");
    assert_eq!(results[0].as_ref().ok(), Some(&1));
    assert!(
        matches!(results[1], Err(Error::AlreadyExists { .. })),
        "{:?}",
        results[1]
    );
    assert!(
        matches!(results[2], Err(Error::InvalidKey { .. })),
        "{:?}",
        results[2]
    );
    assert!(
        matches!(
            results[3],
            Err(Error::VersionConflict {
                expected: 7,
                actual: 1,
                ..
            })
        ),
        "{:?}",
        results[3]
    );
    assert_eq!(results[4].as_ref().ok(), Some(&1));
    assert!(
        matches!(results[5], Err(Error::NotFound { .. })),
        "{:?}",
        results[5]
    );

    let a = store.get("many:a").await.unwrap().expect("written");
    assert_eq!(&a.value[..], b"first");
    assert_expires_in(store, clock, a.expires_at, SHORT_TTL, "a put_many item");
    assert_eq!(
        &store.get("many:taken").await.unwrap().unwrap().value[..],
        b"old"
    );
    assert!(store.get("many:missing").await.unwrap().is_none());
    assert_eq!(
        store.list_index("many-ix:1").await.unwrap(),
        vec!["many:a".to_owned(), "many:b".to_owned()]
    );
    assert!(
        store.put_many(&[]).await.unwrap().is_empty(),
        "an empty batch"
    );
}

/// `get_inline`, where a backend offers it, answers exactly as `get`: a hit
/// with the same value, version and expiry, a miss, an expired entry, a bad
/// key (backends that must be awaited return `None`, always).
pub async fn get_inline_agrees_with_get(store: &dyn Store, clock: &FakeClock) {
    if store.get_inline("s:inline").is_none() {
        assert!(
            store.get_inline("bad key").is_none(),
            "a backend answers in place always or never"
        );
        return;
    }
    assert!(store.get_inline("s:inline").unwrap().unwrap().is_none());
    store
        .put("s:inline", b"v1", PutOptions::new().ttl(SHORT_TTL))
        .await
        .unwrap();
    let inline = store.get_inline("s:inline").unwrap().unwrap().unwrap();
    let awaited = store.get("s:inline").await.unwrap().unwrap();
    assert_eq!(
        (&inline.value[..], inline.version, inline.expires_at),
        (&awaited.value[..], awaited.version, awaited.expires_at)
    );
    assert_eq!(&inline.value[..], b"v1");
    pass_time(store, clock, SHORT_TTL * 2).await;
    assert!(store.get_inline("s:inline").unwrap().unwrap().is_none());
    let bad = store.get_inline("no namespace").unwrap();
    assert!(matches!(bad, Err(Error::InvalidKey { .. })));
}
