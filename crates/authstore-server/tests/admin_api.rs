//! The admin API (`/admin/v1`) over HTTP on the memory store and on SQLite: the bearer token, every endpoint's answer, what the actions end, and its errors as JSON.

mod common;
#[path = "ops_support/grants.rs"]
mod grants;

use std::sync::Arc;

use authstore::Store;
use authstore::credentials::LoginOutcome;
use authstore::oauth::{Client, TokenResponse};
use authstore::session::{SessionMeta, SessionUser};
use authstore_server::AppState;
use bytes::Bytes;
use common::{bind, send, settings};
use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{Method, Request};
use http_body_util::Full;
use serde_json::{Value, json};

const TOKEN: &str = "an-admin-token-for-the-tests-0123456789abcdef";
use grants::REDIRECT;

struct Api {
    base: String,
    state: AppState,
    store: Arc<dyn Store>,
}

impl Api {
    async fn start(store: Arc<dyn Store>) -> Self {
        Self::start_with(store, false).await
    }

    /// The API opened by [`TOKEN`] and, with `admin_clients`, by operator
    /// clients' `admin`-scoped tokens.
    async fn start_with(store: Arc<dyn Store>, admin_clients: bool) -> Self {
        let (listener, base) = bind().await;
        let mut settings = settings(&base);
        settings.admin_token_sha256 = Some(authstore::secret::sha256(TOKEN.as_bytes()));
        settings.admin_clients = admin_clients;
        let state = AppState::new(Arc::clone(&store), settings).unwrap();
        let app = authstore_server::admin_http::router(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, state, store }
    }

    async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> (u16, Value, http::HeaderMap) {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}/admin/v1{path}", self.base));
        if let Some(token) = token {
            req = req.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(v) => {
                req = req.header(CONTENT_TYPE, "application/json");
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        let res = send(req.body(Full::new(body)).unwrap()).await;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let value = serde_json::from_str(res.body()).unwrap_or(Value::Null);
        (status, value, headers)
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let (status, value, headers) = self.call_with(method, path, body, Some(TOKEN)).await;
        if status >= 400 {
            assert_eq!(headers[CONTENT_TYPE], "application/json", "{path}");
            assert!(
                value["error"].is_string() && value["error_description"].is_string(),
                "{path}: {value}"
            );
        }
        (status, value)
    }

    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(method.clone(), path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {value}"
        );
        value
    }

    async fn grant(&self, client: &Client, user: &str) -> TokenResponse {
        grants::grant(self.state.oauth(), client, user).await
    }

    async fn active(&self, tokens: &TokenResponse) -> bool {
        grants::active(self.state.oauth(), tokens).await
    }
}

async fn on_each_store(test: impl AsyncFn(Api)) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("admin.db").display());
    for url in ["memory://", sqlite.as_str()] {
        test(Api::start(authstore::open(url).await.unwrap()).await).await;
    }
}

