//! Personal data: sealed per person in the log, erased by destroying the
//! person's keys, exported on request (docs/personal-data.md).

use std::path::Path;

use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{admin_token, spawn_app_with, Backend, TestApp};

const EMAIL: &str = "zebulon.erasable@example.com";
const FIRST: &str = "Zebulonius";
const LAST: &str = "Quixotical";
const NICK: &str = "zqnickname";
const PHONE: &str = "+44 20 7946 1234";
const IP: &str = "203.0.113.77";
const AGENT: &str = "ErasureAgent/9.1";

/// The values a byte search must not find once the person is erased.
const NEEDLES: [&str; 7] = [EMAIL, FIRST, LAST, NICK, PHONE, IP, AGENT];

/// Rows of every table of the store holding `needle` anywhere (any column,
/// as text: JSON payloads and metadata included), by table.
pub async fn tables_holding(app: &TestApp, needle: &str) -> Vec<(String, i64)> {
    let store = app.store().await;
    let mut found = Vec::new();
    for table in store.tables().await {
        let sql = match app.backend() {
            Backend::Postgres => {
                format!("SELECT count(*) FROM \"{table}\" x WHERE x::text ILIKE '%' || $1 || '%'")
            }
            Backend::Sqlite => {
                let columns = store
                    .strings(&format!("SELECT name FROM pragma_table_info('{table}')"))
                    .await;
                let any = columns
                    .iter()
                    .map(|c| format!("CAST(\"{c}\" AS TEXT) LIKE '%' || $1 || '%'"))
                    .collect::<Vec<_>>()
                    .join(" OR ");
                format!("SELECT count(*) FROM \"{table}\" WHERE {any}")
            }
        };
        let count = store.count_with(&sql, &[needle.into()]).await;
        if count > 0 {
            found.push((table, count));
        }
    }
    found
}

/// Every file under `dir` holding `needle`'s bytes.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<String> {
    crate::profiles::files_under(dir)
        .into_iter()
        .filter(|path| {
            std::fs::read(path).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
        })
        .map(|path| path.display().to_string())
        .collect()
}

/// A small PNG.
fn png() -> Vec<u8> {
    let image = image::RgbaImage::from_fn(8, 8, |x, y| {
        image::Rgba([x as u8 * 30, y as u8 * 30, 7, 255])
    });
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgba8(image)
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .expect("encode");
    bytes
}

/// The person logs in with `password` from `IP` with `AGENT`.
async fn login_from_ip(app: &TestApp, password: &str) -> reqwest::Response {
    app.client
        .post(app.url("/sign/login"))
        .header("x-forwarded-for", IP)
        .header("user-agent", AGENT)
        .json(&json!({ "email": EMAIL, "password": password }))
        .send()
        .await
        .expect("login")
}

