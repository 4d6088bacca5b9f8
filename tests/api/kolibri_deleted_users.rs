//! Kolibri's removed users (`/api/auth/deletedfacilityuser`): listed for
//! those who read the facility, brought back by its admins (their username
//! claimed again), or deleted for good.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Backend};
use crate::kolibri_world::{hex, world, Browser};

async fn restore(browser: &Browser, query: String) -> crate::kolibri_world::Answer {
    let path = format!("/api/auth/deletedfacilityuser/restore/{query}");
    browser.send(Method::POST, &path, None, true).await
}

fn usernames(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|users| {
            users
                .iter()
                .map(|u| u["username"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

on_both_backends!(deleted_users_are_listed_restored_once_their_name_is_free_and_purged);
async fn deleted_users_are_listed_restored_once_their_name_is_free_and_purged(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = world(&app).await;
    let boss = Browser::signed_in(&app, "boss", "bosspass").await;
    let teach = Browser::signed_in(&app, "teach", "teachpass").await;
    let ada = Browser::signed_in(&app, "ada", "adapass").await;
    let carl = hex(w.id("carl"));
    const DELETED: &str = "/api/auth/deletedfacilityuser/";

    let removed = boss
        .send(
            Method::DELETE,
            &format!("/api/auth/facilityuser/{carl}/"),
            None,
            true,
        )
        .await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);

    // Recorded as the admin's doing.
    let metadata = app
        .strings("SELECT CAST(metadata AS TEXT) FROM events WHERE event_type = 'UserDeleted'")
        .await;
    assert!(
        metadata[0].contains(&format!("user:{}", w.id("boss"))),
        "{metadata:?}"
    );

    // Listed for those who read the facility, with when.
    let listed = boss.get(DELETED).await;
    assert_eq!(usernames(&listed.body), ["carl"]);
    assert!(
        listed.body[0]["date_deleted"].is_string(),
        "{:?}",
        listed.body
    );
    assert_eq!(usernames(&teach.get(DELETED).await.body), ["carl"]);
    assert_eq!(ada.get(DELETED).await.body, json!([]));
    assert_eq!(Browser::new(&app).get(DELETED).await.body, json!([]));
    let paged = boss.get(&format!("{DELETED}?page_size=10")).await;
    assert_eq!(paged.body["count"], 1);
    assert!(
        !usernames(&boss.get("/api/auth/facilityuser/").await.body).contains(&"carl".to_string())
    );
    assert_eq!(
        boss.get(&format!("{DELETED}{carl}/")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        ada.get(&format!("{DELETED}{carl}/")).await.status,
        StatusCode::NOT_FOUND
    );

    // Restoring: a filter is required; only the facility's admins.
    let events = app.event_count().await;
    let unfiltered = restore(&boss, String::new()).await;
    assert_eq!(
        (unfiltered.status, unfiltered.body),
        (StatusCode::BAD_REQUEST, Value::Null)
    );
    let nobody = restore(&boss, format!("?by_ids={}", hex(w.id("ada")))).await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
    let by_coach = restore(&teach, format!("?by_ids={carl}")).await;
    assert_eq!(by_coach.status, StatusCode::FORBIDDEN);
    assert_eq!(app.event_count().await, events, "refusals write nothing");

    // Someone took the name meanwhile: not restored until it is free.
    let newcomer = boss
        .send(
            Method::POST,
            "/api/auth/facilityuser/",
            Some(json!({"username": "carl", "password": "newpass", "full_name": "New Carl", "facility": hex(w.home)})),
            true,
        )
        .await;
    assert_eq!(newcomer.status, StatusCode::CREATED, "{:?}", newcomer.body);
    let taken = restore(&boss, format!("?by_ids={carl}")).await;
    assert_eq!(taken.status, StatusCode::BAD_REQUEST);
    assert_eq!(taken.error_ids(), ["USERNAME_ALREADY_EXISTS"]);
    let newcomer_id = newcomer.body["id"].as_str().expect("id").to_string();
    boss.send(
        Method::DELETE,
        &format!("/api/auth/facilityuser/{newcomer_id}/"),
        None,
        true,
    )
    .await;
    let restored = restore(&boss, format!("?by_ids={carl}")).await;
    assert_eq!(
        (restored.status, restored.body),
        (StatusCode::NO_CONTENT, Value::Null)
    );
    assert_eq!(
        usernames(&boss.get(DELETED).await.body),
        ["carl"],
        "only the newcomer is left deleted"
    );
    let back = Browser::new(&app);
    assert_eq!(
        back.login("carl", "carlpass", None).await.status,
        StatusCode::OK
    );
    assert!(
        usernames(&boss.get("/api/auth/facilityuser/").await.body).contains(&"carl".to_string())
    );

    // A name nobody took is simply theirs again.
    let bob = hex(w.id("bob"));
    boss.send(
        Method::DELETE,
        &format!("/api/auth/facilityuser/{bob}/"),
        None,
        true,
    )
    .await;
    assert_eq!(
        restore(&boss, format!("?by_ids={bob}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        Browser::new(&app)
            .login("bob", "bobpass", None)
            .await
            .status,
        StatusCode::OK
    );

    // Deleted for good: gone from the deleted list, beyond restoring.
    let purge_all = boss.send(Method::DELETE, DELETED, None, true).await;
    assert_eq!(
        purge_all.status,
        StatusCode::BAD_REQUEST,
        "a filter is required"
    );
    let by_coach = teach
        .send(
            Method::DELETE,
            &format!("{DELETED}{newcomer_id}/"),
            None,
            true,
        )
        .await;
    assert_eq!(by_coach.status, StatusCode::FORBIDDEN);
    let purged = boss
        .send(
            Method::DELETE,
            &format!("{DELETED}{newcomer_id}/"),
            None,
            true,
        )
        .await;
    assert_eq!(purged.status, StatusCode::NO_CONTENT);
    assert_eq!(boss.get(DELETED).await.body, json!([]));
    // Deleted for good is erased: nothing of the person is readable.
    assert_eq!(
        crate::erasure::tables_holding(&app, "New Carl").await,
        vec![]
    );
    let gone = restore(&boss, format!("?by_ids={newcomer_id}")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let recorded = app
        .strings("SELECT CAST(metadata AS TEXT) FROM events WHERE event_type IN ('UserRestored', 'UserErased')")
        .await;
    assert_eq!(recorded.len(), 3);
    assert!(recorded
        .iter()
        .all(|m| m.contains(&format!("user:{}", w.id("boss")))));
}

on_both_backends!(the_users_page_removes_selected_users_at_once_and_undoes_it);
async fn the_users_page_removes_selected_users_at_once_and_undoes_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = world(&app).await;
    let boss = Browser::signed_in(&app, "boss", "bosspass").await;
    let teach = Browser::signed_in(&app, "teach", "teachpass").await;
    let selected = format!("{},{}", hex(w.id("ada")), hex(w.id("carl")));

    // The page fetches its selection by id; others' users are left out.
    let fetched = boss
        .get(&format!(
            "/api/auth/facilityuser/?by_ids={selected},{}",
            hex(w.id("gina"))
        ))
        .await;
    assert_eq!(usernames(&fetched.body), ["ada", "carl"]);

    let events = app.event_count().await;
    let unfiltered = boss
        .send(Method::DELETE, "/api/auth/facilityuser/", None, true)
        .await;
    assert_eq!(unfiltered.status, StatusCode::BAD_REQUEST);
    let by_coach = teach
        .send(
            Method::DELETE,
            &format!("/api/auth/facilityuser/?by_ids={selected}"),
            None,
            true,
        )
        .await;
    assert_eq!(by_coach.status, StatusCode::FORBIDDEN);
    let across = boss
        .send(
            Method::DELETE,
            &format!(
                "/api/auth/facilityuser/?by_ids={selected},{}",
                hex(w.id("gina"))
            ),
            None,
            true,
        )
        .await;
    assert_eq!(
        across.status,
        StatusCode::FORBIDDEN,
        "gina is of another facility: nobody deleted"
    );
    assert_eq!(app.event_count().await, events);

    let removed = boss
        .send(
            Method::DELETE,
            &format!("/api/auth/facilityuser/?by_ids={selected}"),
            None,
            true,
        )
        .await;
    assert_eq!(
        (removed.status, removed.body),
        (StatusCode::NO_CONTENT, Value::Null)
    );
    let mut deleted = usernames(&boss.get("/api/auth/deletedfacilityuser/").await.body);
    deleted.sort();
    assert_eq!(deleted, ["ada", "carl"]);
    assert_eq!(
        Browser::new(&app)
            .login("ada", "adapass", None)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );

    // Undo: both back at once.
    let undone = restore(&boss, format!("?by_ids={selected}")).await;
    assert_eq!(undone.status, StatusCode::NO_CONTENT);
    assert_eq!(
        boss.get("/api/auth/deletedfacilityuser/").await.body,
        json!([])
    );
    assert_eq!(
        Browser::new(&app)
            .login("ada", "adapass", None)
            .await
            .status,
        StatusCode::OK
    );
}