#[tokio::test]
async fn the_token_opens_the_api_and_the_document_is_public() {
    on_each_store(async |api: Api| {
        let res = send(
            Request::get(format!("{}/admin/v1/openapi.json", api.base))
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await;
        assert_eq!(res.status(), 200);
        let doc: Value = serde_json::from_str(res.body()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["paths"]["/admin/v1/users"]["get"].is_object());
        for token in [None, Some("wrong"), Some("")] {
            let (status, body, headers) = api.call_with(Method::GET, "/users", None, token).await;
            assert_eq!(status, 401, "{token:?}");
            assert_eq!(body["error"], "unauthorized");
            assert!(
                headers[WWW_AUTHENTICATE]
                    .to_str()
                    .unwrap()
                    .starts_with("Bearer")
            );
        }
        let (status, body) = api.call(Method::GET, "/nowhere", None).await;
        assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
        let (status, _, _) = api.call_with(Method::GET, "/nowhere", None, None).await;
        assert_eq!(status, 401, "unknown paths are behind the token too");
    })
    .await;
}

#[tokio::test]
async fn users_are_created_shown_disabled_reset_and_deleted() {
    on_each_store(async |api: Api| {
        let created = api
            .ok(
                Method::POST,
                "/users",
                Some(json!({"username": "ada", "password": "first pass", "user_id": "u-ada-77"})),
            )
            .await;
        assert_eq!(created["user_id"], "u-ada-77");
        for (body, status) in [
            (json!({"username": "ADA", "password": "x"}), 409),
            (json!({"username": "eve", "password": ""}), 400),
            (json!({"username": "eve"}), 400),
            (
                json!({"username": "eve", "password": "x", "role": "admin"}),
                400,
            ),
            (json!({"username": "\n", "password": "x"}), 400),
        ] {
            assert_eq!(
                api.call(Method::POST, "/users", Some(body.clone())).await.0,
                status,
                "{body}"
            );
        }
        let oauth = api.state.oauth();
        let mut new = authstore::oauth::NewClient::public("Notes", REDIRECT);
        new.scopes = vec!["read".into()];
        let notes = oauth.register_client(new).await.unwrap().client;
        let tokens = api.grant(&notes, "u-ada-77").await;
        let meta = SessionMeta {
            ip: Some("192.0.2.1".into()),
            ..SessionMeta::default()
        };
        api.state
            .sessions()
            .create(Some(SessionUser::new("u-ada-77")), meta)
            .await
            .unwrap();

        let listed = api.ok(Method::GET, "/users", None).await;
        assert_eq!(listed.as_array().unwrap().len(), 1);
        let shown = api.ok(Method::GET, "/users/ada", None).await;
        assert_eq!(shown["sessions"][0]["ip"], "192.0.2.1");
        assert_eq!(shown["grants"][0]["client_id"], notes.client_id.as_str());
        assert_eq!(api.call(Method::GET, "/users/nobody", None).await.0, 404);

        let ended = api.ok(Method::POST, "/users/ada/disable", None).await;
        assert_eq!(
            (
                ended["sessions_ended"].as_u64(),
                ended["grants_revoked"].as_u64()
            ),
            (Some(1), Some(1))
        );
        assert!(!api.active(&tokens).await);
        let creds = api.state.credentials();
        assert_eq!(
            creds
                .authenticate_from("ada", "first pass", "t")
                .await
                .unwrap(),
            LoginOutcome::Disabled
        );
        assert_eq!(
            api.ok(Method::POST, "/users/ada/enable", None).await["disabled"],
            false
        );
        let reset = api
            .ok(
                Method::PUT,
                "/users/ada/password",
                Some(json!({"password": "second pass", "end_sessions": true})),
            )
            .await;
        assert_eq!(reset["user"]["username"], "ada");
        assert!(matches!(
            creds
                .authenticate_from("ada", "second pass", "t")
                .await
                .unwrap(),
            LoginOutcome::Authenticated { .. }
        ));
        assert_eq!(
            api.call(
                Method::PUT,
                "/users/ada/password",
                Some(json!({"password": ""}))
            )
            .await
            .0,
            400
        );
        assert_eq!(
            api.call(
                Method::PUT,
                "/users/nobody/password",
                Some(json!({"password": "x"}))
            )
            .await
            .0,
            404
        );

        let live = api.grant(&notes, "u-ada-77").await;
        let deleted = api.ok(Method::DELETE, "/users/ada", None).await;
        assert_eq!(deleted["grants_revoked"], 1);
        assert!(!api.active(&live).await);
        assert_eq!(
            grants::entries_naming(&api.store, "u-ada-77").await,
            Vec::<String>::new()
        );
        assert_eq!(api.call(Method::DELETE, "/users/ada", None).await.0, 404);
        let events = api
            .ok(Method::GET, "/audit?action=user.&user=u-ada-77", None)
            .await;
        let actions: Vec<&str> = events
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            [
                "user.created",
                "user.disabled",
                "user.enabled",
                "user.password_set",
                "user.deleted"
            ]
        );
    })
    .await;
}

