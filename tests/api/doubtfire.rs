//! The Doubtfire surface: header tokens (sign in, extend, sign out, 419s,
//! the header variants, remember-me lifetimes by system role) and SAML 2.0
//! single sign-on with responses these tests sign themselves (key pairs in
//! `tests/fixtures/saml/`, made by its `generate.sh`).

use std::time::Duration;

use aggregates::UserCommand;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::Utc;
use eventauth::service::RequestContext;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_on, spawn_app_with, Backend, TestApp};

const PASSWORD: &str = "doubtfire password 1";
const NO_AUTH: &str =
    "No authentication details provided. Authentication is required to access this resource.";

/// A request with Doubtfire's credential headers (`names`: the header
/// names the client uses).
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    credentials: Option<(&str, &str)>,
    names: (&str, &str),
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.client.request(method, app.url(path));
    if let Some((token, username)) = credentials {
        request = request.header(names.0, token).header(names.1, username);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

const HEADERS: (&str, &str) = ("Auth-Token", "Username");

/// A POST without credentials.
async fn post(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    call(app, Method::POST, path, None, HEADERS, Some(body)).await
}

async fn sign_in(app: &TestApp, username: &str, remember: bool) -> (String, Value) {
    let (status, body) = call(
        app,
        Method::POST,
        "/api/auth",
        None,
        HEADERS,
        Some(json!({"username": username, "password": PASSWORD, "remember": remember})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = body["auth_token"].as_str().expect("auth_token").to_string();
    (token, body["user"].clone())
}

async fn get_self(
    app: &TestApp,
    user: &Value,
    token: &str,
    names: (&str, &str),
) -> (StatusCode, Value) {
    let path = format!("/api/users/{}", user["id"]);
    let username = user["username"].as_str().expect("username");
    call(
        app,
        Method::GET,
        &path,
        Some((token, username)),
        names,
        None,
    )
    .await
}

on_both_backends!(sign_in_extend_and_sign_out_with_header_tokens);
async fn sign_in_extend_and_sign_out_with_header_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("ada@example.com", PASSWORD).await;

    // Bad input: 400 naming what is missing; a wrong password 401; no event.
    let events = app.event_count().await;
    let (status, body) = post(&app, "/api/auth", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"error": "username is missing, password is missing"})
    );
    let (status, body) = post(
        &app,
        "/api/auth.json",
        json!({"username": "ada@example.com"}),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({"error": "password is missing"})
        )
    );
    let (status, body) = post(
        &app,
        "/api/auth",
        json!({"username": "ada@example.com", "password": PASSWORD, "remember": "often"}),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({"error": "remember is invalid"})
        )
    );
    assert_eq!(app.event_count().await, events, "bad input wrote an event");
    let (status, body) = post(
        &app,
        "/api/auth",
        json!({"username": "ada@example.com", "password": "wrong password"}),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::UNAUTHORIZED,
            json!({"error": "Invalid email or password."})
        )
    );
    let (status, _) = post(
        &app,
        "/api/auth",
        json!({"username": "nobody@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The caller's state cached by another surface first: the number the
    // Doubtfire sign-in assigns must reach that cache too.
    let login = app
        .post_json(
            "/v1/auth/login",
            &json!({"email": "ada@example.com", "password": PASSWORD}),
        )
        .await;
    let cookie = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            v.split(';')
                .next()
                .filter(|pair| pair.starts_with("BackstackJWT="))
        })
        .expect("a session cookie")
        .to_string();
    let session = app
        .client
        .get(app.url("/v1/auth/session"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("request");
    assert_eq!(session.status(), StatusCode::OK);

    // A form-encoded sign-in, the username in another case: Doubtfire's user.
    let response = app
        .client
        .post(app.url("/api/auth"))
        .form(&[
            ("username", "ADA@example.com"),
            ("password", PASSWORD),
            ("remember", "false"),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("json");
    let user = body["user"].clone();
    let first = body["auth_token"].as_str().expect("token").to_string();
    let id = user["id"].as_u64().expect("an integer id");
    assert_eq!(
        user,
        json!({"id": id, "student_id": null, "email": "ada@example.com", "first_name": "Ada",
               "last_name": "Lovelace", "username": "ada@example.com", "nickname": "Ada",
               "receive_task_notifications": true, "receive_portfolio_notifications": true,
               "receive_feedback_notifications": true, "opt_in_to_research": null,
               "has_run_first_time_setup": false, "system_role": "Student"})
    );
    assert!(
        !body.to_string().contains("argon2"),
        "a hash left the service"
    );

    // Several tokens per user, one id; every header spelling works.
    let (second, again) = sign_in(&app, "ada@example.com", true).await;
    assert_eq!(again["id"], id, "the number is stable");
    assert_ne!(first, second);
    for names in [
        ("Auth-Token", "Username"),
        ("Auth_Token", "Username"),
        ("auth_token", "username"),
        ("AUTH-TOKEN", "USERNAME"),
    ] {
        let (status, body) = get_self(&app, &user, &first, names).await;
        assert_eq!(status, StatusCode::OK, "{names:?}: {body}");
        assert_eq!(body["id"], id);
    }
    let query = format!("/api/users/{id}.json?auth_token={first}&username=ada%40example.com");
    assert_eq!(
        call(&app, Method::GET, &query, None, HEADERS, None).await.0,
        StatusCode::OK
    );

    // 419, never 401, for authentication; 403 for another user.
    for credentials in [
        None,
        Some(("not-a-token", "ada@example.com")),
        Some((first.as_str(), "eve@example.com")),
    ] {
        let (status, body) = call(
            &app,
            Method::GET,
            &format!("/api/users/{id}"),
            credentials,
            HEADERS,
            None,
        )
        .await;
        assert_eq!(status.as_u16(), 419, "{credentials:?}");
        assert_eq!(body, json!({"error": NO_AUTH}));
    }
    let (status, body) = call(
        &app,
        Method::GET,
        &format!("/api/users/{}", id + 1000),
        Some((&first, "ada@example.com")),
        HEADERS,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body,
        json!({"error": format!("Cannot find User with id {}", id + 1000)})
    );

    // Extend: the same token; 404s with Doubtfire's texts.
    let (status, body) = call(
        &app,
        Method::PUT,
        "/api/auth",
        Some((&first, "ada@example.com")),
        HEADERS,
        Some(json!({"remember": true})),
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"auth_token": first}))
    );
    let (status, body) = call(&app, Method::PUT, "/api/auth/", None, HEADERS, None).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::NOT_FOUND,
            json!({"error": "Invalid token/username."})
        )
    );
    let (status, body) = call(
        &app,
        Method::PUT,
        "/api/auth",
        Some(("nope", "ada@example.com")),
        HEADERS,
        None,
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, json!({"error": "Invalid token."}))
    );

    // Sign out: 204, empty; that token dies, the other lives.
    let events = app.event_count().await;
    let response = app
        .client
        .delete(app.url("/api/auth"))
        .header("Auth-Token", &first)
        .header("Username", "ada@example.com")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.bytes().await.expect("body").is_empty());
    assert_eq!(app.event_count().await, events + 1, "one SessionEnded");
    assert_eq!(get_self(&app, &user, &first, HEADERS).await.0.as_u16(), 419);
    assert_eq!(
        get_self(&app, &user, &second, HEADERS).await.0,
        StatusCode::OK
    );
    let response = app
        .client
        .delete(app.url("/api/auth"))
        .header("Auth-Token", "garbage")
        .header("Username", "ada@example.com")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    // The auth method and sign-out URL without single sign-on.
    let (_, method) = call(&app, Method::GET, "/api/auth/method", None, HEADERS, None).await;
    assert_eq!(method, json!({"method": "database", "redirect_to": null}));
    let (_, signout) = call(
        &app,
        Method::GET,
        "/api/auth/signout_url.json",
        None,
        HEADERS,
        None,
    )
    .await;
    assert_eq!(signout, json!({"auth_signout_url": null}));
}

