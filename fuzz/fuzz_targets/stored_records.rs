//! Stored records read back: a session, a client, a grant, a code, an access or refresh token, a refresh chain head, a consent, an API token or a signing key whose stored bytes are replaced by the input, then read by every public operation that decodes it. Nothing panics; a corrupt client is reported as a corrupt store entry; a record that decodes survives its own re-encoding (a client written back reads the same, a session saved and loaded keeps its user and data).
//!
//! Input: one byte choosing the record kind, then the record's bytes.

#![no_main]

use std::sync::Arc;
use std::time::Duration;

use authstore::oauth::{
    AuthorizationRequest, NewClient, OAuth, OAuthConfig, OAuthError, SigningAlg, pkce_challenge,
};
use authstore::session::{SessionId, SessionManager, SessionMeta, SessionUser};
use authstore::tokens::{ApiTokens, NewToken};
use authstore::{Error, FakeClock, MemoryStore, PutOptions, Store};
use libfuzzer_sys::fuzz_target;

const ISSUER: &str = "https://as.example";
const REDIRECT: &str = "https://app.example/cb";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CLIENT: &str = "pub-client";
const USER: &str = "u-ada";

/// The records, by the prefix of their store keys.
const KINDS: [&str; 11] = [
    "session:",
    "oauth-client:",
    "oauth-grant:",
    "oauth-code:",
    "oauth-at:",
    "oauth-rt:",
    "oauth-rt-head:",
    "oauth-consent:",
    "apitoken:",
    "oauth-signing-key:",
    "oauth-signing-key:current",
];

struct Fixture {
    store: Arc<dyn Store>,
    oauth: OAuth,
    sessions: SessionManager,
    tokens: ApiTokens,
    client: authstore::oauth::Client,
    session: SessionId,
    code: String,
    access: String,
    refresh: String,
    api_token: String,
}

async fn fixture() -> Fixture {
    let clock = FakeClock::at_millis(1_800_000_000_000);
    let store: Arc<dyn Store> = Arc::new(
        MemoryStore::builder()
            .sweep_interval(None)
            .shards(2)
            .clock(clock.clone())
            .build()
            .expect("a memory store"),
    );
    let config = OAuthConfig {
        jwt_issuer: Some(ISSUER.into()),
        secret_hash_memory_kib: 8,
        secret_hash_iterations: 1,
        access_token_alg: SigningAlg::EdDSA,
        ..OAuthConfig::default()
    };
    let oauth = OAuth::with_config(Arc::clone(&store), config, clock.clone()).expect("config");
    let mut new = NewClient::public("Public", REDIRECT);
    new.scopes = vec!["read".into(), "offline_access".into()];
    let (client, _) = oauth.put_client(CLIENT, new, None).await.expect("client");
    let request = AuthorizationRequest {
        client_id: CLIENT.into(),
        redirect_uri: REDIRECT.into(),
        scope: vec!["read".into(), "offline_access".into()],
        code_challenge: pkce_challenge(VERIFIER),
        subject: USER.into(),
        ..Default::default()
    };
    let first = oauth.issue_code(&request).await.expect("code");
    let issued = oauth
        .exchange_code(&client, &first, REDIRECT, VERIFIER)
        .await
        .expect("exchange");
    let code = oauth.issue_code(&request).await.expect("code");
    oauth
        .remember_consent(
            USER,
            CLIENT,
            &["read".into()],
            &[],
            Duration::from_secs(3600),
        )
        .await
        .expect("consent");
    let sessions =
        SessionManager::with_config(Arc::clone(&store), Default::default(), clock.clone());
    let mut session = sessions
        .create(
            Some(SessionUser::new(USER)),
            SessionMeta {
                ip: Some("192.0.2.1".into()),
                ..Default::default()
            },
        )
        .await
        .expect("session");
    session.insert("cart", vec![1, 2, 3]).expect("JSON");
    sessions.save(&mut session).await.expect("save");
    let tokens = ApiTokens::with_clock(Arc::clone(&store), clock);
    let api = tokens
        .issue(NewToken::for_principal("svc").scope("read"))
        .await
        .expect("token");
    Fixture {
        store,
        oauth,
        sessions,
        tokens,
        client,
        session: session.id().clone(),
        code,
        access: issued.access_token,
        refresh: issued.refresh_token.expect("a refresh token"),
        api_token: api.token,
    }
}