#[tokio::test]
async fn clients_grants_sessions_and_keys() {
    on_each_store(async |api: Api| {
        let web = api
            .ok(Method::POST, "/clients", Some(json!({"client_name": "Web", "redirect_uris": [REDIRECT], "scope": "read"})))
            .await;
        let secret = web["client_secret"].as_str().unwrap().to_owned();
        let id = web["client_id"].as_str().unwrap().to_owned();
        let public = api
            .ok(Method::POST, "/clients", Some(json!({"client_name": "App", "redirect_uris": [REDIRECT], "scope": "read", "token_endpoint_auth_method": "none"})))
            .await;
        assert!(public.get("client_secret").is_none());
        for body in [
            json!({"client_name": "Bad", "redirect_uris": ["http://app.example/cb"]}),
            json!({"client_name": "", "redirect_uris": [REDIRECT]}),
            json!({"client_name": "Bad", "redirect_uris": [REDIRECT], "grant_types": ["implicit"]}),
            json!({"client_name": "Bad", "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none", "client_secret_ttl_secs": 60}),
        ] {
            assert_eq!(api.call(Method::POST, "/clients", Some(body.clone())).await.0, 400, "{body}");
        }
        let listed = api.ok(Method::GET, "/clients", None).await;
        assert_eq!(listed.as_array().unwrap().len(), 2);

        let web_client = api.state.oauth().client(&id).await.unwrap().unwrap();
        let a = api.grant(&web_client, "u-1").await;
        let b = api.grant(&web_client, "u-2").await;
        let grants = api.ok(Method::GET, &format!("/grants?client={id}"), None).await;
        assert_eq!(grants.as_array().unwrap().len(), 2);
        assert_eq!(api.call(Method::GET, "/grants", None).await.0, 400);
        assert_eq!(api.call(Method::GET, &format!("/grants?client={id}&user=u-1"), None).await.0, 400);
        let of_u1 = api.ok(Method::GET, "/grants?user=u-1", None).await;
        let grant_id = of_u1[0]["grant_id"].as_str().unwrap().to_owned();
        assert_eq!(api.ok(Method::DELETE, &format!("/grants/{grant_id}"), None).await["count"], 1);
        assert!(!api.active(&a).await && api.active(&b).await);
        assert_eq!(api.call(Method::DELETE, &format!("/grants/{grant_id}"), None).await.0, 404);
        assert_eq!(api.ok(Method::POST, "/grants/revoke?user=u-2", None).await["count"], 1);
        assert!(!api.active(&b).await);

        let patched = api.ok(Method::PATCH, &format!("/clients/{id}"), Some(json!({"client_name": "Web 2"}))).await;
        assert_eq!(patched["client_name"], "Web 2");
        assert_eq!(api.call(Method::PATCH, &format!("/clients/{id}"), Some(json!({}))).await.0, 400);
        assert_eq!(api.call(Method::PATCH, &format!("/clients/{id}"), Some(json!({"redirect_uris": ["http://x.example/cb"]}))).await.0, 400);
        let rotated = api.ok(Method::POST, &format!("/clients/{id}/secret?secret_ttl_secs=3600"), None).await;
        let new_secret = rotated["client_secret"].as_str().unwrap();
        let oauth = api.state.oauth();
        assert!(oauth.authenticate_client(&id, Some(&secret)).await.is_err());
        assert!(oauth.authenticate_client(&id, Some(new_secret)).await.is_ok());
        let public_id = public["client_id"].as_str().unwrap();
        assert_eq!(api.call(Method::POST, &format!("/clients/{public_id}/secret"), None).await.0, 400);
        let c = api.grant(&web_client, "u-3").await;
        assert_eq!(api.ok(Method::DELETE, &format!("/clients/{id}"), None).await["grants_revoked"], 1);
        assert!(!api.active(&c).await);
        assert_eq!(api.call(Method::GET, &format!("/clients/{id}"), None).await.0, 404);

        let sessions = api.state.sessions();
        for _ in 0..2 {
            sessions.create(Some(SessionUser::new("u-9")), SessionMeta::default()).await.unwrap();
        }
        let listed = api.ok(Method::GET, "/sessions?user=u-9", None).await;
        let handle = listed[0]["handle"].as_str().unwrap().to_owned();
        assert_eq!(api.ok(Method::DELETE, &format!("/sessions?user=u-9&handle={handle}"), None).await["count"], 1);
        assert_eq!(api.call(Method::DELETE, &format!("/sessions?user=u-other&handle={handle}"), None).await.0, 404);
        assert_eq!(api.call(Method::DELETE, "/sessions?user=u-9&handle=nothex", None).await.0, 400);
        assert_eq!(api.ok(Method::DELETE, "/sessions?user=u-9", None).await["count"], 1);
        assert_eq!(api.call(Method::GET, "/sessions", None).await.0, 400);

        let keys = api.ok(Method::POST, "/keys/rotate?alg=ES256", None).await;
        assert!(keys.as_array().unwrap().iter().any(|k| k["alg"] == "ES256" && k["status"] == "current"), "{keys}");
        assert!(!keys.to_string().contains("\"d\""), "no key material");
        assert_eq!(api.ok(Method::GET, "/keys", None).await, keys);
        assert_eq!(api.call(Method::POST, "/keys/rotate?alg=HS256", None).await.0, 400);
        let events = api.ok(Method::GET, &format!("/audit?client={id}&limit=2"), None).await;
        let actions: Vec<&str> = events.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["client.secret_rotated", "client.deleted"]);
        assert_eq!(api.call(Method::GET, "/audit?since=100&until=50", None).await.0, 400);
    })
    .await;
}

