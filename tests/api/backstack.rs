//! The Backstack surface: login with account selection, the session object
//! carried by the `BackstackJWT` cookie, logout by GET and POST, and the
//! login shared with Open Archiver answering both shapes.

use eventauth::service::{member_accounts, RequestContext};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app, Backend, TestApp};

/// A Backstack client's request: the session cookie when it has one.
async fn request(
    app: &TestApp,
    method: Method,
    path: &str,
    cookie: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value, Option<String>) {
    let mut request = app.client.request(method, app.url(path));
    if let Some(cookie) = cookie {
        request = request.header("cookie", format!("BackstackJWT={cookie}"));
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let set = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("BackstackJWT="))
        .map(str::to_string);
    (status, response.json().await.unwrap_or(Value::Null), set)
}

/// The cookie's value in a `Set-Cookie` header.
fn value_of(set_cookie: &str) -> String {
    let pair = set_cookie.split(';').next().expect("pair");
    pair.trim_start_matches("BackstackJWT=").to_string()
}

async fn user(app: &TestApp, email: &str) -> Uuid {
    let registered: Value = app
        .register(email, "backstack password 1")
        .await
        .json()
        .await
        .expect("json");
    Uuid::parse_str(registered["id"].as_str().expect("id")).expect("uuid")
}

async fn account(app: &TestApp, title: &str) -> Uuid {
    member_accounts::create(
        &app.app,
        member_accounts::By::Operator,
        None,
        title,
        &RequestContext::system(),
    )
    .await
    .expect("account")
}

async fn join(app: &TestApp, account: Uuid, user: Uuid, roles: &[&str]) {
    let roles = roles.iter().map(|r| r.to_string()).collect();
    member_accounts::add_member(
        &app.app,
        member_accounts::By::Operator,
        account,
        user,
        roles,
        &RequestContext::system(),
    )
    .await
    .expect("member");
}