/// Replaces the bytes of every entry of `kind`, keeping its index keys and TTL.
async fn corrupt(store: &dyn Store, kind: &str, bytes: &[u8]) {
    let page = store.scan(kind, None, 100).await.expect("scan");
    for entry in page.entries {
        if kind == "oauth-signing-key:" && entry.key.ends_with(":current") {
            continue;
        }
        let mut options = PutOptions::new();
        if let Some(ttl) = entry.ttl {
            options = options.ttl(ttl);
        }
        for index in entry.index_keys {
            options = options.index(index);
        }
        // A value over the store's size limit is refused: nothing to read.
        let _ = store.put(&entry.key, bytes, options).await;
    }
}

async fn run(kind: &str, bytes: &[u8]) {
    let f = fixture().await;
    if kind == "dump" {
        dump(&f).await;
        return;
    }
    corrupt(&*f.store, kind, bytes).await;

    // Clients: a corrupt record is a corrupt entry; a readable one survives re-encoding.
    match f.oauth.client(CLIENT).await {
        Ok(Some(mut client)) => {
            let json = serde_json::to_vec(&client).expect("a client encodes");
            f.store
                .put(&format!("oauth-client:{CLIENT}"), &json, PutOptions::new())
                .await
                .expect("put");
            let mut again = f
                .oauth
                .client(CLIENT)
                .await
                .expect("reads")
                .expect("exists");
            client.expires_at = None;
            again.expires_at = None;
            assert_eq!(client, again, "a client survives its re-encoding");
        }
        Ok(None) => {}
        Err(OAuthError::Store(Error::Serde { key, .. })) => {
            assert!(key.starts_with("oauth-client:"))
        }
        Err(e) => panic!("a corrupt client is a corrupt entry, not {e:?}"),
    }

    // Sessions: load, save, load again keeps the user and the data.
    if let Ok(Some(mut session)) = f.sessions.load(&f.session).await {
        let (user, data) = (session.user().cloned(), session.data().clone());
        session.insert("seen", true).expect("JSON");
        if f.sessions.save(&mut session).await.is_ok()
            && let Ok(Some(again)) = f.sessions.load(&f.session).await
        {
            assert_eq!(again.user().cloned(), user);
            let mut expected = data;
            expected.insert("seen".into(), serde_json::Value::Bool(true));
            assert_eq!(again.data(), &expected);
        }
    }
    let _ = f.sessions.list_for_user(USER).await;
    let _ = f.sessions.stats().await;

    // Tokens, grants, codes, heads.
    let _ = f.oauth.introspect(&f.access).await;
    let _ = f.oauth.introspect(&f.refresh).await;
    let _ = f.oauth.access_token(&f.access).await;
    let _ = f
        .oauth
        .exchange_code_for(&f.client, &f.code, REDIRECT, VERIFIER, None)
        .await;
    let _ = f.oauth.refresh_for(&f.client, &f.refresh, None, None).await;
    let _ = f.oauth.revoke(&f.client, &f.access).await;

    // Consents, API tokens, signing keys.
    let _ = f
        .oauth
        .has_consent(USER, CLIENT, &["read".into()], &[])
        .await;
    let _ = f.oauth.consents(USER).await;
    let _ = f.tokens.verify(&f.api_token).await;
    let _ = f.tokens.list("svc").await;
    let _ = f.oauth.jwks().await;
    let _ = f.oauth.signing_keys().await;
}

/// Writes every record of a fresh fixture, one file per record, for the seed corpus.
async fn dump(f: &Fixture) {
    let Ok(dir) = std::env::var("AUTHSTORE_FUZZ_DUMP") else {
        return;
    };
    for (i, kind) in KINDS.iter().enumerate() {
        let page = f.store.scan(kind, None, 100).await.expect("scan");
        for (n, entry) in page.entries.iter().enumerate() {
            let mut seed = vec![u8::try_from(i).expect("few kinds")];
            seed.extend_from_slice(&entry.value);
            let _ = std::fs::write(format!("{dir}/record-{i:02}-{n}"), seed);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, bytes)) = data.split_first() else {
        return;
    };
    let kind = match KINDS.get(usize::from(kind)) {
        Some(kind) => kind,
        None if kind == 0xff && std::env::var_os("AUTHSTORE_FUZZ_DUMP").is_some() => "dump",
        None => KINDS[usize::from(kind) % KINDS.len()],
    };
    authstore_fuzz::block_on(run(kind, bytes));
});
