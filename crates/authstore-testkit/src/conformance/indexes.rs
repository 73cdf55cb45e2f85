//! Checks of secondary indexes: `list_index` and `delete_index`.

use std::time::Duration;

use authstore::{FakeClock, PutOptions, Store};

use super::{SHORT_TTL, pass_time};

/// Entries written with an index key are listed under it, sorted.
pub async fn index_lists_members(store: &dyn Store, _clock: &FakeClock) {
    for key in ["sess:b", "sess:a", "sess:c"] {
        store
            .put(key, b"x", PutOptions::new().index("user:1"))
            .await
            .unwrap();
    }
    store
        .put("sess:other", b"x", PutOptions::new().index("user:2"))
        .await
        .unwrap();
    store
        .put("sess:none", b"x", PutOptions::new())
        .await
        .unwrap();
    assert_eq!(
        store.list_index("user:1").await.unwrap(),
        ["sess:a", "sess:b", "sess:c"]
    );
    assert_eq!(store.list_index("user:2").await.unwrap(), ["sess:other"]);
    assert!(store.list_index("user:404").await.unwrap().is_empty());
}

/// One entry can sit in several indexes (e.g. a user and an OAuth grant).
pub async fn index_multiple_keys_per_entry(store: &dyn Store, _clock: &FakeClock) {
    let opts = PutOptions::new().index("user:9").index("grant:g1");
    store.put("tok:1", b"x", opts).await.unwrap();
    assert_eq!(store.list_index("user:9").await.unwrap(), ["tok:1"]);
    assert_eq!(store.list_index("grant:g1").await.unwrap(), ["tok:1"]);
    assert_eq!(store.delete_index("grant:g1").await.unwrap(), 1);
    assert!(
        store.list_index("user:9").await.unwrap().is_empty(),
        "deleted entry leaves every index"
    );
}

/// Expired entries are not listed.
pub async fn index_excludes_expired(store: &dyn Store, clock: &FakeClock) {
    store
        .put(
            "sess:short",
            b"x",
            PutOptions::new().ttl(SHORT_TTL).index("user:e"),
        )
        .await
        .unwrap();
    store
        .put(
            "sess:long",
            b"x",
            PutOptions::new()
                .ttl(Duration::from_secs(3600))
                .index("user:e"),
        )
        .await
        .unwrap();
    assert_eq!(store.list_index("user:e").await.unwrap().len(), 2);
    pass_time(store, clock, SHORT_TTL + Duration::from_millis(100)).await;
    assert_eq!(store.list_index("user:e").await.unwrap(), ["sess:long"]);
}

/// Deleted and taken entries leave their index.
pub async fn index_follows_delete_and_take(store: &dyn Store, _clock: &FakeClock) {
    for key in ["sess:1", "sess:2", "sess:3"] {
        store
            .put(key, b"x", PutOptions::new().index("user:d"))
            .await
            .unwrap();
    }
    store.delete("sess:1").await.unwrap();
    store.take("sess:2").await.unwrap();
    assert_eq!(store.list_index("user:d").await.unwrap(), ["sess:3"]);
}

/// Re-writing an entry with other index keys moves it between indexes.
pub async fn index_follows_rewrite(store: &dyn Store, _clock: &FakeClock) {
    store
        .put("sess:m", b"x", PutOptions::new().index("user:from"))
        .await
        .unwrap();
    store
        .put("sess:m", b"x2", PutOptions::new().index("user:from"))
        .await
        .unwrap();
    assert_eq!(
        store.list_index("user:from").await.unwrap(),
        ["sess:m"],
        "re-writing with the same index key keeps the listing"
    );
    store
        .put("sess:m", b"y", PutOptions::new().index("user:to"))
        .await
        .unwrap();
    assert!(
        store.list_index("user:from").await.unwrap().is_empty(),
        "old index dropped"
    );
    assert_eq!(store.list_index("user:to").await.unwrap(), ["sess:m"]);
    store.put("sess:m", b"z", PutOptions::new()).await.unwrap();
    assert!(
        store.list_index("user:to").await.unwrap().is_empty(),
        "no index keys, no listing"
    );
}

/// `delete_index` deletes every listed entry and nothing else.
pub async fn delete_index_removes_members_only(store: &dyn Store, _clock: &FakeClock) {
    for key in ["sess:x1", "sess:x2", "sess:x3"] {
        store
            .put(key, b"x", PutOptions::new().index("user:x"))
            .await
            .unwrap();
    }
    store
        .put("sess:y1", b"x", PutOptions::new().index("user:y"))
        .await
        .unwrap();
    store
        .put("sess:plain", b"x", PutOptions::new())
        .await
        .unwrap();
    assert_eq!(store.delete_index("user:x").await.unwrap(), 3);
    for key in ["sess:x1", "sess:x2", "sess:x3"] {
        assert!(
            !store.exists(key).await.unwrap(),
            "{key} deleted with its index"
        );
    }
    assert!(store.exists("sess:y1").await.unwrap());
    assert!(store.exists("sess:plain").await.unwrap());
    assert!(store.list_index("user:x").await.unwrap().is_empty());
    assert_eq!(
        store.delete_index("user:x").await.unwrap(),
        0,
        "second delete finds nothing"
    );
}

/// `delete_index` spares an entry re-written without that index key.
pub async fn delete_index_spares_rewritten_entries(store: &dyn Store, _clock: &FakeClock) {
    store
        .put("sess:r", b"x", PutOptions::new().index("user:r"))
        .await
        .unwrap();
    store
        .put("sess:r", b"y", PutOptions::new().index("user:other"))
        .await
        .unwrap();
    assert_eq!(store.delete_index("user:r").await.unwrap(), 0);
    assert_eq!(&store.get("sess:r").await.unwrap().unwrap().value[..], b"y");
}

/// `delete_index` does not count expired members and leaves the index empty.
pub async fn delete_index_with_expired_members(store: &dyn Store, clock: &FakeClock) {
    store
        .put(
            "sess:gone",
            b"x",
            PutOptions::new().ttl(SHORT_TTL).index("user:ex"),
        )
        .await
        .unwrap();
    store
        .put("sess:live", b"x", PutOptions::new().index("user:ex"))
        .await
        .unwrap();
    pass_time(store, clock, SHORT_TTL + Duration::from_millis(100)).await;
    assert_eq!(
        store.delete_index("user:ex").await.unwrap(),
        1,
        "only the live entry counts"
    );
    assert!(store.list_index("user:ex").await.unwrap().is_empty());
    assert!(!store.exists("sess:live").await.unwrap());
}

/// An expired indexed entry re-created with `CreateOnly` is listed once.
pub async fn index_recreate_after_expiry(store: &dyn Store, clock: &FakeClock) {
    store
        .put(
            "sess:again",
            b"1",
            PutOptions::new().ttl(SHORT_TTL).index("user:ag"),
        )
        .await
        .unwrap();
    pass_time(store, clock, SHORT_TTL + Duration::from_millis(100)).await;
    store
        .put(
            "sess:again",
            b"2",
            PutOptions::new().create_only().index("user:ag"),
        )
        .await
        .unwrap();
    assert_eq!(store.list_index("user:ag").await.unwrap(), ["sess:again"]);
}