async fn login(app: &TestApp, username: &str) -> (Value, String) {
    let (status, body, set) = request(
        app,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"username": username, "password": "backstack password 1"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let set = set.expect("a session cookie");
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Lax"), "{set}");
    (body, value_of(&set))
}

on_both_backends!(accounts_are_chosen_at_login_or_after_and_logout_ends_the_session);
async fn accounts_are_chosen_at_login_or_after_and_logout_ends_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let (north, south, east, other) = (
        account(&app, "North Account").await,
        account(&app, "South Account").await,
        account(&app, "East Account").await,
        account(&app, "Someone Else's").await,
    );
    let single = user(&app, "single@example.com").await;
    join(&app, north, single, &["admin"]).await;
    let many = user(&app, "many@example.com").await;
    for (account, role) in [(north, "member"), (south, "admin"), (east, "member")] {
        join(&app, account, many, &[role]).await;
    }

    // One account: signed in to it at once.
    let (session, _) = login(&app, "single@example.com").await;
    assert_eq!(session["auth"], true);
    assert_eq!(
        session["account"],
        json!({"id": north, "title": "North Account"})
    );
    assert_eq!(session["user"]["roles"], json!(["admin"]));
    assert_eq!(session["user"]["email"], "single@example.com");
    assert!(session.get("select_account").is_none());

    // Three: a choice to make, then the chosen one.
    let (session, cookie) = login(&app, "many@example.com").await;
    assert_eq!(session["auth"], false);
    assert_eq!(session["account"], Value::Null);
    assert_eq!(
        session["select_account"],
        json!({"accounts": {north.to_string(): "North Account", south.to_string(): "South Account",
                            east.to_string(): "East Account"},
               "last_login": null})
    );
    let (status, pending, _) =
        request(&app, Method::GET, "/v1/auth/session", Some(&cookie), None).await;
    assert_eq!((status, &pending["auth"]), (StatusCode::OK, &json!(false)));
    assert!(pending["select_account"]["accounts"].is_object());

    let events = app.event_count().await;
    let (status, refused, _) = request(
        &app,
        Method::POST,
        "/v1/auth/login-account",
        Some(&cookie),
        Some(json!({"account_id": other})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{refused}");
    assert_eq!(refused["error"]["fields"], json!([]));
    assert_eq!(app.event_count().await, events, "a refusal writes nothing");

    let (status, chosen, _) = request(
        &app,
        Method::POST,
        "/v1/auth/login-account",
        Some(&cookie),
        Some(json!({"account_id": south})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{chosen}");
    assert_eq!(chosen["auth"], true);
    assert_eq!(
        chosen["account"],
        json!({"id": south, "title": "South Account"})
    );
    assert_eq!(chosen["user"]["roles"], json!(["admin"]));
    let (_, now, _) = request(&app, Method::GET, "/v1/auth/session", Some(&cookie), None).await;
    assert_eq!(
        (&now["auth"], &now["account"]["id"]),
        (&json!(true), &json!(south))
    );
    crate::helpers::assert_recorded_with_metadata(&app, "AccountSelected", &format!("user:{many}"))
        .await;

    // Logout by GET: signed out at once, the cookie cleared.
    let signed_out = json!({"auth": false, "account": null, "user": null, "access": {}});
    let (status, out, cleared) =
        request(&app, Method::GET, "/v1/auth/logout", Some(&cookie), None).await;
    assert_eq!((status, &out), (StatusCode::OK, &signed_out));
    assert!(cleared.is_some_and(|c| c.starts_with("BackstackJWT=;")));
    let (_, after, _) = request(&app, Method::GET, "/v1/auth/session", Some(&cookie), None).await;
    assert_eq!(after, signed_out);

    // The next login offers the account chosen last; logout by POST.
    let (session, cookie) = login(&app, "many@example.com").await;
    assert_eq!(session["select_account"]["last_login"], json!(south));
    let (status, out, _) =
        request(&app, Method::POST, "/v1/auth/logout", Some(&cookie), None).await;
    assert_eq!((status, out), (StatusCode::OK, signed_out.clone()));
    let (_, after, _) = request(&app, Method::GET, "/v1/auth/session", Some(&cookie), None).await;
    assert_eq!(after, signed_out);
    let (status, refused, _) = request(
        &app,
        Method::POST,
        "/v1/auth/login-account",
        Some(&cookie),
        Some(json!({"account_id": south})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
}

on_both_backends!(errors_carry_fields_as_an_empty_list_or_an_object);
async fn errors_carry_fields_as_an_empty_list_or_an_object(backend: Backend) {
    let app = spawn_app(backend).await;
    user(&app, "someone@example.com").await;
    let events = app.event_count().await;

    let (status, missing, _) = request(
        &app,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"username": "someone@example.com"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(missing["message"], "Email and password are required");
    assert_eq!(missing["error"]["type"], "user");
    assert_eq!(missing["error"]["code"], 400);
    assert_eq!(
        missing["error"]["fields"],
        json!({"password": "Email and password are required"})
    );
    assert_eq!(app.event_count().await, events, "a refusal writes nothing");

    let (status, wrong, set) = request(
        &app,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"username": "someone@example.com", "password": "not the password"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(set.is_none());
    assert_eq!(
        wrong,
        json!({"message": "Invalid credentials",
               "error": {"type": "user", "code": 401, "message": "Invalid credentials", "fields": []}})
    );
    // A failed login is kept for audit (its identifier hashed), nothing else.
    let audit = app
        .count("SELECT count(*) FROM events WHERE aggregate_type = 'login_failures'")
        .await;
    assert_eq!(app.event_count().await, events + audit);
    let events = app.event_count().await;

    let (status, no_session, _) = request(
        &app,
        Method::POST,
        "/v1/auth/login-account",
        None,
        Some(json!({"account_id": Uuid::now_v7()})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(no_session["error"]["fields"], json!([]));
    let (status, no_account, _) = request(
        &app,
        Method::POST,
        "/v1/auth/login-account",
        None,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        no_account["error"]["fields"],
        json!({"account_id": "An account must be selected"})
    );
    assert_eq!(app.event_count().await, events, "refusals write nothing");

    // An unsafe request from a foreign origin is refused before anything.
    let refused = app
        .client
        .post(app.url("/v1/auth/logout"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}

on_both_backends!(one_login_answers_open_archiver_and_backstack_alike);
async fn one_login_answers_open_archiver_and_backstack_alike(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = user(&app, "both@example.com").await;
    let team = account(&app, "Team").await;
    join(&app, team, id, &["owner"]).await;
    let (status, answer, set) = request(
        &app,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(json!({"email": "both@example.com", "password": "backstack password 1"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let token = answer["accessToken"]
        .as_str()
        .expect("Open Archiver's token");
    assert_eq!(answer["auth"], true);
    let mut keys: Vec<&str> = answer["user"]
        .as_object()
        .expect("user")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "avatar",
            "createdAt",
            "email",
            "first_name",
            "id",
            "last_name",
            "name",
            "provider",
            "providerId",
            "role",
            "roles",
            "updatedAt",
            "username"
        ]
    );
    let cookie = value_of(&set.expect("cookie"));

    // A Backstack cookie is no Kolibri session cookie, even while this
    // instance has it cached from the login.
    let kolibri: Value = app
        .client
        .get(app.url("/api/auth/session/current/"))
        .header("cookie", format!("kolibri={cookie}"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(kolibri["user_id"], Value::Null, "{kolibri}");

    // The token works on Open Archiver's routes, and dies with the session
    // a Backstack logout ends.
    let profile = |token: String| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/v1/users/profile"))
                .bearer_auth(token)
                .send()
                .await
                .expect("request")
                .status()
        }
    };
    assert_eq!(profile(token.to_string()).await, StatusCode::OK);
    request(&app, Method::GET, "/v1/auth/logout", Some(&cookie), None).await;
    assert_eq!(profile(token.to_string()).await, StatusCode::UNAUTHORIZED);
}

on_both_backends!(administrators_create_accounts_and_place_members_over_http);
async fn administrators_create_accounts_and_place_members_over_http(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = crate::helpers::admin_token(&app).await;
    let member = user(&app, "member@example.com").await;
    let member_token: Value = app
        .login("member@example.com", "backstack password 1")
        .await
        .json()
        .await
        .expect("json");
    let member_token = member_token["token"].as_str().expect("token").to_string();

    let events = app.event_count().await;
    let refused = app
        .client
        .post(app.url("/admin/accounts"))
        .bearer_auth(&member_token)
        .json(&json!({"title": "Mine"}))
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.event_count().await, events, "a refusal writes nothing");

    let created: Value = app
        .client
        .post(app.url("/admin/accounts"))
        .bearer_auth(&admin)
        .json(&json!({"title": "  Acme  "}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(created["title"], "Acme");
    let account = created["id"].as_str().expect("id").to_string();
    let members = format!("/admin/accounts/{account}/members/{member}");
    let placed = app
        .client
        .put(app.url(&members))
        .bearer_auth(&admin)
        .json(&json!({"roles": ["editor"]}))
        .send()
        .await
        .expect("request");
    assert_eq!(placed.status(), StatusCode::NO_CONTENT);
    let profile: Value = app
        .get_auth("/user/profile", &admin)
        .await
        .json()
        .await
        .expect("json");
    let admin_id = profile["id"].as_str().expect("id").to_string();
    crate::helpers::assert_recorded_with_metadata(
        &app,
        "AccountJoined",
        &format!("user:{admin_id}"),
    )
    .await;

    let (session, cookie) = login(&app, "member@example.com").await;
    assert_eq!(session["account"]["title"], "Acme");
    assert_eq!(session["user"]["roles"], json!(["editor"]));

    // Taken out: the live session no longer acts in the account.
    let removed = app
        .client
        .delete(app.url(&members))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("request");
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let (_, now, _) = request(&app, Method::GET, "/v1/auth/session", Some(&cookie), None).await;
    assert_eq!(
        (&now["auth"], &now["account"]),
        (&json!(false), &Value::Null)
    );
}
