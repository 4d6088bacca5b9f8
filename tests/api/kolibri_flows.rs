//! Kolibri sessions, facility users and sign-up, as a Kolibri 0.19.5
//! client sees them: cookies, CSRF, answers and error ids (compared with
//! the live Kolibri by `scripts/kolibri-conformance.py`).

use aggregates::RoleKind;
use eventauth::service::facility_users;
use eventauth::service::{collections, sessions, RequestContext};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{events_of, spawn_app, spawn_app_with, Backend};
use crate::kolibri_world::{hex, keys, world, Answer, Browser, SESSION_KEYS};

on_both_backends!(login_answers_as_kolibri_does);
async fn login_answers_as_kolibri_does(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = world(&app).await;
    let browser = Browser::new(&app);

    // The default facility when none is named; cookies as Kolibri's.
    let ok = browser.login("ada", "adapass", None).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(keys(&ok.body), SESSION_KEYS);
    assert_eq!(ok.body["id"], "current");
    assert_eq!(ok.body["username"], "ada");
    assert_eq!(ok.body["full_name"], "Ada Lovelace");
    assert_eq!(ok.body["user_id"], hex(w.id("ada")));
    assert_eq!(ok.body["facility_id"], hex(w.home));
    assert_eq!(ok.body["kind"], json!(["learner"]));
    assert_eq!(ok.body["can_manage_content"], false);
    let session = ok.cookie("kolibri").expect("session cookie");
    assert!(session.contains("HttpOnly"), "{session}");
    let csrf = ok.cookie("kolibri_csrftoken").expect("csrf cookie");
    assert!(!csrf.contains("HttpOnly"), "{csrf}");
    assert!(
        !ok.body
            .to_string()
            .contains(&browser.cookie("kolibri").expect("kept")),
        "the session secret stays in its cookie"
    );

    // Kinds: superuser first; roles; a superuser logs in naming another
    // facility (Kolibri's superuser scope).
    let root = Browser::new(&app)
        .login("root", "rootpass", Some(w.school))
        .await;
    assert_eq!(root.status, StatusCode::OK);
    assert_eq!(root.body["kind"], json!(["superuser", "admin"]));
    assert_eq!(root.body["can_manage_content"], true);
    assert_eq!(root.body["facility_id"], hex(w.home));
    let boss = Browser::new(&app)
        .login("BOSS", "bosspass", Some(w.home))
        .await;
    assert_eq!(
        boss.body["kind"],
        json!(["admin"]),
        "case-insensitive username"
    );

    // Failures, each as Kolibri says it; none starts a session.
    let sessions = events_of(&app, "SessionStarted").await;
    let wrong = Browser::new(&app).login("ada", "nope", Some(w.home)).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong.body,
        json!([{ "id": "INVALID_CREDENTIALS", "metadata": {} }])
    );
    assert!(wrong.cookie("kolibri").is_none());
    let unknown = Browser::new(&app).login("zed", "x", Some(w.home)).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        unknown.body,
        json!([{ "id": "NOT_FOUND", "metadata": { "field": "username", "message": "Username not found." } }])
    );
    let empty = Browser::new(&app).login("ada", "", Some(w.home)).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert_eq!(empty.error_ids(), ["MISSING_PASSWORD"]);
    assert_eq!(empty.body[0]["metadata"]["field"], "password");
    let unset = Browser::new(&app).login("nopass", "", Some(w.home)).await;
    assert_eq!(unset.status, StatusCode::BAD_REQUEST);
    assert_eq!(unset.error_ids(), ["PASSWORD_NOT_SPECIFIED"]);
    let other_facility = Browser::new(&app)
        .login("ada", "adapass", Some(w.school))
        .await;
    assert_eq!(other_facility.error_ids(), ["NOT_FOUND"]);
    // Django REST framework's primary-key errors: bare strings.
    let unknown_facility = Uuid::now_v7();
    let no_facility = Browser::new(&app)
        .login("ada", "adapass", Some(unknown_facility))
        .await;
    assert_eq!(no_facility.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        no_facility.body,
        json!([format!(
            "Invalid pk \"{}\" - object does not exist.",
            hex(unknown_facility)
        )])
    );
    assert!(
        no_facility.cookie("kolibri_csrftoken").is_some(),
        "on every session answer"
    );
    let malformed = Browser::new(&app)
        .send(
            Method::POST,
            "/api/auth/session",
            Some(json!({ "username": "ada", "password": "adapass", "facility": "nope" })),
            false,
        )
        .await;
    assert_eq!(
        malformed.body,
        json!(["Incorrect type. Expected pk value, received str."])
    );
    let not_json = Browser::new(&app)
        .client
        .post(format!("{}/api/auth/session", app.address))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .expect("request");
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    let body: Value = not_json.json().await.expect("json");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with("JSON parse error")),
        "{body}"
    );
    let get = Browser::new(&app).get("/api/auth/session/current").await;
    assert_eq!(get.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(get.body, json!({ "detail": "Method \"GET\" not allowed." }));

    // Prevalidation checks only.
    let pre = Browser::new(&app)
        .send(
            Method::POST,
            "/api/auth/session?prevalidate=true",
            Some(json!({ "username": "ada", "password": "adapass" })),
            false,
        )
        .await;
    assert_eq!(
        (pre.status, pre.body.clone()),
        (StatusCode::OK, json!({ "full_name": "Ada Lovelace" }))
    );
    assert!(pre.cookie("kolibri").is_none());
    assert_eq!(events_of(&app, "SessionStarted").await, sessions);

    // Kolibri's `{user_id, auth_token}` login, with a token we made.
    let token = sessions::login_token(&app.app, w.id("carl"))
        .await
        .expect("token");
    let by_token = Browser::new(&app)
        .send(
            Method::POST,
            "/api/auth/session",
            Some(json!({ "user_id": hex(w.id("carl")), "auth_token": token })),
            false,
        )
        .await;
    assert_eq!(by_token.status, StatusCode::OK, "{:?}", by_token.body);
    assert_eq!(by_token.body["username"], "carl");
    let foreign = Browser::new(&app)
        .send(
            Method::POST,
            "/api/auth/session",
            Some(json!({ "user_id": hex(w.id("ada")), "auth_token": token })),
            false,
        )
        .await;
    assert_eq!(foreign.error_ids(), ["NOT_FOUND"], "another user's token");

    // Passwordless learners where the facility allows it, with any
    // password; never someone with a role.
    for password in ["", "whatever"] {
        let kid = Browser::new(&app)
            .login("kid", password, Some(w.school))
            .await;
        assert_eq!(kid.status, StatusCode::OK, "{password:?}: {:?}", kid.body);
        assert_eq!(kid.body["kind"], json!(["learner"]));
    }
    let gina = Browser::new(&app).login("gina", "", Some(w.school)).await;
    assert_eq!(gina.status, StatusCode::OK, "learners with a password too");
    let mentor = Browser::new(&app).login("mentor", "", Some(w.school)).await;
    assert_eq!(mentor.error_ids(), ["MISSING_PASSWORD"]);
    let mentor = Browser::new(&app)
        .login("mentor", "bad", Some(w.school))
        .await;
    assert_eq!(mentor.status, StatusCode::UNAUTHORIZED);
    let mentor = Browser::new(&app)
        .login("mentor", "mentorpass", Some(w.school))
        .await;
    assert_eq!(mentor.body["kind"], json!(["coach"]));
    // Nothing secret in the recorded session events.
    let sessions = app
        .strings("SELECT CAST(payload AS TEXT) FROM events WHERE event_type = 'SessionStarted'")
        .await;
    let secret = browser.cookie("kolibri").expect("cookie");
    assert!(sessions.iter().all(|p| !p.contains(&secret)));
}

