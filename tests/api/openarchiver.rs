//! The Open Archiver surface: the one-time setup (once, however many ask
//! at once), login, and HS256 tokens its front end verifies with the shared
//! secret, refused at once when their session ends.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, Backend, TestApp};

const SECRET: &str = "open-archiver-jwt-secret-shared-with-its-front-end";

pub(crate) async fn app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |c| {
        c.openarchiver_jwt_secret = Some(SECRET.to_string().into());
        c.openarchiver_token_ttl = 3600;
    })
    .await
}

pub(crate) async fn post(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    let response = app.post_json(path, &body).await;
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub(crate) fn admin() -> Value {
    json!({"email": "root@example.com", "password": "correct horse battery", "first_name": "Ada", "last_name": "Admin"})
}

/// The claims a stock JWT library reads with nothing but the secret.
pub(crate) fn claims(token: &str) -> Value {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "iat", "sub"]);
    jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes()),
        &validation,
    )
    .expect("verifies with the shared secret")
    .claims
}

async fn profile(app: &TestApp, token: Option<&str>) -> (StatusCode, Value) {
    let mut request = app.client.get(app.url("/v1/users/profile"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

on_both_backends!(the_setup_happens_once_and_signs_its_administrator_in);
async fn the_setup_happens_once_and_signs_its_administrator_in(backend: Backend) {
    let app = app(backend).await;
    let status = app
        .client
        .get(app.url("/v1/auth/status"))
        .send()
        .await
        .expect("request");
    assert_eq!(
        status.json::<Value>().await.expect("json"),
        json!({"needsSetup": true})
    );

    for missing in ["email", "password", "first_name", "last_name"] {
        let mut body = admin();
        body[missing] = json!("");
        assert_eq!(
            post(&app, "/v1/auth/setup", body).await,
            (
                StatusCode::BAD_REQUEST,
                json!({"message": "Email, password, and name are required"})
            ),
            "{missing}"
        );
    }
    assert_eq!(app.event_count().await, 0, "refusals write nothing");

    let (status, done) = post(&app, "/v1/auth/setup", admin()).await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    let user = &done["user"];
    let mut keys: Vec<&String> = user.as_object().expect("user").keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "createdAt",
            "email",
            "first_name",
            "id",
            "last_name",
            "provider",
            "providerId",
            "role",
            "updatedAt"
        ]
    );
    assert_eq!(user["role"]["slug"], "predefined_super_admin");
    assert_eq!(
        user["role"]["policies"],
        json!([{"action": "manage", "subject": "all"}])
    );
    assert!(!done.to_string().contains("argon2"), "no hash in an answer");

    // The token: HS256 with the shared secret, Open Archiver's claims.
    let token = done["accessToken"].as_str().expect("token");
    let claims = claims(token);
    assert_eq!(claims["sub"], user["id"]);
    assert_eq!(claims["email"], "root@example.com");
    assert_eq!(claims["roles"], json!(["Super Admin"]));
    assert_eq!(
        claims["exp"].as_i64().unwrap_or_default() - claims["iat"].as_i64().unwrap_or_default(),
        3600
    );
    let (status, me) = profile(&app, Some(token)).await;
    assert_eq!(
        (status, me["email"].clone()),
        (StatusCode::OK, json!("root@example.com"))
    );

    let status = app
        .client
        .get(app.url("/v1/auth/status"))
        .send()
        .await
        .expect("request");
    assert_eq!(
        status.json::<Value>().await.expect("json"),
        json!({"needsSetup": false})
    );
    let events = app.event_count().await;
    let mut again = admin();
    again["email"] = json!("second@example.com");
    assert_eq!(
        post(&app, "/v1/auth/setup", again).await,
        (
            StatusCode::FORBIDDEN,
            json!({"message": "Setup has already been completed."})
        )
    );
    assert_eq!(app.event_count().await, events, "refusals write nothing");
}

on_both_backends!(fifty_concurrent_setups_make_one_administrator);
async fn fifty_concurrent_setups_make_one_administrator(backend: Backend) {
    let app = app(backend).await;
    let attempts = (0..50).map(|i| {
        let mut body = admin();
        body["email"] = json!(format!("admin{i}@example.com"));
        let request = app.client.post(app.url("/v1/auth/setup")).json(&body);
        async move {
            let response = request.send().await.expect("request");
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    });
    let answers = futures::future::join_all(attempts).await;
    let created = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != StatusCode::CREATED) {
        assert_eq!(
            (*status, body.clone()),
            (
                StatusCode::FORBIDDEN,
                json!({"message": "Setup has already been completed."})
            )
        );
    }
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE event_type = 'SetupClaimed'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE event_type = 'UserRegistered'")
            .await,
        1,
        "one administrator"
    );
}