/// `DELETE /admin/users/{id}` with `token`.
pub async fn erase(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    app.client
        .delete(app.url(&format!("/admin/users/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .expect("erase")
}

/// Registers the person, gives them a profile, a picture, a community, a
/// login from `IP` and a queued reset mail; returns their id and token.
async fn a_person_with_a_past(app: &TestApp, admin: &str) -> (String, String) {
    let registered = app
        .post_json(
            "/sign/register",
            &json!({ "email": EMAIL, "password": "correct horse", "firstName": FIRST, "lastName": LAST }),
        )
        .await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    // A failed attempt first: audited against the email, with the IP.
    let failed = login_from_ip(app, "wrong horse").await;
    assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    let login = login_from_ip(app, "correct horse").await;
    assert_eq!(login.status(), StatusCode::OK);
    let login: Value = login.json().await.expect("json");
    let token = login["token"].as_str().expect("token").to_string();
    let id = login["user"]["id"].as_str().expect("id").to_string();
    // Enough changes for a snapshot of the user's stream (every 32 events).
    for round in 0..34 {
        let form = Form::new()
            .text("nickname", format!("{NICK}{round}"))
            .text("phone", PHONE);
        let form = if round == 0 {
            form.part(
                "profileImage",
                Part::bytes(png())
                    .file_name("me.png")
                    .mime_str("image/png")
                    .expect("mime"),
            )
        } else {
            form
        };
        let updated = app
            .client
            .put(app.url("/user/profile"))
            .bearer_auth(&token)
            .multipart(form)
            .send()
            .await
            .expect("profile");
        assert_eq!(updated.status(), StatusCode::OK);
    }
    let community: Value = app
        .client
        .post(app.url("/admin/communities"))
        .bearer_auth(admin)
        .json(&json!({ "name": "Erasers", "description": "we forget" }))
        .send()
        .await
        .expect("community")
        .json()
        .await
        .expect("json");
    let joined = app
        .client
        .patch(app.url(&format!(
            "/user/community/join/{}",
            community["id"].as_str().expect("id")
        )))
        .bearer_auth(&token)
        .send()
        .await
        .expect("join");
    assert!(joined.status().is_success());
    assert_eq!(
        app.post_json("/sign/reset", &json!({ "email": EMAIL }))
            .await
            .status(),
        StatusCode::OK
    );
    crate::helpers::mailed_token(app, EMAIL, "reset_password").await;
    (id, token)
}

on_both_backends!(an_erased_person_is_unreadable_everywhere_and_replay_still_agrees);
/// After erasure no table of the store and no blob holds a readable value
/// of the person; the log still replays to the same read models; the
/// email is free; history shows the values as erased.
async fn an_erased_person_is_unreadable_everywhere_and_replay_still_agrees(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")]
    })
    .await;
    let admin = admin_token(&app).await;
    let (id, token) = a_person_with_a_past(&app, &admin).await;

    // Before: the values are there in the read models, and sealed in the
    // log (never in it as written).
    assert!(!tables_holding(&app, NICK).await.is_empty());
    let sealed = app
        .count("SELECT count(*) FROM events WHERE CAST(payload AS TEXT) LIKE '%\"enc\"%'")
        .await;
    assert!(sealed >= 35, "{sealed} events with sealed values");
    assert!(
        app.count("SELECT count(*) FROM aggregate_snapshots WHERE aggregate_type = 'user'")
            .await
            >= 1
    );
    for needle in [EMAIL, NICK, IP, AGENT, PHONE] {
        let in_log = app
            .count_with(
                "SELECT count(*) FROM events
                  WHERE CAST(payload AS TEXT) LIKE '%' || $1 || '%'
                     OR CAST(metadata AS TEXT) LIKE '%' || $1 || '%'",
                &[needle.into()],
            )
            .await;
        assert_eq!(in_log, 0, "{needle} written in the clear");
    }
    assert_eq!(
        files_holding(&app.db.blob_dir(), b"IDAT").len(),
        1,
        "the picture"
    );

    // A non-administrator may not erase; the administrator may.
    let refused = erase(&app, &token, &id).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let erased = erase(&app, &admin, &id).await;
    assert_eq!(erased.status(), StatusCode::OK);
    let erased: Value = erased.json().await.expect("json");
    assert_eq!(erased["userId"], id.as_str());
    assert!(erased["keysDestroyed"].as_u64() >= Some(2), "{erased}");
    assert_eq!(erased["picturesDeleted"], 1);
    assert!(erased["mailsDeleted"].as_u64() >= Some(1), "{erased}");
    assert_eq!(erased["eventsInTheClear"], 0);

    for needle in NEEDLES {
        assert_eq!(
            tables_holding(&app, needle).await,
            vec![],
            "{needle} still readable"
        );
        assert!(
            files_holding(&app.db.blob_dir(), needle.as_bytes()).is_empty(),
            "{needle} in a blob"
        );
    }
    assert!(
        files_holding(&app.db.blob_dir(), b"IDAT").is_empty(),
        "the picture is gone"
    );
    assert_eq!(
        app.count_with(
            "SELECT count(*) FROM aggregate_snapshots WHERE aggregate_id = $1",
            &[id.as_str().into()]
        )
        .await,
        0
    );

    // The failed-login audit against their email is theirs too: its IP
    // and agent read as erased.
    let audit = projections::GlobalReader::read_from(
        app.app.store.db(),
        app.app.store.vault().as_ref(),
        projections::Parts::All,
        projections::Cursor::START,
        10_000,
        Some(&["LoginFailed"]),
    )
    .await
    .expect("read");
    assert_eq!(audit.events.len(), 1);
    let failed = audit.events[0].payload_value();
    assert_eq!(failed["LoginFailed"]["client_ip"], json!({"erased": true}));
    assert_eq!(
        audit.events[0].metadata_value()["client_ip"],
        json!({"erased": true}).to_string()
    );

    // The token ends, the person cannot log in.
    let check = app.get_auth("/sign/check", &token).await;
    assert_eq!(check.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.login(EMAIL, "correct horse").await.status(),
        StatusCode::UNAUTHORIZED
    );

    // History shows the events, the person's values as erased.
    let user_id: uuid::Uuid = id.parse().expect("uuid");
    let timeline = eventauth::ops::history::timeline(
        app.app.store.db(),
        app.app.store.vault().as_ref(),
        user_id,
    )
    .await
    .expect("timeline");
    let lines: Vec<Value> = timeline
        .iter()
        .map(eventauth::ops::history::to_json)
        .collect();
    let started = lines
        .iter()
        .find(|line| line["eventType"] == "SessionStarted")
        .expect("the login");
    assert_eq!(started["metadata"]["client_ip"], "[erased]");
    assert!(lines.iter().any(|line| line["eventType"] == "UserErased"));
    let text = serde_json::to_string(&lines).expect("json");
    for needle in NEEDLES {
        assert!(!text.contains(needle), "{needle} in the history");
    }

    // The log still gives the same read models, before and after a replay.
    let vault = app.app.store.vault().clone();
    let (same, report) = eventauth::ops::rebuild::verify(app.app.store.db(), vault.clone())
        .await
        .expect("verify");
    assert!(same, "{report}");
    eventauth::ops::rebuild::replay(app.app.store.db(), vault.clone())
        .await
        .expect("replay");
    let (same, report) = eventauth::ops::rebuild::verify(app.app.store.db(), vault)
        .await
        .expect("verify");
    assert!(same, "{report}");
    for needle in NEEDLES {
        assert_eq!(
            tables_holding(&app, needle).await,
            vec![],
            "{needle} after replay"
        );
    }

    // The email is free again: a new person registers with it.
    let again = app
        .post_json(
            "/sign/register",
            &json!({ "email": EMAIL, "password": "another horse", "firstName": "New", "lastName": "Person" }),
        )
        .await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(
        app.login(EMAIL, "another horse").await.status(),
        StatusCode::OK
    );
    // Erasing again changes nothing and says so.
    let twice = erase(&app, &admin, &id).await;
    assert_eq!(twice.status(), StatusCode::OK);
    assert_eq!(
        app.count_with(
            "SELECT count(*) FROM events WHERE event_type = 'UserErased' AND aggregate_id = $1",
            &[id.as_str().into()]
        )
        .await,
        1
    );
}

on_both_backends!(the_export_holds_what_the_person_wrote_and_nothing_of_anyone_else);
async fn the_export_holds_what_the_person_wrote_and_nothing_of_anyone_else(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")]
    })
    .await;
    let admin = admin_token(&app).await;
    let (id, token) = a_person_with_a_past(&app, &admin).await;
    // An administrator acts on them from another address.
    let acted = app
        .client
        .post(app.url(&format!("/admin/users/{id}/end-sessions")))
        .header("x-forwarded-for", "198.51.100.200")
        .header("user-agent", "AdminBrowser/1")
        .bearer_auth(&admin)
        .send()
        .await
        .expect("act");
    assert_eq!(acted.status(), StatusCode::OK);
    // Someone else exists too.
    app.signed_in("bystander@example.com", "correct horse")
        .await;

    // (The administrator's act ended their sessions.)
    let login: Value = app
        .login(EMAIL, "correct horse")
        .await
        .json()
        .await
        .expect("json");
    let export = app
        .get_auth(
            "/user/profile/export",
            login["token"].as_str().expect("token"),
        )
        .await;
    assert_eq!(export.status(), StatusCode::OK);
    let export: Value = export.json().await.expect("json");
    let text = export.to_string();
    assert_eq!(export["userId"], id.as_str());
    assert_eq!(export["account"]["email"], EMAIL);
    assert_eq!(export["account"]["first_name"], FIRST);
    assert!(text.contains(&format!("{NICK}33")), "the nickname");
    assert!(text.contains(PHONE));
    let sessions = export["sessions"].as_array().expect("sessions");
    assert!(
        sessions
            .iter()
            .any(|s| s["clientIp"] == IP && s["userAgent"] == AGENT),
        "{sessions:?}"
    );
    let events = export["events"].as_array().expect("events");
    assert!(events.iter().any(|e| e["eventType"] == "UserRegistered"));
    assert!(events.iter().any(|e| e["metadata"]["client_ip"] == IP));
    assert!(events
        .iter()
        .any(|e| e["metadata"]["actor"] == "another user"));
    // Nothing of anyone else, nothing secret.
    for other in [
        "198.51.100.200",
        "AdminBrowser",
        "root@example.com",
        "bystander",
        "$argon2",
        "_hash",
    ] {
        assert!(!text.contains(other), "{other} in the export");
    }
    assert_eq!(
        app.get_auth("/user/profile/export", &token).await.status(),
        StatusCode::UNAUTHORIZED,
        "the ended session's token"
    );
    // Anonymous: 401.
    let anonymous = app
        .client
        .get(app.url("/user/profile/export"))
        .send()
        .await
        .expect("get");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