/// Whether `token` opens `GET /admin/v1/users` (200), or is refused (401).
async fn opens(api: &Api, token: &str) -> bool {
    let (status, body, _) = api
        .call_with(Method::GET, "/users", None, Some(token))
        .await;
    match status {
        200 => true,
        401 => {
            assert_eq!(body["error"], "unauthorized");
            false
        }
        other => panic!("status {other}: {body}"),
    }
}

#[tokio::test]
async fn an_operator_clients_own_admin_scoped_token_opens_the_api_only_with_admin_clients() {
    use authstore::oauth::{
        AuthorizationRequest, ClientChanges, ClientOrigin, NewClient, pkce_challenge,
    };
    use authstore_server::admin_http::ADMIN_SCOPE;
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("admin.db").display());
    for url in ["memory://", sqlite.as_str()] {
        let api = Api::start_with(authstore::open(url).await.unwrap(), true).await;
        let oauth = api.state.oauth();
        let scopes = vec![ADMIN_SCOPE.to_owned(), "read".to_owned()];
        let ops = oauth
            .register_client(NewClient {
                scopes: scopes.clone(),
                ..NewClient::confidential("ops robot", REDIRECT)
            })
            .await
            .unwrap()
            .client;
        let admin = oauth
            .client_credentials(&ops, Some(&[ADMIN_SCOPE.to_owned()]))
            .await
            .unwrap();
        assert!(opens(&api, &admin.access_token).await, "{url}");
        assert!(opens(&api, TOKEN).await, "the admin token still works");

        let read_only = oauth
            .client_credentials(&ops, Some(&["read".to_owned()]))
            .await
            .unwrap();
        assert!(
            !opens(&api, &read_only.access_token).await,
            "no admin scope"
        );

        // A user's token, even with the admin scope, is the user's, not the operator's.
        let verifier = "a-pkce-verifier-of-forty-three-characters-xx";
        let code = oauth
            .issue_code(&AuthorizationRequest {
                client_id: ops.client_id.clone(),
                redirect_uri: REDIRECT.into(),
                scope: vec![ADMIN_SCOPE.to_owned()],
                code_challenge: pkce_challenge(verifier),
                subject: "alice".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let users = oauth
            .exchange_code(&ops, &code, REDIRECT, verifier)
            .await
            .unwrap();
        assert!(!opens(&api, &users.access_token).await, "a user's token");

        // A dynamically registered client cannot give itself the scope.
        let registered = oauth
            .register_client(NewClient {
                scopes: scopes.clone(),
                origin: ClientOrigin::Registered,
                ..NewClient::confidential("self-registered", REDIRECT)
            })
            .await
            .unwrap()
            .client;
        let own = oauth
            .client_credentials(&registered, Some(&[ADMIN_SCOPE.to_owned()]))
            .await
            .unwrap();
        assert!(!opens(&api, &own.access_token).await, "a registered client");

        // The operator takes the scope away: the token stops working at once.
        oauth
            .update_client(
                &ops.client_id,
                &ClientChanges {
                    scopes: Some(vec!["read".to_owned()]),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .unwrap();
        assert!(!opens(&api, &admin.access_token).await, "scope withdrawn");

        // Without admin_clients, no client token opens the API.
        let closed = Api::start_with(Arc::clone(&api.store), false).await;
        let ops2 = closed
            .state
            .oauth()
            .register_client(NewClient {
                scopes,
                ..NewClient::confidential("ops robot 2", REDIRECT)
            })
            .await
            .unwrap()
            .client;
        let token = closed
            .state
            .oauth()
            .client_credentials(&ops2, Some(&[ADMIN_SCOPE.to_owned()]))
            .await
            .unwrap();
        assert!(
            !opens(&closed, &token.access_token).await,
            "admin_clients off"
        );
        assert!(opens(&closed, TOKEN).await);
    }
}