on_both_backends!(sessions_keep_alive_csrf_and_logout);
async fn sessions_keep_alive_csrf_and_logout(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = world(&app).await;
    let browser = Browser::new(&app);

    // Anonymous: the anonymous session, a visitor id, a CSRF cookie.
    let anon = browser
        .send(Method::PUT, "/api/auth/session/current", None, false)
        .await;
    assert_eq!(anon.status, StatusCode::OK);
    assert_eq!(anon.body["kind"], json!(["anonymous"]));
    assert_eq!(anon.body["user_id"], Value::Null);
    assert_eq!(anon.body["username"], "");
    assert_eq!(anon.body["facility_id"], hex(w.home));
    assert!(anon.cookie("visitor_id").is_some());
    assert!(anon.cookie("kolibri_csrftoken").is_some());
    let visitor = browser.cookie("visitor_id").expect("visitor");
    let again = browser
        .send(Method::PUT, "/api/auth/session/current/", None, false)
        .await;
    assert!(again
        .cookie("visitor_id")
        .expect("renewed")
        .contains(&visitor));

    let anonymous_token = browser.cookie("kolibri_csrftoken");
    let login = browser.login("teach", "teachpass", None).await;
    assert_eq!(login.body["kind"], json!(["coach"]));
    assert!(
        login.cookie("kolibri_csrftoken").is_some(),
        "rotated at login"
    );

    // Unsafe methods of a signed-in client need the session's CSRF token.
    let refused = browser
        .send(Method::PUT, "/api/auth/session/current", None, false)
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.error_ids(), ["PERMISSION_DENIED"]);
    let other = Browser::new(&app);
    other.login("ada", "adapass", None).await;
    let foreign = browser
        .client
        .put(format!("{}/api/auth/session/current", browser.base))
        .header(
            "X-CSRFToken",
            other.cookie("kolibri_csrftoken").expect("token"),
        )
        .send()
        .await
        .expect("request");
    assert_eq!(
        foreign.status(),
        StatusCode::FORBIDDEN,
        "another session's token"
    );
    assert_ne!(browser.cookie("kolibri_csrftoken"), anonymous_token);
    // Reads need no token.
    assert_eq!(
        browser.get("/api/auth/facilityuser").await.status,
        StatusCode::OK
    );

    // Keep-alives answer the session and record nothing per request.
    let extended = events_of(&app, "SessionExtended").await;
    for _ in 0..5 {
        let alive = browser
            .send(Method::PUT, "/api/auth/session/current", None, true)
            .await;
        assert_eq!(alive.status, StatusCode::OK);
        assert_eq!(alive.body["username"], "teach");
    }
    assert_eq!(events_of(&app, "SessionExtended").await, extended);

    // A Kolibri cookie is no ILD refresh token.
    let secret = browser.cookie("kolibri").expect("session");
    let exchanged = app.refresh(&secret).await;
    assert_eq!(exchanged.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        browser.signed_in_as().await,
        "teach",
        "and the session lives on"
    );

    // Logout: [], the cookie cleared, the session over everywhere.
    let out = browser
        .send(Method::DELETE, "/api/auth/session/current", None, true)
        .await;
    assert_eq!((out.status, out.body.clone()), (StatusCode::OK, json!([])));
    assert!(out
        .cookie("kolibri")
        .expect("cleared")
        .contains("Max-Age=0"));
    let replayed = reqwest::Client::new()
        .put(format!("{}/api/auth/session/current", browser.base))
        .header("cookie", format!("kolibri={secret}"))
        .send()
        .await
        .expect("request");
    let body: Value = replayed.json().await.expect("json");
    assert_eq!(
        body["kind"],
        json!(["anonymous"]),
        "an ended session is anonymous"
    );
    let listed = reqwest::Client::new()
        .get(format!("{}/api/auth/facilityuser", browser.base))
        .header("cookie", format!("kolibri={secret}"))
        .send()
        .await
        .expect("request");
    assert_eq!(listed.status(), StatusCode::OK);
    let body: Value = listed.json().await.expect("json");
    assert_eq!(body, json!([]), "anonymous readers see nobody");
    // Logging out again (anonymous) is fine too.
    let again = browser
        .send(Method::DELETE, "/api/auth/session/current", None, false)
        .await;
    assert_eq!(again.body, json!([]));
}

on_both_backends!(idle_sessions_end_and_keep_alive_slides_them);
async fn idle_sessions_end_and_keep_alive_slides_them(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.cookie_session_idle = 4).await;
    world(&app).await;
    let browser = Browser::new(&app);
    browser.login("ada", "adapass", None).await;
    let extended = events_of(&app, "SessionExtended").await;
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let alive = browser
        .send(Method::PUT, "/api/auth/session/current", None, true)
        .await;
    assert_eq!(alive.body["username"], "ada");
    assert_eq!(
        events_of(&app, "SessionExtended").await,
        extended + 1,
        "moved by more than a quarter of the idle time: recorded"
    );
    // Past the login's first expiry, inside the extended one.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let alive = browser
        .send(Method::PUT, "/api/auth/session/current", None, true)
        .await;
    assert_eq!(alive.body["username"], "ada");
    // Idle longer than the timeout: anonymous.
    tokio::time::sleep(std::time::Duration::from_millis(4500)).await;
    let over = browser
        .send(Method::PUT, "/api/auth/session/current", None, false)
        .await;
    assert_eq!(over.body["kind"], json!(["anonymous"]));
}

fn usernames(users: &Value) -> Vec<String> {
    users
        .as_array()
        .expect("array")
        .iter()
        .map(|u| u["username"].as_str().expect("username").to_string())
        .collect()
}