on_postgres_only!(a_token_signed_out_on_one_instance_is_dead_on_the_other_at_once);
async fn a_token_signed_out_on_one_instance_is_dead_on_the_other_at_once(backend: Backend) {
    let first = spawn_app(backend).await;
    let second = spawn_app_on(first.db.clone(), |_| {}).await;
    first.register("ada@example.com", PASSWORD).await;
    let (token, user) = sign_in(&first, "ada@example.com", false).await;
    // The second instance caches the live token by using it.
    assert_eq!(
        get_self(&second, &user, &token, HEADERS).await.0,
        StatusCode::OK
    );
    let response = first
        .client
        .delete(first.url("/api/auth"))
        .header("Auth-Token", &token)
        .header("Username", "ada@example.com")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // The other instance hears of it from the log at once (woken by this
    // instance's announcement on PostgreSQL's NOTIFY), not after its
    // minute-long cache re-check nor its feed's one-second poll: a second is
    // the bound allowed here for a loaded machine.
    let started = std::time::Instant::now();
    let (mut status, mut body) = get_self(&second, &user, &token, HEADERS).await;
    while status == StatusCode::OK && started.elapsed() < Duration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        (status, body) = get_self(&second, &user, &token, HEADERS).await;
    }
    assert_eq!((status.as_u16(), body), (419, json!({"error": NO_AUTH})));
}

