//! Checks that bad input gets a typed error and changes nothing.

use std::time::Duration;

use authstore::{
    DEFAULT_MAX_VALUE_SIZE, Error, FakeClock, GcraParams, KeyProblem, PutOptions, Store,
};

fn is_invalid_key(r: Result<impl std::fmt::Debug, Error>, problem: KeyProblem) -> bool {
    matches!(r, Err(Error::InvalidKey { problem: p, .. }) if p == problem)
}

/// Every primitive rejects malformed keys with `InvalidKey`.
pub async fn invalid_keys_are_rejected_everywhere(store: &dyn Store, _clock: &FakeClock) {
    let cases = [
        (String::new(), KeyProblem::Empty),
        ("no-namespace".to_string(), KeyProblem::MissingNamespace),
        ("ns:bad\nkey".to_string(), KeyProblem::ControlCharacter),
        (format!("ns:{}", "k".repeat(600)), KeyProblem::TooLong),
    ];
    let ttl = Duration::from_secs(1);
    for (key, p) in cases {
        let k = key.as_str();
        assert!(is_invalid_key(store.get(k).await, p), "get {p:?}");
        assert!(
            is_invalid_key(store.put(k, b"x", PutOptions::new()).await, p),
            "put {p:?}"
        );
        assert!(is_invalid_key(store.take(k).await, p), "take {p:?}");
        assert!(is_invalid_key(store.delete(k).await, p), "delete {p:?}");
        assert!(is_invalid_key(store.exists(k).await, p), "exists {p:?}");
        assert!(is_invalid_key(store.touch(k, ttl).await, p), "touch {p:?}");
        assert!(
            is_invalid_key(store.incr(k, 1, None).await, p),
            "incr {p:?}"
        );
        let g = GcraParams::per_period(1, ttl);
        assert!(is_invalid_key(store.gcra(k, g).await, p), "gcra {p:?}");
        assert!(
            is_invalid_key(store.list_index(k).await, p),
            "list_index {p:?}"
        );
        assert!(
            is_invalid_key(store.delete_index(k).await, p),
            "delete_index {p:?}"
        );
    }
}

/// Invalid index keys are rejected and the put changes nothing.
pub async fn invalid_index_keys_are_rejected(store: &dyn Store, _clock: &FakeClock) {
    let r = store
        .put("v:i", b"x", PutOptions::new().index("bad index"))
        .await;
    assert!(is_invalid_key(r, KeyProblem::MissingNamespace));
    let mut many = PutOptions::new();
    for i in 0..=authstore::MAX_INDEX_KEYS {
        many = many.index(format!("idx:{i}"));
    }
    let r = store.put("v:i", b"x", many).await;
    assert!(
        matches!(r, Err(Error::TooManyIndexKeys { .. })),
        "got {r:?}"
    );
    assert!(
        !store.exists("v:i").await.unwrap(),
        "rejected puts write nothing"
    );
}

/// An oversize value is `ValueTooLarge` and the old value stays.
pub async fn oversize_value_is_rejected(store: &dyn Store, _clock: &FakeClock) {
    store
        .put("v:big", b"small", PutOptions::new())
        .await
        .unwrap();
    let big = vec![7u8; DEFAULT_MAX_VALUE_SIZE + 1];
    let err = store
        .put("v:big", &big, PutOptions::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::ValueTooLarge { size, max } if size == big.len() && max == DEFAULT_MAX_VALUE_SIZE),
        "got {err:?}"
    );
    assert_eq!(
        &store.get("v:big").await.unwrap().unwrap().value[..],
        b"small"
    );
    let max = vec![1u8; DEFAULT_MAX_VALUE_SIZE];
    store
        .put("v:max", &max, PutOptions::new())
        .await
        .expect("exactly the maximum fits");
    assert_eq!(
        store.get("v:max").await.unwrap().unwrap().value.len(),
        DEFAULT_MAX_VALUE_SIZE
    );
}

/// A zero TTL is rejected by put, touch and incr.
pub async fn zero_ttl_is_rejected(store: &dyn Store, _clock: &FakeClock) {
    let r = store
        .put("v:z", b"x", PutOptions::new().ttl(Duration::ZERO))
        .await;
    assert!(matches!(r, Err(Error::ZeroTtl)), "put: {r:?}");
    assert!(!store.exists("v:z").await.unwrap());
    store.put("v:z", b"x", PutOptions::new()).await.unwrap();
    assert!(matches!(
        store.touch("v:z", Duration::ZERO).await,
        Err(Error::ZeroTtl)
    ));
    assert!(matches!(
        store.incr("v:zc", 1, Some(Duration::ZERO)).await,
        Err(Error::ZeroTtl)
    ));
    assert!(
        store
            .get("v:z")
            .await
            .unwrap()
            .unwrap()
            .expires_at
            .is_none()
    );
}

/// Keys may use any Unicode and colons in the id part.
pub async fn unicode_and_colon_keys_work(store: &dyn Store, _clock: &FakeClock) {
    let keys = ["ns:a:b:c", "sessión:ünïcødé✓", "rl:ip:2001:db8::1"];
    for (i, key) in keys.iter().enumerate() {
        store.put(key, &[i as u8], PutOptions::new()).await.unwrap();
    }
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(
            &store.get(key).await.unwrap().unwrap().value[..],
            &[i as u8],
            "{key}"
        );
    }
}