on_both_backends!(facility_user_list_filters_and_pages);
async fn facility_user_list_filters_and_pages(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = world(&app).await;
    let boss = Browser::new(&app);
    boss.login("boss", "bosspass", None).await;
    let home_users = ["ada", "bob", "boss", "carl", "nopass", "root", "teach"];

    let all = boss.get("/api/auth/facilityuser").await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(
        usernames(&all.body),
        home_users,
        "a facility admin sees the facility"
    );
    let ada = &all.body[0];
    assert_eq!(
        keys(ada),
        [
            "birth_year",
            "date_joined",
            "extra_demographics",
            "facility",
            "full_name",
            "gender",
            "id",
            "id_number",
            "is_superuser",
            "picture_password",
            "roles",
            "username"
        ]
    );
    assert_eq!(ada["id"], hex(w.id("ada")));
    assert_eq!(ada["facility"], hex(w.home));
    let teach = boss
        .get(&format!("/api/auth/facilityuser/{}", hex(w.id("teach"))))
        .await;
    assert_eq!(teach.body["roles"][0]["kind"], "coach");
    assert_eq!(teach.body["roles"][0]["collection"], hex(w.home));
    assert_eq!(
        teach.body["roles"][0]["id"].as_str().map(str::len),
        Some(32)
    );

    // Pages only with page_size.
    let page = boss.get("/api/auth/facilityuser?page_size=3&page=1").await;
    assert_eq!(
        keys(&page.body),
        ["count", "page", "results", "total_pages"]
    );
    assert_eq!(
        (
            page.body["page"].clone(),
            page.body["count"].clone(),
            page.body["total_pages"].clone()
        ),
        (json!(1), json!(7), json!(3))
    );
    assert_eq!(usernames(&page.body["results"]), ["ada", "bob", "boss"]);
    let last = boss.get("/api/auth/facilityuser/?page_size=3&page=3").await;
    assert_eq!(usernames(&last.body["results"]), ["teach"]);
    let beyond = boss.get("/api/auth/facilityuser?page_size=3&page=4").await;
    assert_eq!(beyond.status, StatusCode::NOT_FOUND);
    assert_eq!(beyond.error_ids(), ["NOT_FOUND"]);
    // A page whose offset overflows is past the end too (it was a panic).
    for query in [
        "page_size=100&page=9223372036854775807",
        "page_size=2&page=4611686018427387905",
        "page_size=1000&page=9223372036854775807",
    ] {
        let huge = boss.get(&format!("/api/auth/facilityuser?{query}")).await;
        assert_eq!(
            huge.status,
            StatusCode::NOT_FOUND,
            "{query}: {:?}",
            huge.body
        );
        assert_eq!(huge.error_ids(), ["NOT_FOUND"], "{query}");
        let huge = boss
            .get(&format!("/api/auth/deletedfacilityuser?{query}"))
            .await;
        assert_eq!(
            huge.status,
            StatusCode::NOT_FOUND,
            "{query}: {:?}",
            huge.body
        );
        assert_eq!(huge.error_ids(), ["NOT_FOUND"], "{query}");
    }

    // Filters.
    let filtered = |query: &'static str| {
        let boss = &boss;
        async move {
            let answer = boss.get(&format!("/api/auth/facilityuser?{query}")).await;
            assert_eq!(answer.status, StatusCode::OK, "{query}: {:?}", answer.body);
            usernames(&answer.body)
        }
    };
    assert_eq!(
        filtered("user_type=learner").await,
        ["ada", "bob", "carl", "nopass"]
    );
    assert_eq!(
        filtered("ordering=-date_joined&user_type=learner").await,
        ["nopass", "carl", "bob", "ada"]
    );
    assert_eq!(
        filtered("ordering=full_name&user_type=learner").await,
        ["ada", "bob", "carl", "nopass"]
    );
    assert_eq!(filtered("user_type=coach").await, ["teach"]);
    assert_eq!(filtered("user_type=admin").await, ["boss", "root"]);
    assert_eq!(filtered("user_type=superuser").await, ["root"]);
    assert_eq!(filtered("search=LOVE").await, ["ada"]);
    assert_eq!(filtered("search=b").await, ["bob", "boss"]);
    assert_eq!(filtered("search=bo%20big").await, ["boss"], "every term");
    let member_of_blue = boss
        .get(&format!("/api/auth/facilityuser?member_of={}", hex(w.blue)))
        .await;
    assert_eq!(usernames(&member_of_blue.body), ["bob"]);
    let member_of_home = boss
        .get(&format!(
            "/api/auth/facilityuser?member_of={}&page_size=50",
            hex(w.home)
        ))
        .await;
    assert_eq!(member_of_home.body["count"], 7);
    let filtered_page = boss
        .get("/api/auth/facilityuser?user_type=learner&search=a&page_size=2")
        .await;
    assert_eq!(filtered_page.body["count"], 3, "{:?}", filtered_page.body);
    assert_eq!(filtered_page.body["total_pages"], 2);
    let bad = boss.get("/api/auth/facilityuser?user_type=wizard").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.error_ids(), ["INVALID_CHOICE"]);

    // Who sees whom.
    let root = Browser::new(&app);
    root.login("root", "rootpass", None).await;
    assert_eq!(
        root.get("/api/auth/facilityuser?page_size=1").await.body["count"],
        10,
        "the superuser sees every facility"
    );
    let ada = Browser::new(&app);
    ada.login("ada", "adapass", None).await;
    assert_eq!(
        usernames(&ada.get("/api/auth/facilityuser").await.body),
        ["ada"]
    );
    // A role given takes effect on the next request of a live session.
    let carl = Browser::new(&app);
    carl.login("carl", "carlpass", None).await;
    assert_eq!(
        usernames(&carl.get("/api/auth/facilityuser").await.body),
        ["carl"]
    );
    collections::assign_role(
        &app.app,
        w.id("carl"),
        w.home,
        RoleKind::Coach,
        &RequestContext::system(),
    )
    .await
    .expect("coach");
    assert_eq!(
        usernames(&carl.get("/api/auth/facilityuser").await.body).len(),
        home_users.len()
    );
    let teach = Browser::new(&app);
    teach.login("teach", "teachpass", None).await;
    assert_eq!(
        usernames(&teach.get("/api/auth/facilityuser").await.body),
        home_users,
        "a facility coach reads the facility"
    );
    let anonymous = Browser::new(&app).get("/api/auth/facilityuser").await;
    assert_eq!(
        (anonymous.status, anonymous.body),
        (StatusCode::OK, json!([]))
    );
    let anonymous = Browser::new(&app)
        .get("/api/auth/facilityuser?page_size=5")
        .await;
    assert_eq!(
        anonymous.body,
        json!({ "page": 1, "count": 0, "total_pages": 1, "results": [] })
    );
    let anonymous = Browser::new(&app)
        .get(&format!("/api/auth/facilityuser/{}", hex(w.id("ada"))))
        .await;
    assert_eq!(anonymous.status, StatusCode::NOT_FOUND);
}