on_both_backends!(remember_lifetimes_follow_the_system_role_and_expired_tokens_say_so);
async fn remember_lifetimes_follow_the_system_role_and_expired_tokens_say_so(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        config.doubtfire_token_ttl = 2;
        config.doubtfire_remember_tutor_ttl = 2;
        config.doubtfire_remember_student_ttl = 120;
    })
    .await;
    app.register("student@example.com", PASSWORD).await;
    let tutor: Value = app
        .register("tutor@example.com", PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    app.app
        .store
        .execute::<aggregates::User>(
            tutor["id"].as_str().expect("id"),
            UserCommand::GrantRole {
                role: "tutor".to_string(),
            },
            &RequestContext::system().metadata(),
        )
        .await
        .expect("tutor");
    let (short, student) = sign_in(&app, "student@example.com", false).await;
    let (remembered, _) = sign_in(&app, "student@example.com", true).await;
    let (tutor_token, tutor_user) = sign_in(&app, "tutor@example.com", true).await;
    assert_eq!(tutor_user["system_role"], "Tutor");
    tokio::time::sleep(Duration::from_millis(3_100)).await;

    let expired = json!({"error": "Authentication token expired."});
    let put = |token: String| {
        let app = &app;
        async move {
            call(
                app,
                Method::PUT,
                "/api/auth",
                Some((&token, "student@example.com")),
                HEADERS,
                None,
            )
            .await
        }
    };
    // Doubtfire answers PUT on an expired token with itself, unextended.
    assert_eq!(
        put(short.clone()).await,
        (StatusCode::OK, json!({"auth_token": short}))
    );
    assert_eq!(
        get_self(&app, &student, &short, HEADERS).await,
        (StatusCode::from_u16(419).expect("419"), expired.clone())
    );
    assert_eq!(
        get_self(&app, &tutor_user, &tutor_token, HEADERS).await.1,
        expired
    );
    assert_eq!(
        get_self(&app, &student, &remembered, HEADERS).await.0,
        StatusCode::OK
    );
    // Refused, it stays refused the same way, and writes nothing (Doubtfire
    // deletes the token then: its second answer differs, its client acts
    // on the 419 alone).
    let events = app.event_count().await;
    assert_eq!(get_self(&app, &student, &short, HEADERS).await.1, expired);
    assert_eq!(app.event_count().await, events, "a refusal wrote an event");
}

// ---------------------------------------------------------------- SAML

use eventauth::saml::testing::{
    assertion, fixture, response_around, sha1_signed_response, sign_with, signed_response, Claims,
    ACS, FRONT, IDP, SP, SSO,
};