on_both_backends!(a_log_from_before_encryption_is_sealed_in_place_and_then_erasure_reaches_it);
/// Events written before personal data was sealed hold it in the clear:
/// erasure says so, and `seal-log` seals them (an erased person's values
/// are dropped), after which nothing clear is left and the read models
/// are what they were.
async fn a_log_from_before_encryption_is_sealed_in_place_and_then_erasure_reaches_it(
    backend: Backend,
) {
    let app = spawn_app_with(backend, |_| {}).await;
    let users = eventauth::ops::synthetic::append(app.app.store.db(), 60)
        .await
        .expect("a clear log");
    let clear = "SELECT count(*) FROM events WHERE CAST(payload AS TEXT) LIKE '%\"plain\"%'";
    let before = app.count(clear).await;
    assert!(before >= 10, "{before} clear events");
    let metadata = eventauth::store::Metadata::system();
    // Projected as usual.
    let email_of = |n: usize| format!("seed{n}@example.com");
    for _ in 0..200 {
        if app
            .count_with(
                "SELECT count(*) FROM users WHERE email = $1",
                &[email_of(1).into()],
            )
            .await
            == 1
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }

    // Erased before sealing: erasure says what stays clear in the log.
    let first = eventauth::service::erasure::erase_authorized(&app.app, users[0], &metadata)
        .await
        .expect("erased");
    assert!(first.in_the_clear >= 1, "{first:?}");
    assert!(
        !tables_holding(&app, &email_of(0)).await.is_empty(),
        "still in the log"
    );

    let sealed = eventauth::ops::seal_log::seal_log(&app.app.store)
        .await
        .expect("sealed");
    assert_eq!(sealed.events as i64, before);
    assert_eq!(app.count(clear).await, 0);
    // The erased person's values were not sealed but dropped.
    assert_eq!(tables_holding(&app, &email_of(0)).await, vec![]);
    // The others' read the same, and the read models agree with the log.
    let vault = app.app.store.vault().clone();
    let (same, report) = eventauth::ops::rebuild::verify(app.app.store.db(), vault)
        .await
        .expect("verify");
    assert!(same, "{report}");
    assert_eq!(
        app.count_with(
            "SELECT count(*) FROM users WHERE email = $1",
            &[email_of(1).into()]
        )
        .await,
        1
    );
    // Now erasure reaches everything.
    let second = eventauth::service::erasure::erase_authorized(&app.app, users[1], &metadata)
        .await
        .expect("erased");
    assert_eq!(second.in_the_clear, 0, "{second:?}");
    assert_eq!(tables_holding(&app, &email_of(1)).await, vec![]);
    // A second run finds nothing left to seal.
    let again = eventauth::ops::seal_log::seal_log(&app.app.store)
        .await
        .expect("sealed");
    assert_eq!(again.events, 0);
}