on_both_backends!(logins_answer_as_open_archiver_and_tokens_die_with_their_session);
async fn logins_answer_as_open_archiver_and_tokens_die_with_their_session(backend: Backend) {
    let app = app(backend).await;
    post(&app, "/v1/auth/setup", admin()).await;

    // (The login is shared with Backstack: its error object rides along.)
    let (status, missing) =
        post(&app, "/v1/auth/login", json!({"email": "root@example.com"})).await;
    assert_eq!(
        (status, &missing["message"]),
        (
            StatusCode::BAD_REQUEST,
            &json!("Email and password are required")
        )
    );
    let wrong = post(
        &app,
        "/v1/auth/login",
        json!({"email": "root@example.com", "password": "nope nope nope"}),
    )
    .await;
    let unknown = post(
        &app,
        "/v1/auth/login",
        json!({"email": "ghost@example.com", "password": "nope nope nope"}),
    )
    .await;
    assert_eq!(
        (wrong.0, &wrong.1["message"]),
        (StatusCode::UNAUTHORIZED, &json!("Invalid credentials"))
    );
    assert_eq!(unknown, wrong, "unknown and wrong look alike");

    let (status, login) = post(
        &app,
        "/v1/auth/login",
        json!({"email": "root@example.com", "password": "correct horse battery"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    let token = login["accessToken"].as_str().expect("token").to_string();
    assert_eq!(claims(&token)["roles"], json!(["Super Admin"]));

    assert_eq!(
        profile(&app, None).await,
        (
            StatusCode::UNAUTHORIZED,
            json!({"message": "Unauthorized: No token provided"})
        )
    );
    assert_eq!(
        profile(&app, Some("not.a.token")).await,
        (
            StatusCode::UNAUTHORIZED,
            json!({"message": "Unauthorized: Invalid token"})
        )
    );
    // Signed with another secret: refused.
    let mut forged_claims = claims(&token);
    forged_claims["roles"] = json!(["Super Admin"]);
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &forged_claims,
        &jsonwebtoken::EncodingKey::from_secret(b"guessed"),
    )
    .expect("encode");
    assert_eq!(
        profile(&app, Some(&forged)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(profile(&app, Some(&token)).await.0, StatusCode::OK);

    // A password change elsewhere (the ILD surface) ends every other
    // session at once: the Open Archiver token with it.
    let ild = app
        .post_json(
            "/sign/login",
            &json!({"email": "root@example.com", "password": "correct horse battery"}),
        )
        .await
        .json::<Value>()
        .await
        .expect("json");
    let bearer = ild["token"].as_str().expect("ild token");
    let changed = app
        .client
        .put(app.url("/user/changepassword"))
        .bearer_auth(bearer)
        .json(&json!({"currentPassword": "correct horse battery", "newPassword": "another horse battery"}))
        .send()
        .await
        .expect("request");
    assert_eq!(changed.status(), StatusCode::OK);
    assert_eq!(
        profile(&app, Some(&token)).await,
        (
            StatusCode::UNAUTHORIZED,
            json!({"message": "Unauthorized: Invalid token"})
        )
    );
}

on_both_backends!(a_setup_whose_administrator_was_never_written_is_taken_over_once_stale);
async fn a_setup_whose_administrator_was_never_written_is_taken_over_once_stale(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.claim_stale_after = 1).await;
    // What a crash between the claim and the administrator's registration
    // leaves: a claim naming a user that does not exist.
    app.app
        .store
        .execute::<aggregates::Installation>(
            aggregates::INSTALLATION_ID,
            aggregates::InstallationCommand::ClaimSetup {
                admin: uuid::Uuid::now_v7(),
                earlier_admin_exists: false,
                stale_after: chrono::Duration::seconds(1),
            },
            &eventauth::service::RequestContext::system().metadata(),
        )
        .await
        .expect("claimed");
    let status = app
        .client
        .get(app.url("/v1/auth/status"))
        .send()
        .await
        .expect("request");
    assert_eq!(
        status.json::<Value>().await.expect("json"),
        json!({"needsSetup": true}),
        "nobody administers it yet"
    );
    assert_eq!(
        post(&app, "/v1/auth/setup", admin()).await.0,
        StatusCode::FORBIDDEN,
        "too fresh to take over"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, done) = post(&app, "/v1/auth/setup", admin()).await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
}

on_both_backends!(
    requests_past_the_per_ip_limit_get_open_archivers_429_but_status_is_never_counted
);
async fn requests_past_the_per_ip_limit_get_open_archivers_429_but_status_is_never_counted(
    backend: Backend,
) {
    let app = spawn_app_with(backend, |c| {
        c.openarchiver_rate_limit = 3;
        c.openarchiver_rate_window = 60;
    })
    .await;
    let login = || {
        app.client
            .post(app.url("/v1/auth/login"))
            .json(&json!({"email": "nobody@example.com", "password": "whatever it is"}))
            .send()
    };
    for remaining in ["2", "1", "0"] {
        let response = login().await.expect("request");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()["ratelimit-limit"], "3");
        assert_eq!(response.headers()["ratelimit-remaining"], remaining);
        assert_eq!(response.headers()["ratelimit-policy"], "3;w=60");
    }
    let events = app.event_count().await;
    let refused = login().await.expect("request");
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(refused.headers()["ratelimit-remaining"], "0");
    assert_eq!(
        refused.json::<Value>().await.expect("json"),
        json!({"status": 429, "message": "Too many requests from this IP, please try again after 1 minutes"})
    );
    assert_eq!(
        app.event_count().await,
        events,
        "a refused request writes nothing"
    );
    for _ in 0..5 {
        let status = app
            .client
            .get(app.url("/v1/auth/status"))
            .send()
            .await
            .expect("request");
        assert_eq!(status.status(), StatusCode::OK, "status is never counted");
    }
    // Other surfaces are not Open Archiver's to limit.
    let ild = app
        .post_json(
            "/sign/login",
            &json!({"email": "nobody@example.com", "password": "whatever it is"}),
        )
        .await;
    assert_eq!(ild.status(), StatusCode::UNAUTHORIZED);
}

pub(crate) async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

on_both_backends!(roles_with_policies_decide_what_their_holders_may_do_on_the_next_request);
async fn roles_with_policies_decide_what_their_holders_may_do_on_the_next_request(
    backend: Backend,
) {
    use reqwest::Method;
    let app = app(backend).await;
    let (_, setup) = post(&app, "/v1/auth/setup", admin()).await;
    let root = setup["accessToken"].as_str().expect("token").to_string();
    let member = app.signed_in("member@example.com", "member password").await;
    let member_id = member["user"]["id"].as_str().expect("id").to_string();
    let login = || {
        post(
            &app,
            "/v1/auth/login",
            json!({"email": "member@example.com", "password": "member password"}),
        )
    };
    let (_, first) = login().await;
    assert_eq!(first["user"]["role"], Value::Null, "no role yet");
    let token = first["accessToken"].as_str().expect("token").to_string();
    let denied = json!({"message": "You don't have the permission to perform the current action."});
    assert_eq!(
        call(&app, Method::GET, "/v1/iam/roles", &token, None).await,
        (StatusCode::FORBIDDEN, denied.clone())
    );

    // The Super Admin reads the predefined roles and defines one.
    let (status, roles) = call(&app, Method::GET, "/v1/iam/roles", &root, None).await;
    assert_eq!(status, StatusCode::OK);
    let slugs: Vec<&str> = roles
        .as_array()
        .expect("roles")
        .iter()
        .map(|r| r["slug"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        slugs,
        [
            "predefined_super_admin",
            "predefined_end_user",
            "predefined_read_only_user"
        ]
    );
    let events = app.event_count().await;
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/v1/iam/roles",
            &root,
            Some(json!({"name": "Auditor"}))
        )
        .await,
        (
            StatusCode::BAD_REQUEST,
            json!({"message": "Missing required fields: name and policy."})
        )
    );
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/v1/iam/roles",
            &root,
            Some(json!({"name": "Auditor", "policies": [{"action": "fly", "subject": "roles"}]}))
        )
        .await,
        (
            StatusCode::BAD_REQUEST,
            json!({"message": "Invalid policy statement: unknown action \"fly\""})
        )
    );
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/v1/iam/roles",
            &token,
            Some(json!({"name": "Mine", "policies": []}))
        )
        .await,
        (
            StatusCode::FORBIDDEN,
            json!({"message": "Super Admin role is required to manage roles."})
        )
    );
    assert_eq!(app.event_count().await, events, "refusals write nothing");
    let (status, role) = call(&app, Method::POST, "/v1/iam/roles", &root,
        Some(json!({"name": "Role Auditor", "policies": [{"action": ["read", "search"], "subject": "roles"}]}))).await;
    assert_eq!(status, StatusCode::CREATED, "{role}");
    assert_eq!(role["slug"], "role_auditor");
    let role_id = role["id"].as_str().expect("id").to_string();

    // Given to the member (by the administrator, on the ILD surface): it
    // counts on their next request.
    let ild = app
        .post_json(
            "/sign/login",
            &json!({"email": "root@example.com", "password": "correct horse battery"}),
        )
        .await
        .json::<Value>()
        .await
        .expect("json");
    let granted = app
        .client
        .put(app.url(&format!("/admin/users/{member_id}/roles/role_auditor")))
        .bearer_auth(ild["token"].as_str().expect("token"))
        .send()
        .await
        .expect("request");
    assert!(granted.status().is_success(), "{}", granted.status());
    let (status, listed) = call(&app, Method::GET, "/v1/iam/roles", &token, None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed.as_array().map(Vec::len), Some(4));
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/v1/iam/roles",
            &token,
            Some(json!({"name": "Mine", "policies": []}))
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let (_, again) = login().await;
    assert_eq!(again["user"]["role"]["slug"], "role_auditor");

    // An inverted statement added later denies at once.
    let (status, _) = call(&app, Method::PUT, &format!("/v1/iam/roles/{role_id}"), &root,
        Some(json!({"policies": [{"action": "read", "subject": "roles"}, {"action": "read", "subject": "roles", "inverted": true}]}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        call(&app, Method::GET, "/v1/iam/roles", &token, None)
            .await
            .0,
        StatusCode::FORBIDDEN
    );

    // Predefined roles stay; defined ones go.
    let super_admin = slugs_id(&roles, "predefined_super_admin");
    assert_eq!(
        call(
            &app,
            Method::DELETE,
            &format!("/v1/iam/roles/{super_admin}"),
            &root,
            None
        )
        .await,
        (
            StatusCode::BAD_REQUEST,
            json!({"message": "Predefined roles cannot be changed or deleted."})
        )
    );
    assert_eq!(
        call(
            &app,
            Method::DELETE,
            &format!("/v1/iam/roles/{role_id}"),
            &root,
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(
            &app,
            Method::GET,
            &format!("/v1/iam/roles/{role_id}"),
            &root,
            None
        )
        .await,
        (StatusCode::NOT_FOUND, json!({"message": "Role not found."}))
    );
    let recorded = app
        .strings("SELECT CAST(metadata AS TEXT) FROM events WHERE event_type IN ('PolicyRoleCreated', 'PolicyRoleUpdated', 'PolicyRoleDeleted')")
        .await;
    assert_eq!(recorded.len(), 3);
    let root_id = setup["user"]["id"].as_str().expect("id");
    assert!(recorded
        .iter()
        .all(|m| m.contains(&format!("user:{root_id}"))));
}

pub(crate) fn slugs_id(roles: &Value, slug: &str) -> String {
    roles
        .as_array()
        .and_then(|roles| roles.iter().find(|r| r["slug"] == slug))
        .and_then(|r| r["id"].as_str())
        .expect("role")
        .to_string()
}