async fn post_saml(app: &TestApp, encoded: &str) -> (StatusCode, Option<String>, Value) {
    let response = app
        .client
        .post(app.url("/api/auth/jwt"))
        .form(&[("SAMLResponse", encoded)])
        .send()
        .await
        .expect("request");
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = response.text().await.expect("body");
    (
        status,
        location,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

async fn saml_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |config| {
        config.saml.saml_idp_cert = Some(fixture("idp.crt"));
        config.saml.saml_idp_sso_url = Some(SSO.to_string());
        config.saml.saml_idp_entity_id = Some(IDP.to_string());
        config.saml.saml_sp_entity_id = Some(SP.to_string());
        config.saml.saml_acs_url = Some(ACS.to_string());
        config.doubtfire_frontend_url = FRONT.to_string();
    })
    .await
}

on_both_backends!(a_signed_saml_response_signs_in_through_a_one_time_token);
async fn a_signed_saml_response_signs_in_through_a_one_time_token(backend: Backend) {
    let app = saml_app(backend).await;

    // The method names the IdP's login URL with a deflated AuthnRequest.
    let (_, method) = call(&app, Method::GET, "/api/auth/method", None, HEADERS, None).await;
    assert_eq!(method["method"], "saml");
    let redirect = method["redirect_to"].as_str().expect("redirect_to");
    let encoded = redirect
        .strip_prefix(&format!("{SSO}?SAMLRequest="))
        .expect("an SSO URL");
    let deflated = STANDARD
        .decode(urlencoding_decode(encoded))
        .expect("base64");
    let mut request = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::DeflateDecoder::new(&deflated[..]),
        &mut request,
    )
    .expect("deflated");
    assert!(
        request.contains(&format!(r#"AssertionConsumerServiceURL="{ACS}""#)),
        "{request}"
    );
    assert!(
        request.contains(&format!("<saml:Issuer>{SP}</saml:Issuer>")),
        "{request}"
    );

    // The password route is not there in SAML mode.
    let (status, body) = post(
        &app,
        "/api/auth",
        json!({"username": "grace@uni.test", "password": PASSWORD}),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({"error": "auth_token is missing"})
        )
    );

    // A valid response: 303 to the front end with a one-time token.
    let mut claims = Claims::valid("grace@uni.test");
    claims.staff = true;
    let valid = signed_response(&claims, "idp");
    let (status, location, _) = post_saml(&app, &valid).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = location.expect("location");
    let query = location
        .strip_prefix(&format!("{FRONT}/#/sign_in?"))
        .expect("the front end's sign-in route");
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).expect("query");
    let one_time = pairs
        .iter()
        .find(|(k, _)| k == "authToken")
        .expect("authToken")
        .1
        .clone();
    let username = pairs
        .iter()
        .find(|(k, _)| k == "username")
        .expect("username")
        .1
        .clone();
    assert_eq!(username, "grace@uni.test");

    // The one-time token is no token: only exchanged, once.
    let user_path = "/api/users/1";
    assert_eq!(
        call(
            &app,
            Method::GET,
            user_path,
            Some((&one_time, &username)),
            HEADERS,
            None
        )
        .await
        .0
        .as_u16(),
        419
    );
    // Under another name it is refused and stays usable.
    let (status, body) = post(
        &app,
        "/api/auth",
        json!({"username": "eve@uni.test", "auth_token": one_time}),
    )
    .await;
    assert_eq!((status.as_u16(), body), (419, json!({"error": NO_AUTH})));
    let (status, body) = post(
        &app,
        "/api/auth",
        json!({"username": username, "auth_token": one_time}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["user"]["system_role"], "Tutor",
        "a Staff role makes a Tutor"
    );
    assert_eq!(
        (&body["user"]["first_name"], &body["user"]["last_name"]),
        (&json!("Grace"), &json!("Hopper"))
    );
    let token = body["auth_token"].as_str().expect("token").to_string();
    let (status, me) = get_self(&app, &body["user"], &token, HEADERS).await;
    assert_eq!(
        (status, &me["email"]),
        (StatusCode::OK, &json!("grace@uni.test"))
    );
    let (status, body) = post(
        &app,
        "/api/auth",
        json!({"username": username, "auth_token": one_time}),
    )
    .await;
    assert_eq!((status.as_u16(), body), (419, json!({"error": NO_AUTH})));

    // Signing on again finds the same user by the linked identity.
    let (status, location, _) = post_saml(
        &app,
        &signed_response(&Claims::valid("grace@uni.test"), "idp"),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location
        .expect("location")
        .contains("username=grace%40uni.test"));
    assert_eq!(app.count("SELECT count(*) FROM users").await, 1);

    // Refused, each with no session, no user and no event: a replay,
    // unsigned, signed by another key, wrapped, expired, not yet valid,
    // for another audience or recipient.
    let wrapped = {
        let signed = sign_with(
            &response_around(&assertion(&Claims::valid("eve@uni.test"), true)),
            "idp",
        );
        let mut evil = Claims::valid("admin@uni.test");
        evil.id = "_evil".to_string();
        signed.replacen(
            "<saml:Assertion",
            &format!("{}<saml:Assertion", assertion(&evil, false)),
            1,
        )
    };
    let moved = {
        // The signed assertion tucked into the status, an unsigned one used.
        let signed = sign_with(
            &response_around(&assertion(&Claims::valid("eve@uni.test"), true)),
            "idp",
        );
        let start = signed.find("<saml:Assertion").expect("assertion");
        let end = signed.rfind("</samlp:Response>").expect("end");
        let signed_assertion = &signed[start..end];
        let mut evil = Claims::valid("admin@uni.test");
        evil.id = "_evil2".to_string();
        response_around(&assertion(&evil, false)).replace(
            "</samlp:Status>",
            &format!("<samlp:StatusDetail>{signed_assertion}</samlp:StatusDetail></samlp:Status>"),
        )
    };
    let mut expired = Claims::valid("eve@uni.test");
    expired.not_before = Utc::now() - chrono::Duration::seconds(600);
    expired.not_on_or_after = Utc::now() - chrono::Duration::seconds(60);
    let mut early = Claims::valid("eve@uni.test");
    early.not_before = Utc::now() + chrono::Duration::seconds(120);
    let mut elsewhere = Claims::valid("eve@uni.test");
    elsewhere.audience = "https://other-sp.test".to_string();
    let mut misdirected = Claims::valid("eve@uni.test");
    misdirected.recipient = "https://other-sp.test/acs".to_string();
    let refusals = [
        ("replayed", valid.clone()),
        (
            "unsigned",
            STANDARD.encode(response_around(&assertion(
                &Claims::valid("eve@uni.test"),
                false,
            ))),
        ),
        (
            "another key",
            signed_response(&Claims::valid("eve@uni.test"), "impostor"),
        ),
        ("a second, unsigned assertion", STANDARD.encode(wrapped)),
        ("the signed assertion moved", STANDARD.encode(moved)),
        ("expired", signed_response(&expired, "idp")),
        ("not yet valid", signed_response(&early, "idp")),
        ("another audience", signed_response(&elsewhere, "idp")),
        ("another recipient", signed_response(&misdirected, "idp")),
        (
            "signed with SHA-1",
            sha1_signed_response(&Claims::valid("eve@uni.test"), "idp"),
        ),
        ("not base64", "%%%".to_string()),
        ("not XML", STANDARD.encode("<samlp:Response")),
    ];
    let events = app.event_count().await;
    for (why, encoded) in refusals {
        let (status, location, body) = post_saml(&app, &encoded).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}");
        assert_eq!(body, json!({"error": "Invalid SAML response."}), "{why}");
        assert!(location.is_none(), "{why}");
    }
    assert_eq!(
        app.event_count().await,
        events,
        "a refused response wrote an event"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM users").await,
        1,
        "a refused response made a user"
    );
    let (status, body) = post(&app, "/api/auth/jwt", json!({})).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({"error": "SAMLResponse is missing"})
        )
    );
}

/// `%XX` decoding of a query value (the base64 of a SAMLRequest).
fn urlencoding_decode(value: &str) -> String {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(&format!("v={value}")).expect("urlencoded");
    pairs.into_iter().next().expect("value").1
}