on_both_backends!(free_form_json_that_looks_sealed_or_personal_is_stored_and_read_as_it_is);
/// Only streams that hold personal data are sealed and opened: a policy's
/// conditions (free-form JSON an administrator writes) shaped like a
/// personal value neither fails the write nor stalls the read models.
async fn free_form_json_that_looks_sealed_or_personal_is_stored_and_read_as_it_is(
    backend: Backend,
) {
    use crate::openarchiver::{admin, app, call, post};
    let app = app(backend).await;
    let (_, setup) = post(&app, "/v1/auth/setup", admin()).await;
    let root = setup["accessToken"].as_str().expect("token").to_string();
    let conditions = json!({
        "department": {"enc": "user:00000000-0000-0000-0000-000000000000|/x|AAAA"},
        "team": {"plain": "blue"}
    });
    let (status, role) = call(
        &app,
        reqwest::Method::POST,
        "/v1/iam/roles",
        &root,
        Some(json!({"name": "Lookalikes", "policies": [
            {"action": "read", "subject": "users", "conditions": conditions}
        ]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{role}");
    let id = role["id"].as_str().expect("id");
    let (status, read) = call(
        &app,
        reqwest::Method::GET,
        &format!("/v1/iam/roles/{id}"),
        &root,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["policies"][0]["conditions"], conditions);
    let vault = app.app.store.vault().clone();
    let (same, report) = eventauth::ops::rebuild::verify(app.app.store.db(), vault)
        .await
        .expect("the log reads");
    assert!(same, "{report}");
}

// Several instances share only a PostgreSQL store (the embedded one runs one).
on_postgres_only!(
    another_instance_forgets_an_erased_persons_key_at_once,
    threads = 2
);
/// An instance that holds a person's key in memory drops it as soon as its
/// feed sees the person erased on another instance: what it reads of them
/// from then on is erased, not opened from its cache.
async fn another_instance_forgets_an_erased_persons_key_at_once(backend: Backend) {
    let first = spawn_app_with(backend, |c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")]
    })
    .await;
    let registered = first
        .post_json(
            "/sign/register",
            &json!({ "email": EMAIL, "password": "correct horse", "firstName": FIRST, "lastName": LAST }),
        )
        .await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    let second = crate::helpers::spawn_app_on(first.db.clone(), |c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")]
    })
    .await;
    // The person signs in through the second instance: it seals their IP
    // with their key, which it keeps in memory.
    let login = login_from_ip(&second, "correct horse").await;
    assert_eq!(login.status(), StatusCode::OK);
    let login: Value = login.json().await.expect("json");
    let id = login["user"]["id"].as_str().expect("id").to_string();
    assert_eq!(
        second.opened_metadata("SessionStarted").await["client_ip"],
        json!({"plain": IP}).to_string()
    );

    let admin = admin_token(&first).await;
    assert_eq!(erase(&first, &admin, &id).await.status(), StatusCode::OK);
    let mut seen = Value::Null;
    for _ in 0..200 {
        seen = second.opened_metadata("SessionStarted").await["client_ip"].clone();
        if seen.as_str() == Some(r#"{"erased":true}"#) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the second instance still opens the erased person's IP: {seen}");
}