on_both_backends!(facility_users_are_read_edited_and_deleted_as_kolibri_allows);
async fn facility_users_are_read_edited_and_deleted_as_kolibri_allows(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = world(&app).await;
    let boss = Browser::new(&app);
    boss.login("boss", "bosspass", None).await;
    let path = |name: &str| format!("/api/auth/facilityuser/{}/", hex(w.id(name)));

    let ada = boss.get(&path("ada")).await;
    assert_eq!(
        (ada.status, ada.body["full_name"].clone()),
        (StatusCode::OK, json!("Ada Lovelace"))
    );
    let missing = boss
        .get(&format!("/api/auth/facilityuser/{}", hex(Uuid::now_v7())))
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_ids(), ["NOT_FOUND"]);
    assert_eq!(
        missing.body[0]["metadata"],
        json!({ "view": "Facility User Instance" }),
        "Kolibri's view name"
    );
    assert_eq!(
        boss.get("/api/auth/facilityuser/not-an-id").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        boss.get(&path("gina")).await.status,
        StatusCode::NOT_FOUND,
        "another facility's user is not readable"
    );

    // Lists are answered from memory while nothing changed, and never
    // stale after a change.
    let names = |list: &Value| -> Vec<String> {
        list.as_array()
            .expect("array")
            .iter()
            .map(|u| u["full_name"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let before = boss.get("/api/auth/facilityuser").await;
    assert!(names(&before.body).contains(&"Ada Lovelace".to_string()));
    assert_eq!(boss.get("/api/auth/facilityuser").await.body, before.body);

    // Edits: one event with what changed; a taken username refused
    // (case-insensitive) with nothing written.
    let renamed = boss
        .send(
            Method::PATCH,
            &path("ada"),
            Some(json!({ "full_name": "Augusta Ada King" })),
            true,
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{:?}", renamed.body);
    assert_eq!(renamed.body["full_name"], "Augusta Ada King");
    let after = boss.get("/api/auth/facilityuser").await;
    assert!(names(&after.body).contains(&"Augusta Ada King".to_string()));
    assert!(!names(&after.body).contains(&"Ada Lovelace".to_string()));
    let updates = events_of(&app, "FacilityUserUpdated").await;
    let taken = boss
        .send(
            Method::PATCH,
            &path("ada"),
            Some(json!({ "username": "BOB" })),
            true,
        )
        .await;
    assert_eq!(taken.status, StatusCode::BAD_REQUEST);
    assert_eq!(taken.error_ids(), ["USERNAME_ALREADY_EXISTS"]);
    let invalid = boss
        .send(
            Method::PATCH,
            &path("ada"),
            Some(json!({ "gender": "ROBOT", "full_name": "X" })),
            true,
        )
        .await;
    assert_eq!(invalid.error_ids(), ["INVALID_CHOICE"]);
    assert_eq!(events_of(&app, "FacilityUserUpdated").await, updates);
    assert_eq!(
        boss.get(&path("ada")).await.body["full_name"],
        "Augusta Ada King"
    );

    // A rename frees the old name and logs in under the new one.
    let adas = Browser::new(&app);
    adas.login("ada", "adapass", None).await;
    let moved = boss
        .send(
            Method::PATCH,
            &path("ada"),
            Some(json!({ "username": "augusta" })),
            true,
        )
        .await;
    assert_eq!(moved.body["username"], "augusta");
    let free = boss
        .send(
            Method::POST,
            "/api/auth/usernameavailable",
            Some(json!({ "username": "ada", "facility": hex(w.home) })),
            true,
        )
        .await;
    assert_eq!(free.body, json!(true));
    assert_eq!(
        Browser::new(&app)
            .login("ada", "adapass", None)
            .await
            .error_ids(),
        ["NOT_FOUND"]
    );
    assert_eq!(
        Browser::new(&app)
            .login("augusta", "adapass", None)
            .await
            .status,
        StatusCode::OK
    );

    // An admin's new password ends the user's sessions.
    assert_eq!(adas.signed_in_as().await, "augusta");
    let reset = boss
        .send(
            Method::PATCH,
            &path("ada"),
            Some(json!({ "password": "newpass" })),
            true,
        )
        .await;
    assert_eq!(reset.status, StatusCode::OK);
    assert!(!reset.body.to_string().contains("newpass"));
    assert_eq!(adas.signed_in_as().await, "", "signed out");
    assert_eq!(
        Browser::new(&app)
            .login("augusta", "newpass", None)
            .await
            .status,
        StatusCode::OK
    );

    // Learners edit themselves only; coaches read but do not edit.
    let carl = Browser::new(&app);
    carl.login("carl", "carlpass", None).await;
    let own = carl
        .send(
            Method::PATCH,
            &path("carl"),
            Some(json!({ "full_name": "Carl E. Sagan" })),
            true,
        )
        .await;
    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(carl.get(&path("bob")).await.status, StatusCode::NOT_FOUND);
    let foreign = carl
        .send(
            Method::PATCH,
            &path("bob"),
            Some(json!({ "full_name": "Hacked" })),
            true,
        )
        .await;
    assert_eq!(foreign.status, StatusCode::FORBIDDEN);
    assert_eq!(foreign.error_ids(), ["PERMISSION_DENIED"]);
    let teach = Browser::new(&app);
    teach.login("teach", "teachpass", None).await;
    assert_eq!(teach.get(&path("bob")).await.status, StatusCode::OK);
    let coach_edit = teach
        .send(
            Method::PATCH,
            &path("bob"),
            Some(json!({ "full_name": "Nope" })),
            true,
        )
        .await;
    assert_eq!(coach_edit.status, StatusCode::FORBIDDEN);
    assert_eq!(
        teach
            .send(Method::DELETE, &path("bob"), None, true)
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // Delete (soft): gone from lists and logins, sessions over, the
    // events kept, the username free for someone new.
    let bobs = Browser::new(&app);
    bobs.login("bob", "bobpass", None).await;
    let deleted = boss.send(Method::DELETE, &path("bob"), None, true).await;
    assert_eq!(
        (deleted.status, deleted.body.clone()),
        (StatusCode::NO_CONTENT, Value::Null)
    );
    assert!(!usernames(&boss.get("/api/auth/facilityuser").await.body).contains(&"bob".to_string()));
    assert_eq!(
        boss.get("/api/auth/facilityuser?page_size=5").await.body["count"],
        6
    );
    assert_eq!(boss.get(&path("bob")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        boss.send(Method::DELETE, &path("bob"), None, true)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(bobs.signed_in_as().await, "", "signed out");
    assert_eq!(
        Browser::new(&app)
            .login("bob", "bobpass", None)
            .await
            .error_ids(),
        ["NOT_FOUND"]
    );
    assert_eq!(events_of(&app, "UserDeleted").await, 1);
    let stream = app
        .count_with(
            "SELECT count(*) FROM events WHERE aggregate_id = $1",
            &[crate::helpers::Arg::Text(w.id("bob").to_string())],
        )
        .await;
    assert!(stream >= 3, "the deleted user's events remain");
    let reborn = boss
        .send(
            Method::POST,
            "/api/auth/facilityuser",
            Some(json!({ "username": "bob", "password": "again", "full_name": "Bob Two" })),
            true,
        )
        .await;
    assert_eq!(reborn.status, StatusCode::CREATED, "{:?}", reborn.body);
    assert_ne!(reborn.body["id"], hex(w.id("bob")));

    // The read models are what the log says.
    let (same, report) =
        eventauth::ops::rebuild::verify(app.app.store.db(), app.app.store.vault().clone())
            .await
            .expect("verify runs");
    assert!(same, "{report}");
}

on_both_backends!(facility_users_are_created_by_admins_and_sign_up_where_allowed);
async fn facility_users_are_created_by_admins_and_sign_up_where_allowed(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = world(&app).await;

    // Creation: admins of the facility and the superuser only.
    let boss = Browser::new(&app);
    boss.login("boss", "bosspass", None).await;
    let created = boss
        .send(
            Method::POST,
            "/api/auth/facilityuser/",
            Some(
                json!({ "username": "dora", "password": "dorapass", "full_name": "Dora",
                         "gender": "FEMALE", "birth_year": "2001", "id_number": "D-1" }),
            ),
            true,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(created.body["facility"], hex(w.home));
    assert_eq!(created.body["gender"], "FEMALE");
    assert_eq!(created.body["birth_year"], "2001");
    assert_eq!(created.body["roles"], json!([]));
    assert!(created.body.get("password").is_none());
    for (body, id) in [
        (
            json!({ "username": "DORA", "password": "x" }),
            "USERNAME_ALREADY_EXISTS",
        ),
        (json!({ "password": "x" }), "REQUIRED"),
        (json!({ "username": "eve" }), "REQUIRED"),
        (json!({ "username": "eve", "password": "" }), "BLANK"),
        (
            json!({ "username": "eve", "password": "NOT_SPECIFIED" }),
            "PASSWORD_NOT_SPECIFIED",
        ),
        (json!({ "username": "e v e", "password": "x" }), "INVALID"),
        (
            json!({ "username": "eve", "password": "x", "birth_year": "1850" }),
            "INVALID",
        ),
    ] {
        let refused = boss
            .send(
                Method::POST,
                "/api/auth/facilityuser",
                Some(body.clone()),
                true,
            )
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(refused.error_ids(), [id], "{body}");
    }
    let in_school = boss
        .send(
            Method::POST,
            "/api/auth/facilityuser",
            Some(json!({ "username": "eve", "password": "x", "facility": hex(w.school) })),
            true,
        )
        .await;
    assert_eq!(
        in_school.status,
        StatusCode::FORBIDDEN,
        "not an admin there"
    );
    let ada = Browser::new(&app);
    ada.login("ada", "adapass", None).await;
    let by_learner = ada
        .send(
            Method::POST,
            "/api/auth/facilityuser",
            Some(json!({ "username": "eve", "password": "x" })),
            true,
        )
        .await;
    assert_eq!(by_learner.status, StatusCode::FORBIDDEN);
    let anonymous = Browser::new(&app)
        .send(
            Method::POST,
            "/api/auth/facilityuser",
            Some(json!({ "username": "eve", "password": "x" })),
            false,
        )
        .await;
    assert_eq!(anonymous.error_ids(), ["NOT_AUTHENTICATED"]);
    assert_eq!(events_of(&app, "FacilityUserRegistered").await, 11);

    // Sign-up: the CSRF cookie first, as a browser gets it.
    let visitor = Browser::new(&app);
    visitor
        .send(Method::PUT, "/api/auth/session/current", None, false)
        .await;
    let no_token = visitor
        .send(
            Method::POST,
            "/api/auth/signup",
            Some(json!({ "username": "eve", "password": "evepass", "full_name": "Eve" })),
            false,
        )
        .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    assert!(no_token
        .body
        .as_str()
        .is_some_and(|page| page.contains("CSRF verification failed")));
    let signed_up = visitor
        .send(
            Method::POST,
            "/api/auth/signup/",
            Some(json!({ "username": "eve", "password": "evepass", "full_name": "Eve" })),
            true,
        )
        .await;
    assert_eq!(
        signed_up.status,
        StatusCode::CREATED,
        "{:?}",
        signed_up.body
    );
    assert_eq!(signed_up.body["username"], "eve");
    assert!(
        signed_up.body.get("date_joined").is_none(),
        "as Kolibri's serializer"
    );
    assert!(signed_up
        .cookie("kolibri")
        .expect("logged in")
        .contains("HttpOnly"));
    let session = visitor
        .send(Method::PUT, "/api/auth/session/current", None, true)
        .await;
    assert_eq!(session.body["username"], "eve");
    assert_eq!(session.body["kind"], json!(["learner"]));
    let twice = Browser::new(&app);
    twice
        .send(Method::PUT, "/api/auth/session/current", None, false)
        .await;
    let duplicate = twice
        .send(
            Method::POST,
            "/api/auth/signup",
            Some(json!({ "username": "EVE", "password": "x" })),
            true,
        )
        .await;
    assert_eq!(duplicate.error_ids(), ["USERNAME_ALREADY_EXISTS"]);
    let closed = twice
        .send(
            Method::POST,
            "/api/auth/signup",
            Some(json!({ "username": "fred", "password": "x", "facility": hex(w.school) })),
            true,
        )
        .await;
    assert_eq!(closed.status, StatusCode::FORBIDDEN, "formal: no sign-up");
    assert_eq!(closed.error_ids(), ["PERMISSION_DENIED"]);
    assert_eq!(events_of(&app, "FacilityUserRegistered").await, 12);
}

on_both_backends!(a_django_pbkdf2_hash_logs_in_and_becomes_argon2id);
async fn a_django_pbkdf2_hash_logs_in_and_becomes_argon2id(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = world(&app).await;
    // Exported from a real Kolibri 0.19.5 (`FacilityUser.password` of a
    // user created there with this password; Django's PBKDF2PasswordHasher,
    // 260,000 iterations).
    let django =
        "pbkdf2_sha256$260000$TSjnaHncskKbHa0da9WGUx$tyVzzCt6eAa0dPp1OMHbq+PFYDSh57FFaQuWXRsa0VQ=";
    let (right, wrong_password) = ("Kolibri export 2026!", "Kolibri export 2026?");
    assert!(eventauth::auth::password::is_supported_hash(django));
    let migrated = facility_users::register(
        &app.app,
        facility_users::FacilityRegistration {
            facility: w.home,
            username: eventauth::input::Username::parse("migrant", "u").expect("valid"),
            full_name: "Mi Grant".to_string(),
            password: Some(eventauth::service::accounts::Credential::Hashed(
                aggregates::PasswordHash::new(django),
            )),
            demographics: Default::default(),
        },
        &RequestContext::system(),
    )
    .await
    .expect("registered with the imported hash");

    let wrong = Browser::new(&app)
        .login("migrant", wrong_password, None)
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(events_of(&app, "PasswordRehashed").await, 0);
    let ok = Browser::new(&app).login("migrant", right, None).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(
        events_of(&app, "PasswordRehashed").await,
        1,
        "replaced at login"
    );
    let user = app
        .app
        .store
        .load::<aggregates::User>(&migrated.to_string())
        .await
        .expect("user");
    assert!(user.state.password_hash().phc().starts_with("$argon2id$"));
    // The same password keeps working (now against argon2id), no second
    // rehash; the wrong one still fails.
    let again = Browser::new(&app).login("migrant", right, None).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(events_of(&app, "PasswordRehashed").await, 1);
    let wrong = Browser::new(&app)
        .login("migrant", wrong_password, None)
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    // The hash never leaves the service.
    assert!(!ok.body.to_string().contains("argon2"));
}

fn import_args(
    facility: Uuid,
    file: std::path::PathBuf,
    abort: bool,
) -> eventauth::ops::import::ImportArgs {
    eventauth::ops::import::ImportArgs {
        facility,
        file,
        abort_on_error: abort,
        batch: 2,
        benchmark_share_hashes: false,
    }
}

on_both_backends!(import_loads_users_reports_bad_rows_and_keeps_legacy_hashes);
async fn import_loads_users_reports_bad_rows_and_keeps_legacy_hashes(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = world(&app).await;
    let django = "pbkdf2_sha256$1000$kolibrisalt$ERcl1XQ+eDsnymjij9XNoXJsbZAxueW67ymG1BhWqLw=";
    let csv = format!(
        "username,password,password_hash,full_name,user_type,identifier,birth_year,gender,enrolled_in,assigned_to\n\
         imp1,first pass,,Imp One,LEARNER,ID-1,2001,FEMALE,Blue,\n\
         imp2,,{django},Imp Two,,,,,,\n\
         IMP1,x,,Dup,,,,,,\n\
         e v e,x,,Bad Name,,,,,,\n\
         imp3,,not-a-hash,Bad Hash,,,,,,\n\
         ada,x,,Taken,,,,,,\n\
         imp4,coachpass,,Imp Four,coach,,,,,Blue\n\
         imp5,x,,Bad Year,,,1850,,,\n\
         imp6,adminpass,,Imp Six,ADMIN,,,,,\n\
         imp7,x,,Lost,,,,,Nowhere,\n"
    );
    let file = std::env::temp_dir().join(format!("import-{}.csv", Uuid::now_v7()));
    std::fs::write(&file, csv).expect("file");
    let report =
        eventauth::ops::import::import(&app.app, &import_args(w.home, file.clone(), false))
            .await
            .expect("import runs");
    let _ = std::fs::remove_file(&file);
    assert_eq!(report.imported, 4, "{report}");
    assert_eq!(
        report.hashed, 3,
        "plain passwords hashed, the Django hash kept"
    );
    let lines: Vec<usize> = report.skipped.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, [4, 5, 6, 7, 9, 11], "{report}");
    assert!(report.skipped[5].1.contains("Nowhere"), "{report}");
    assert!(report.skipped[0].1.contains("repeated"), "{report}");
    assert!(report.skipped[3].1.contains("already exists"), "{report}");

    // They are users like any other.
    let imp1 = Browser::new(&app).login("imp1", "first pass", None).await;
    assert_eq!(imp1.status, StatusCode::OK, "{:?}", imp1.body);
    assert_eq!(imp1.body["full_name"], "Imp One");
    let imp2 = Browser::new(&app)
        .login("imp2", "correct horse", None)
        .await;
    assert_eq!(imp2.status, StatusCode::OK, "the Django hash logs in");
    assert_eq!(events_of(&app, "PasswordRehashed").await, 1);
    let coach = Browser::new(&app).login("imp4", "coachpass", None).await;
    assert_eq!(coach.body["kind"], json!(["coach"]));
    let admin = Browser::new(&app);
    let signed_in = admin.login("imp6", "adminpass", None).await;
    assert_eq!(signed_in.body["kind"], json!(["admin"]));
    let listed = admin
        .get("/api/auth/facilityuser?search=imp&page_size=10")
        .await;
    assert_eq!(listed.body["count"], 4);
    assert_eq!(listed.body["results"][0]["id_number"], "ID-1");
    let blue = admin
        .get(&format!("/api/auth/facilityuser?member_of={}", hex(w.blue)))
        .await;
    assert_eq!(usernames(&blue.body), ["bob", "imp1"], "enrolled_in");
    let imp4 = admin.get("/api/auth/facilityuser?search=imp4").await;
    let kinds: Vec<&str> = imp4.body[0]["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .filter_map(|r| r["kind"].as_str())
        .collect();
    assert_eq!(
        kinds,
        ["coach", "coach"],
        "coach of the facility and of Blue"
    );
    assert_eq!(imp4.body[0]["roles"][1]["collection"], hex(w.blue));
    let all = admin.get("/api/auth/facilityuser?page_size=1").await;
    assert_eq!(
        all.body["count"],
        7 + 4,
        "the facility's count includes them"
    );
    let (same, report) =
        eventauth::ops::rebuild::verify(app.app.store.db(), app.app.store.vault().clone())
            .await
            .expect("verify runs");
    assert!(same, "{report}");
    // Imported like any other: the names sealed in the log, never clear.
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE CAST(payload AS TEXT) LIKE '%Imp One%'")
            .await,
        0
    );
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE CAST(payload AS TEXT) LIKE '%\"plain\"%'")
            .await,
        0
    );

    // All or nothing with --abort-on-error: one bad line, nothing written.
    let before = app.event_count().await;
    let jsonl = "{\"username\":\"j1\",\"password\":\"p\"}\n\
                 {\"username\":\"j 2\",\"password\":\"p\"}\n\
                 {\"username\":\"j3\",\"password\":\"p\"}\n";
    let file = std::env::temp_dir().join(format!("import-{}.jsonl", Uuid::now_v7()));
    std::fs::write(&file, jsonl).expect("file");
    let refused =
        eventauth::ops::import::import(&app.app, &import_args(w.home, file.clone(), true)).await;
    let message = format!("{:#}", refused.expect_err("aborted"));
    assert!(message.contains("line 2"), "{message}");
    assert_eq!(app.event_count().await, before, "nothing written");
    let report =
        eventauth::ops::import::import(&app.app, &import_args(w.home, file.clone(), false))
            .await
            .expect("import runs");
    assert_eq!((report.imported, report.skipped.len()), (2, 1));
    let _ = std::fs::remove_file(&file);
}

on_both_backends!(the_logout_and_redirectuser_pages_send_each_role_where_kolibri_does);
/// The pages the front end navigates to: `/<lang>/redirectuser/` lands
/// each role on its page (sign-in when anonymous, with a safe `next`), and
/// `/<lang>/logout/` ends the session, clears the cookie and sends the
/// browser to `redirectuser` (docs/kolibri-reference.md §7–9).
async fn the_logout_and_redirectuser_pages_send_each_role_where_kolibri_does(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = world(&app).await;
    let anonymous = Browser::new(&app);
    let page = |b: &Browser, path: &str| {
        let b = b.client.clone();
        let url = format!("{}{path}", anonymous.base);
        async move {
            let response = b.get(url).send().await.expect("request");
            let location = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            (response.status(), location)
        }
    };
    let found = |to: &str| (StatusCode::FOUND, to.to_string());
    assert_eq!(
        page(&anonymous, "/en/redirectuser/").await,
        found("/en/auth/")
    );
    assert_eq!(
        page(&anonymous, "/fr-fr/redirectuser/").await,
        found("/fr-fr/auth/")
    );
    assert_eq!(
        page(&anonymous, "/en/redirectuser/?next=/en/coach/").await,
        found("/en/auth/?next=/en/coach/")
    );
    assert_eq!(
        page(&anonymous, "/en/redirectuser/?next=//evil.example/").await,
        found("/en/auth/")
    );
    // Without a language: the browser's, in one hop; Kolibri's exact codes only.
    assert_eq!(page(&anonymous, "/redirectuser/").await, found("/en/auth/"));
    assert_eq!(page(&anonymous, "/logout/").await, found("/en/logout/"));
    assert_eq!(
        page(&anonymous, "/fr/logout/").await.0,
        StatusCode::NOT_FOUND
    );

    for (username, password, facility, landing) in [
        ("root", "rootpass", w.home, "/en/device/"),
        ("boss", "bosspass", w.home, "/en/facility/"),
        ("teach", "teachpass", w.home, "/en/coach/"),
        ("mentor", "mentorpass", w.school, "/en/coach/"),
        ("ada", "adapass", w.home, "/en/learn/"),
        ("bob", "bobpass", w.home, "/en/learn/"),
    ] {
        let browser = Browser::new(&app);
        assert_eq!(
            browser
                .login(username, password, Some(facility))
                .await
                .status,
            StatusCode::OK
        );
        assert_eq!(
            page(&browser, "/en/redirectuser/").await,
            found(landing),
            "{username}"
        );
    }

    // Logout: the session ends on the server, the cookie goes.
    let browser = Browser::new(&app);
    browser.login("ada", "adapass", Some(w.home)).await;
    let stolen = browser.cookie("kolibri").expect("session cookie");
    let (status, location, cookies) = browser.visit("/en/logout/").await;
    assert_eq!(
        (status, location.as_str()),
        (StatusCode::FOUND, "/en/redirectuser/")
    );
    let cleared = cookies
        .iter()
        .find(|c| c.starts_with("kolibri="))
        .expect("the session cookie is cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(
        page(&browser, "/en/redirectuser/").await,
        found("/en/auth/")
    );
    let replayed = app
        .client
        .put(app.url("/api/auth/session/current/"))
        .header("cookie", format!("kolibri={stolen}"))
        .send()
        .await
        .expect("request");
    let session: Value = replayed.json().await.expect("json");
    assert_eq!(
        session["kind"],
        json!(["anonymous"]),
        "the old cookie is dead"
    );
}

on_both_backends!(facilities_and_their_settings_are_read_by_anyone_as_kolibri_shows_them);
/// What the sign-in and sign-up pages ask first: the facilities and each
/// one's settings, signed in or not (docs/kolibri-reference.md §1–2).
async fn facilities_and_their_settings_are_read_by_anyone_as_kolibri_shows_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = world(&app).await;
    let anonymous = Browser::new(&app);
    let list = anonymous.get("/api/auth/facility/").await;
    assert_eq!(list.status, StatusCode::OK);
    let facilities = list.body.as_array().expect("a list").clone();
    assert_eq!(facilities.len(), 2);
    let home = &facilities[0];
    assert_eq!(home["id"], json!(hex(w.home)));
    assert_eq!(home["name"], "Home");
    assert_eq!(
        keys(home),
        [
            "dataset",
            "id",
            "last_failed_sync",
            "last_successful_sync",
            "name",
            "num_classrooms",
            "num_learners",
            "num_users",
            "picture_passwords_exhausted",
        ]
    );
    // Home: root (superuser), boss (admin), teach (coach), ada, bob, carl,
    // nopass; the classroom Blue.
    assert_eq!(
        (
            home["num_users"].clone(),
            home["num_learners"].clone(),
            home["num_classrooms"].clone()
        ),
        (json!(7), json!(4), json!(1))
    );
    assert_eq!(home["dataset"]["preset"], "nonformal");
    assert_eq!(home["dataset"]["learner_can_sign_up"], true);
    assert_eq!(home["dataset"]["learner_can_login_with_no_password"], false);
    assert_eq!(
        keys(&home["dataset"]),
        [
            "description",
            "extra_fields",
            "id",
            "learner_can_delete_account",
            "learner_can_edit_name",
            "learner_can_edit_password",
            "learner_can_edit_username",
            "learner_can_login_with_no_password",
            "learner_can_sign_up",
            "location",
            "picture_password_settings",
            "preset",
            "registered",
            "show_download_button_in_learn",
        ]
    );
    let school = anonymous
        .get(&format!("/api/auth/facility/{}/", hex(w.school)))
        .await;
    assert_eq!(school.status, StatusCode::OK);
    assert_eq!(school.body["dataset"]["preset"], "formal");
    assert_eq!(
        (
            school.body["num_users"].clone(),
            school.body["num_learners"].clone()
        ),
        (json!(3), json!(2))
    );

    // The settings, by facility.
    let datasets = anonymous
        .get(&format!(
            "/api/auth/facilitydataset/?facility_id={}",
            hex(w.school)
        ))
        .await;
    assert_eq!(datasets.status, StatusCode::OK);
    let dataset = &datasets.body[0];
    assert_eq!(datasets.body.as_array().map(Vec::len), Some(1));
    assert_eq!(dataset["id"], school.body["dataset"]["id"]);
    assert_eq!(dataset["learner_can_login_with_no_password"], true);
    assert_eq!(dataset["learner_can_sign_up"], false);
    for key in [
        "enable_mark_attendance",
        "allow_guest_access",
        "is_full_facility_import",
    ] {
        assert!(dataset.get(key).is_some(), "{key}");
    }
    let all = anonymous.get("/api/auth/facilitydataset/").await;
    assert_eq!(all.body.as_array().map(Vec::len), Some(2));
    let unknown = anonymous
        .get(&format!(
            "/api/auth/facilitydataset/?facility_id={}",
            hex(Uuid::now_v7())
        ))
        .await;
    assert_eq!((unknown.status, unknown.body), (StatusCode::OK, json!([])));
    let malformed = anonymous
        .get("/api/auth/facilitydataset/?facility_id=nope")
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.error_ids(), ["INVALID"]);
    assert_eq!(malformed.body[0]["metadata"]["field"], "facility_id");

    // Anything but a facility is not found, in Kolibri's shape.
    for id in [hex(Uuid::now_v7()), hex(w.blue), "nope".to_string()] {
        let missing = anonymous.get(&format!("/api/auth/facility/{id}/")).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND, "{id}");
        assert_eq!(missing.error_ids(), ["NOT_FOUND"]);
        assert_eq!(missing.body[0]["metadata"]["view"], "Facility Instance");
    }
    // Signed in, the same answer.
    let ada = Browser::new(&app);
    ada.login("ada", "adapass", Some(w.home)).await;
    assert_eq!(ada.get("/api/auth/facility/").await.body, list.body);
}

on_both_backends!(a_sign_in_page_is_offered_the_usernames_of_passwordless_learners_only);
/// Kolibri's sign-in page suggests usernames where learners need no
/// password: learners only, of such facilities only, by prefix.
async fn a_sign_in_page_is_offered_the_usernames_of_passwordless_learners_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = world(&app).await;
    let anonymous = Browser::new(&app);
    let names = |answer: &Answer| {
        let mut names: Vec<String> = answer
            .body
            .as_array()
            .expect("a list")
            .iter()
            .map(|u| {
                assert_eq!(keys(u), ["username"]);
                u["username"].as_str().expect("name").to_string()
            })
            .collect();
        names.sort();
        names
    };
    // School lets learners in without a password: kid and gina, not the
    // coach mentor.
    let school = anonymous
        .get(&format!(
            "/api/auth/facilityusername/?facility={}",
            hex(w.school)
        ))
        .await;
    assert_eq!(school.status, StatusCode::OK);
    assert_eq!(names(&school), ["gina", "kid"]);
    let searched = anonymous
        .get(&format!(
            "/api/auth/facilityusername/?facility={}&search=GI",
            hex(w.school)
        ))
        .await;
    assert_eq!(names(&searched), ["gina"]);
    let infix = anonymous
        .get(&format!(
            "/api/auth/facilityusername/?facility={}&search=na",
            hex(w.school)
        ))
        .await;
    assert_eq!(names(&infix), Vec::<String>::new(), "prefixes only");
    // Home needs passwords: nothing to suggest.
    let home = anonymous
        .get(&format!(
            "/api/auth/facilityusername/?facility={}",
            hex(w.home)
        ))
        .await;
    assert_eq!((home.status, home.body), (StatusCode::OK, json!([])));
    let everywhere = anonymous.get("/api/auth/facilityusername/").await;
    assert_eq!(names(&everywhere), ["gina", "kid"]);
    for facility in [hex(Uuid::now_v7()), "nope".to_string(), hex(w.blue)] {
        let refused = anonymous
            .get(&format!("/api/auth/facilityusername/?facility={facility}"))
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{facility}");
        assert_eq!(refused.error_ids(), ["INVALID_CHOICE"]);
    }
}

on_both_backends!(a_facilitys_admins_change_its_settings_and_nobody_else_does);
/// `PATCH /api/auth/facilitydataset/{id}`: the facility's admins and the
/// superuser change its settings (one event, the admin as actor); anyone
/// else is refused in Kolibri's shapes and nothing is written.
async fn a_facilitys_admins_change_its_settings_and_nobody_else_does(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = world(&app).await;
    let dataset_of = |facility: Uuid| {
        let anonymous = Browser::new(&app);
        async move {
            let answer = anonymous
                .get(&format!(
                    "/api/auth/facilitydataset/?facility_id={}",
                    hex(facility)
                ))
                .await;
            answer.body[0].clone()
        }
    };
    let home = dataset_of(w.home).await;
    let path = format!(
        "/api/auth/facilitydataset/{}/",
        home["id"].as_str().expect("id")
    );
    let school = dataset_of(w.school).await;
    let school_path = format!(
        "/api/auth/facilitydataset/{}/",
        school["id"].as_str().expect("id")
    );
    let settings_events =
        || app.count("SELECT count(*) FROM events WHERE aggregate_type = 'organization'");
    let events = settings_events().await;

    let anonymous = Browser::new(&app);
    let refused = anonymous
        .send(
            Method::PATCH,
            &path,
            Some(json!({ "learner_can_sign_up": false })),
            false,
        )
        .await;
    assert_eq!(
        (refused.status, refused.error_ids()),
        (StatusCode::FORBIDDEN, vec!["NOT_AUTHENTICATED".to_string()])
    );
    assert_eq!(
        refused.body[0]["metadata"]["view"],
        "Facility Dataset Instance"
    );
    for (who, password, facility, target) in [
        ("teach", "teachpass", w.home, &path),
        ("ada", "adapass", w.home, &path),
        ("boss", "bosspass", w.home, &school_path),
    ] {
        let browser = Browser::new(&app);
        browser.login(who, password, Some(facility)).await;
        let refused = browser
            .send(
                Method::PATCH,
                target,
                Some(json!({ "learner_can_sign_up": "nonsense" })),
                true,
            )
            .await;
        assert_eq!(
            (refused.status, refused.error_ids()),
            (StatusCode::FORBIDDEN, vec!["PERMISSION_DENIED".to_string()]),
            "{who}"
        );
    }
    let missing = anonymous
        .send(
            Method::PATCH,
            &format!("/api/auth/facilitydataset/{}/", hex(Uuid::now_v7())),
            Some(json!({})),
            false,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let boss = Browser::new(&app);
    boss.login("boss", "bosspass", Some(w.home)).await;
    let bad = boss
        .send(
            Method::PATCH,
            &path,
            Some(json!({ "learner_can_sign_up": "nonsense" })),
            true,
        )
        .await;
    assert_eq!(
        (bad.status, bad.error_ids()),
        (StatusCode::BAD_REQUEST, vec!["INVALID".to_string()])
    );
    assert_eq!(bad.body[0]["metadata"]["field"], "learner_can_sign_up");
    let preset = boss
        .send(
            Method::PATCH,
            &path,
            Some(json!({ "preset": "anarchic" })),
            true,
        )
        .await;
    assert_eq!(preset.error_ids(), ["INVALID_CHOICE"]);
    let pair = boss
        .send(
            Method::PATCH,
            &path,
            Some(json!({ "learner_can_login_with_no_password": true, "learner_can_edit_password": true })),
            true,
        )
        .await;
    assert_eq!(
        (pair.status, pair.body),
        (
            StatusCode::BAD_REQUEST,
            json!(["Incompatible device setting"])
        )
    );
    assert_eq!(
        settings_events().await,
        events,
        "no refusal writes an event"
    );

    let changed = boss
        .send(
            Method::PATCH,
            &path,
            Some(json!({ "learner_can_sign_up": false, "description": "ignored" })),
            true,
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_eq!(changed.body["learner_can_sign_up"], false);
    assert_eq!(
        changed.body["learner_can_edit_name"],
        home["learner_can_edit_name"]
    );
    assert_eq!(dataset_of(w.home).await["learner_can_sign_up"], false);
    let boss_id = w.id("boss").to_string();
    let actors = app
        .strings("SELECT CAST(metadata AS TEXT) FROM events WHERE event_type = 'FacilitySettingsChanged'")
        .await;
    assert!(
        actors.last().is_some_and(|m| m.contains(&boss_id)),
        "{actors:?}"
    );
    // Sign-up is now refused in Home.
    let signup = Browser::new(&app);
    signup.get("/api/auth/session/").await;
    let refused = signup
        .send(
            Method::POST,
            "/api/auth/signup/",
            Some(json!({ "username": "newbie", "password": "pw", "full_name": "New", "facility": hex(w.home) })),
            true,
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // The superuser changes any facility's.
    let root = Browser::new(&app);
    root.login("root", "rootpass", Some(w.home)).await;
    let changed = root
        .send(
            Method::PATCH,
            &school_path,
            Some(json!({ "show_download_button_in_learn": true })),
            true,
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK);
    assert_eq!(changed.body["show_download_button_in_learn"], true);
}

on_both_backends!(an_application_behind_the_proxy_checks_a_kolibri_cookie_by_introspection);
async fn an_application_behind_the_proxy_checks_a_kolibri_cookie_by_introspection(
    backend: Backend,
) {
    let app = spawn_app_with(backend, |c| {
        c.introspection_clients = vec!["kolibri-plugin:plugin-secret".to_string().into()];
    })
    .await;
    let w = world(&app).await;
    let ada = Browser::new(&app);
    ada.login("ada", "adapass", None).await;
    let cookie = ada.cookie("kolibri").expect("session cookie");
    let ask = |token: String, hint: &'static str, secret: &'static str| {
        let request = app
            .client
            .post(app.url("/oauth/introspect"))
            .basic_auth("kolibri-plugin", Some(secret))
            .form(&[("token", token.as_str()), ("token_type_hint", hint)]);
        async move {
            let response = request.send().await.expect("request");
            (
                response.status(),
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };

    let (status, live) = ask(cookie.clone(), "session_cookie", "plugin-secret").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(live["active"], true);
    assert_eq!(live["token_type"], "session_cookie");
    assert_eq!(live["sub"], w.id("ada").to_string());
    assert!(live["exp"].as_i64().unwrap_or_default() > chrono::Utc::now().timestamp());
    // Only a configured client may ask; a cookie is no bearer token.
    let (status, _) = ask(cookie.clone(), "session_cookie", "guess").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, as_refresh) = ask(cookie.clone(), "refresh_token", "plugin-secret").await;
    assert_eq!(as_refresh, json!({ "active": false }));

    // Signed out: the cookie is dead to the application at once.
    let out = ada
        .send(Method::DELETE, "/api/auth/session/current", None, true)
        .await;
    assert_eq!(out.status, StatusCode::OK);
    let (_, ended) = ask(cookie, "session_cookie", "plugin-secret").await;
    assert_eq!(ended, json!({ "active": false }));
}
