//! Kolibri's classrooms, learner groups, roles and memberships over HTTP,
//! as a facility admin's and a coach's pages use them: who reads what,
//! who may change it, and Kolibri 0.19.5's answers and error ids
//! (docs/kolibri-reference.md §4).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{spawn_app, Backend};
use crate::kolibri_world::{hex, keys, world, Answer, Browser};

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| i["id"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| i["name"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

async fn post(browser: &Browser, path: &str, body: Value) -> Answer {
    browser.send(Method::POST, path, Some(body), true).await
}

fn field_error(answer: &Answer) -> (StatusCode, String, String) {
    let error = &answer.body[0];
    (
        answer.status,
        error["id"].as_str().unwrap_or_default().to_string(),
        error["metadata"]["field"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

on_both_backends!(classrooms_are_read_created_renamed_and_deleted_as_kolibri_allows);
async fn classrooms_are_read_created_renamed_and_deleted_as_kolibri_allows(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = world(&app).await;
    let boss = Browser::signed_in(&app, "boss", "bosspass").await;
    let teach = Browser::signed_in(&app, "teach", "teachpass").await;
    let ada = Browser::signed_in(&app, "ada", "adapass").await;
    let mentor = Browser::new(&app);
    mentor.login("mentor", "mentorpass", Some(w.school)).await;
    assert_eq!(mentor.signed_in_as().await, "mentor");
    let anonymous = Browser::new(&app);
    let in_home = format!("/api/auth/classroom/?parent={}", hex(w.home));

    // Admins and the facility's coaches read its classrooms; learners,
    // other facilities' coaches and anonymous callers read none.
    let listed = boss.get(&in_home).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(ids(&listed.body), [hex(w.blue)]);
    assert_eq!(
        keys(&listed.body[0]),
        ["coaches", "id", "learner_count", "name", "parent"]
    );
    assert_eq!(listed.body[0]["learner_count"], 1, "bob is in Blue");
    assert_eq!(listed.body[0]["parent"], hex(w.home));
    assert_eq!(ids(&teach.get(&in_home).await.body), [hex(w.blue)]);
    for (who, browser) in [
        ("ada", &ada),
        ("mentor", &mentor),
        ("anonymous", &anonymous),
    ] {
        let answer = browser.get("/api/auth/classroom/").await;
        assert_eq!(
            (answer.status, answer.body),
            (StatusCode::OK, json!([])),
            "{who}"
        );
    }
    let unreadable = ada
        .get(&format!("/api/auth/classroom/{}/", hex(w.blue)))
        .await;
    assert_eq!(unreadable.status, StatusCode::NOT_FOUND);
    assert_eq!(unreadable.body[0]["metadata"]["view"], "Classroom Instance");
    let bad_parent = boss.get("/api/auth/classroom/?parent=nope").await;
    assert_eq!(
        field_error(&bad_parent),
        (
            StatusCode::BAD_REQUEST,
            "INVALID_CHOICE".into(),
            "parent".into()
        )
    );

    // Creating: field errors first, then who may, then the name, then
    // the hierarchy; no event for any refusal.
    let events = app.event_count().await;
    let home = hex(w.home);
    let refusals = [
        (&boss, json!({}), StatusCode::BAD_REQUEST, "REQUIRED"),
        (
            &boss,
            json!({"name": "", "parent": home}),
            StatusCode::BAD_REQUEST,
            "BLANK",
        ),
        (
            &boss,
            json!({"name": "x".repeat(101), "parent": home}),
            StatusCode::BAD_REQUEST,
            "MAX_LENGTH",
        ),
        (
            &boss,
            json!({"name": "Red", "parent": "nope"}),
            StatusCode::BAD_REQUEST,
            "INCORRECT_TYPE",
        ),
        (
            &boss,
            json!({"name": "Red", "parent": hex(Uuid::now_v7())}),
            StatusCode::BAD_REQUEST,
            "DOES_NOT_EXIST",
        ),
        (
            &boss,
            json!({"name": "Red"}),
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
        ),
        (
            &teach,
            json!({"name": "Red", "parent": home}),
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
        ),
        (
            &mentor,
            json!({"name": "Red", "parent": home}),
            StatusCode::FORBIDDEN,
            "PERMISSION_DENIED",
        ),
        (
            &anonymous,
            json!({"name": "Red", "parent": home}),
            StatusCode::FORBIDDEN,
            "NOT_AUTHENTICATED",
        ),
        (
            &boss,
            json!({"name": "Blue", "parent": home}),
            StatusCode::BAD_REQUEST,
            "UNIQUE",
        ),
    ];
    for (browser, body, status, id) in refusals {
        let answer = post(browser, "/api/auth/classroom/", body.clone()).await;
        assert_eq!(
            (answer.status, answer.error_ids()),
            (status, vec![id.to_string()]),
            "{body}"
        );
    }
    let unknown = post(
        &boss,
        "/api/auth/classroom/",
        json!({"name": "Red", "parent": "5".repeat(32)}),
    )
    .await;
    assert_eq!(
        unknown.body[0]["metadata"]["message"],
        format!("Invalid pk \"{}\" - object does not exist.", "5".repeat(32))
    );
    let taken = post(
        &boss,
        "/api/auth/classroom/",
        json!({"name": "Blue", "parent": home}),
    )
    .await;
    assert_eq!(taken.body[0]["metadata"]["field"], "non_field_errors");
    let nested = post(
        &boss,
        "/api/auth/classroom/",
        json!({"name": "Nested", "parent": hex(w.blue)}),
    )
    .await;
    assert_eq!(
        (nested.status, nested.body),
        (
            StatusCode::BAD_REQUEST,
            json!(["Invalid collection hierarchy"])
        )
    );
    assert_eq!(app.event_count().await, events, "refusals write nothing");

    let red = post(
        &boss,
        "/api/auth/classroom/",
        json!({"name": "Red", "parent": home}),
    )
    .await;
    assert_eq!(red.status, StatusCode::CREATED, "{:?}", red.body);
    assert_eq!(red.body["name"], "Red");
    assert_eq!(red.body["learner_count"], 0);
    let red_id = red.body["id"].as_str().expect("id").to_string();
    assert_eq!(red_id.len(), 32);
    assert_eq!(
        names(&boss.get(&in_home).await.body).len(),
        2,
        "the new classroom is listed at once"
    );

    // Renaming: admins; a taken name is refused.
    let path = format!("/api/auth/classroom/{red_id}/");
    let renamed = boss
        .send(Method::PATCH, &path, Some(json!({"name": "Crimson"})), true)
        .await;
    assert_eq!(
        (renamed.status, renamed.body["name"].clone()),
        (StatusCode::OK, json!("Crimson"))
    );
    let clash = boss
        .send(Method::PATCH, &path, Some(json!({"name": "Blue"})), true)
        .await;
    assert_eq!(clash.error_ids(), ["UNIQUE"]);
    let coach_renames = teach
        .send(Method::PATCH, &path, Some(json!({"name": "Mine"})), true)
        .await;
    assert_eq!(coach_renames.status, StatusCode::FORBIDDEN);
    let whole = boss.send(Method::PUT, &path, Some(json!({})), true).await;
    assert_eq!(whole.error_ids(), ["REQUIRED"]);
    assert_eq!(boss.get(&path).await.body["name"], "Crimson");

    // Deleting: admins; 404 afterwards.
    let coach_deletes = teach.send(Method::DELETE, &path, None, true).await;
    assert_eq!(coach_deletes.status, StatusCode::FORBIDDEN);
    let deleted = boss.send(Method::DELETE, &path, None, true).await;
    assert_eq!(
        (deleted.status, deleted.body),
        (StatusCode::NO_CONTENT, Value::Null)
    );
    assert_eq!(boss.get(&path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        boss.send(Method::DELETE, &path, None, true).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(ids(&boss.get(&in_home).await.body), [hex(w.blue)]);
    let recorded = app
        .count("SELECT count(*) FROM events WHERE event_type IN ('OrganizationRenamed', 'OrganizationDeleted')")
        .await;
    assert_eq!(recorded, 2);
}

on_both_backends!(learner_groups_and_memberships_follow_kolibris_rules);
async fn learner_groups_and_memberships_follow_kolibris_rules(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = world(&app).await;
    let boss = Browser::signed_in(&app, "boss", "bosspass").await;
    let teach = Browser::signed_in(&app, "teach", "teachpass").await;
    let carl = Browser::signed_in(&app, "carl", "carlpass").await;
    let ada = Browser::signed_in(&app, "ada", "adapass").await;
    let mentor = Browser::new(&app);
    mentor.login("mentor", "mentorpass", Some(w.school)).await;
    assert_eq!(mentor.signed_in_as().await, "mentor");
    let blue = hex(w.blue);

    // Admins and the facility's coaches make groups in a classroom.
    let team_a = post(
        &boss,
        "/api/auth/learnergroup/",
        json!({"name": "Team A", "parent": blue}),
    )
    .await;
    assert_eq!(team_a.status, StatusCode::CREATED, "{:?}", team_a.body);
    assert_eq!(keys(&team_a.body), ["id", "name", "parent", "user_ids"]);
    assert_eq!(team_a.body["user_ids"], json!([]));
    let team_a = team_a.body["id"].as_str().expect("id").to_string();
    let team_b = post(
        &teach,
        "/api/auth/learnergroup/",
        json!({"name": "Team B", "parent": blue}),
    )
    .await;
    assert_eq!(team_b.status, StatusCode::CREATED);
    let learner_makes = post(
        &ada,
        "/api/auth/learnergroup/",
        json!({"name": "Mine", "parent": blue}),
    )
    .await;
    assert_eq!(learner_makes.status, StatusCode::FORBIDDEN);
    let in_facility = post(
        &boss,
        "/api/auth/learnergroup/",
        json!({"name": "Flat", "parent": hex(w.home)}),
    )
    .await;
    assert_eq!(in_facility.body, json!(["Invalid collection hierarchy"]));

    // A group's members must be in its classroom first.
    let events = app.event_count().await;
    let one =
        |collection: &str, user: &str| json!({"collection": collection, "user": hex(w.id(user))});
    let not_in_class = post(&boss, "/api/auth/membership/", one(&team_a, "ada")).await;
    assert_eq!(
        (not_in_class.status, not_in_class.body),
        (StatusCode::BAD_REQUEST, json!(["Invalid membership"]))
    );
    let facility = post(&boss, "/api/auth/membership/", one(&hex(w.home), "carl")).await;
    assert_eq!(facility.body, json!(["Invalid membership"]));
    let facility_list = post(
        &boss,
        "/api/auth/membership/",
        json!([one(&hex(w.home), "carl")]),
    )
    .await;
    assert_eq!(
        field_error(&facility_list),
        (
            StatusCode::BAD_REQUEST,
            "INVALID".into(),
            "non_field_errors".into()
        )
    );
    let other_facility = post(&mentor, "/api/auth/membership/", one(&blue, "gina")).await;
    assert_eq!(other_facility.status, StatusCode::FORBIDDEN);
    let coach_enrolls = post(&teach, "/api/auth/membership/", one(&blue, "ada")).await;
    assert_eq!(
        coach_enrolls.status,
        StatusCode::FORBIDDEN,
        "classroom members are the admins' to place"
    );
    let nobody = post(
        &boss,
        "/api/auth/membership/",
        json!({"collection": blue, "user": hex(Uuid::now_v7())}),
    )
    .await;
    assert_eq!(
        field_error(&nobody),
        (
            StatusCode::BAD_REQUEST,
            "DOES_NOT_EXIST".into(),
            "user".into()
        )
    );
    assert_eq!(app.event_count().await, events, "refusals write nothing");

    // A group in the same list as its classroom is refused (Kolibri
    // checks before creating any); a list answers only the new ones.
    let at_once = post(
        &boss,
        "/api/auth/membership/",
        json!([one(&blue, "ada"), one(&team_a, "ada")]),
    )
    .await;
    assert_eq!(
        field_error(&at_once),
        (
            StatusCode::BAD_REQUEST,
            "INVALID".into(),
            "non_field_errors".into()
        )
    );
    assert_eq!(app.event_count().await, events, "nothing placed");
    let placed = post(
        &boss,
        "/api/auth/membership/",
        json!([one(&blue, "ada"), one(&blue, "bob")]),
    )
    .await;
    assert_eq!(placed.status, StatusCode::CREATED, "{:?}", placed.body);
    assert_eq!(
        placed.body.as_array().map(Vec::len),
        Some(1),
        "bob was in Blue already"
    );
    let in_group = post(&boss, "/api/auth/membership/", json!([one(&team_a, "ada")])).await;
    assert_eq!(in_group.status, StatusCode::CREATED);
    assert_eq!(keys(&placed.body[0]), ["collection", "id", "user"]);
    // A coach of the facility places a classroom's members in its groups.
    let coach_groups = post(&teach, "/api/auth/membership/", one(&team_a, "bob")).await;
    assert_eq!(coach_groups.status, StatusCode::CREATED);
    let group = boss.get(&format!("/api/auth/learnergroup/{team_a}/")).await;
    let mut members: Vec<String> = group.body["user_ids"]
        .as_array()
        .expect("user_ids")
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect();
    members.sort();
    let mut expected = vec![hex(w.id("ada")), hex(w.id("bob"))];
    expected.sort();
    assert_eq!(members, expected);
    assert_eq!(
        boss.get(&format!("/api/auth/classroom/{blue}/")).await.body["learner_count"],
        2
    );
    assert_eq!(
        names(
            &boss
                .get(&format!("/api/auth/learnergroup/?parent={blue}"))
                .await
                .body
        )
        .len(),
        2
    );
    assert_eq!(ada.get("/api/auth/learnergroup/").await.body, json!([]));

    // Who reads memberships: their own, and those who read the classroom.
    let adas = format!("/api/auth/membership/?user={}", hex(w.id("ada")));
    assert_eq!(ids(&boss.get(&adas).await.body).len(), 2);
    assert_eq!(ids(&ada.get("/api/auth/membership/").await.body).len(), 2);
    assert_eq!(carl.get(&adas).await.body, json!([]));
    let first = boss.get(&adas).await.body[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(
        carl.get(&format!("/api/auth/membership/{first}/"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        boss.get(&format!("/api/auth/membership/{first}/"))
            .await
            .status,
        StatusCode::OK
    );

    // Leaving a classroom leaves its groups.
    let ada_in_blue = boss
        .get(&format!(
            "/api/auth/membership/?user={}&collection={blue}",
            hex(w.id("ada"))
        ))
        .await;
    let id = ada_in_blue.body[0]["id"].as_str().expect("id").to_string();
    let left = boss
        .send(
            Method::DELETE,
            &format!("/api/auth/membership/{id}/"),
            None,
            true,
        )
        .await;
    assert_eq!(left.status, StatusCode::NO_CONTENT);
    assert_eq!(boss.get(&adas).await.body, json!([]), "out of Team A too");

    // Bulk: a filter is required; every membership must be the caller's.
    let unfiltered = boss
        .send(Method::DELETE, "/api/auth/membership/", None, true)
        .await;
    assert_eq!(
        (unfiltered.status, unfiltered.body),
        (StatusCode::BAD_REQUEST, Value::Null)
    );
    let in_blue = format!("/api/auth/membership/?collection={blue}");
    let coach_bulk = teach.send(Method::DELETE, &in_blue, None, true).await;
    assert_eq!(coach_bulk.status, StatusCode::FORBIDDEN);
    assert_eq!(ids(&boss.get(&in_blue).await.body).len(), 1, "bob stays");
    let bulk = boss.send(Method::DELETE, &in_blue, None, true).await;
    assert_eq!(bulk.status, StatusCode::NO_CONTENT);
    assert_eq!(boss.get(&in_blue).await.body, json!([]));

    // A classroom deleted takes its groups with it.
    let deleted = boss
        .send(
            Method::DELETE,
            &format!("/api/auth/classroom/{blue}/"),
            None,
            true,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        boss.get(&format!("/api/auth/learnergroup/{team_a}/"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(boss.get("/api/auth/learnergroup/").await.body, json!([]));
}

on_both_backends!(roles_are_given_read_and_taken_away_by_a_facilitys_admins);
async fn roles_are_given_read_and_taken_away_by_a_facilitys_admins(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = world(&app).await;
    let boss = Browser::signed_in(&app, "boss", "bosspass").await;
    let teach = Browser::signed_in(&app, "teach", "teachpass").await;
    let carl = Browser::signed_in(&app, "carl", "carlpass").await;
    let ada = Browser::signed_in(&app, "ada", "adapass").await;
    let blue = hex(w.blue);
    let carls = format!("/api/auth/role/?user={}", hex(w.id("carl")));

    // Refusals, with no event written.
    let events = app.event_count().await;
    let role = |user: &str, collection: &str, kind: &str| json!({"user": hex(w.id(user)), "collection": collection, "kind": kind});
    let wizard = post(&boss, "/api/auth/role/", role("carl", &blue, "wizard")).await;
    assert_eq!(
        field_error(&wizard),
        (
            StatusCode::BAD_REQUEST,
            "INVALID_CHOICE".into(),
            "kind".into()
        )
    );
    let admin_of_class = post(&boss, "/api/auth/role/", role("carl", &blue, "admin")).await;
    assert_eq!(
        field_error(&admin_of_class),
        (
            StatusCode::BAD_REQUEST,
            "INVALID".into(),
            "non_field_errors".into()
        )
    );
    assert_eq!(
        admin_of_class.body[0]["metadata"]["message"],
        "Invalid role kind"
    );
    let by_coach = post(&teach, "/api/auth/role/", role("carl", &blue, "coach")).await;
    assert_eq!(by_coach.status, StatusCode::FORBIDDEN);
    let across = post(&boss, "/api/auth/role/", role("gina", &blue, "coach")).await;
    assert_eq!(
        across.status,
        StatusCode::FORBIDDEN,
        "gina is of another facility"
    );
    assert_eq!(app.event_count().await, events);

    // A classroom coach: also the facility's assignable coach.
    assert_eq!(carl.get("/api/auth/classroom/").await.body, json!([]));
    let given = post(&boss, "/api/auth/role/", role("carl", &blue, "coach")).await;
    assert_eq!(given.status, StatusCode::CREATED, "{:?}", given.body);
    assert_eq!(keys(&given.body), ["collection", "id", "kind", "user"]);
    assert_eq!(
        (given.body["kind"].clone(), given.body["user"].clone()),
        (json!("coach"), json!(hex(w.id("carl"))))
    );
    let mut kinds: Vec<String> = boss
        .get(&carls)
        .await
        .body
        .as_array()
        .expect("roles")
        .iter()
        .map(|r| r["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["classroom assignable coach", "coach"]);
    // The classroom lists its coach with their role for the facility.
    let listed = boss.get(&format!("/api/auth/classroom/{blue}/")).await;
    let coaches = listed.body["coaches"].as_array().expect("coaches").clone();
    assert_eq!(coaches.len(), 1, "{:?}", listed.body);
    assert_eq!(coaches[0]["username"], "carl");
    assert_eq!(coaches[0]["roles"][0]["kind"], "classroom assignable coach");
    assert_eq!(coaches[0]["facility"], hex(w.home));

    // The coach reads their classroom at once; again is no new role.
    assert_eq!(
        ids(&carl.get("/api/auth/classroom/").await.body),
        std::slice::from_ref(&blue)
    );
    let again = post(
        &boss,
        "/api/auth/role/",
        json!([role("carl", &blue, "coach")]),
    )
    .await;
    assert_eq!((again.status, again.body), (StatusCode::CREATED, json!([])));

    // Reading: one's own, and roles in collections one reads.
    assert_eq!(ids(&carl.get("/api/auth/role/").await.body).len(), 2);
    assert_eq!(ada.get(&carls).await.body, json!([]));
    let id = given.body["id"].as_str().expect("id");
    assert_eq!(
        ada.get(&format!("/api/auth/role/{id}/")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        teach.get(&format!("/api/auth/role/{id}/")).await.status,
        StatusCode::OK
    );

    // Taking away: the assignable-coach role takes the classroom's with it.
    let assignable = boss
        .get(&format!("{carls}&kind=classroom%20assignable%20coach"))
        .await;
    let assignable = assignable.body[0]["id"].as_str().expect("id").to_string();
    let coach_takes = teach
        .send(
            Method::DELETE,
            &format!("/api/auth/role/{assignable}/"),
            None,
            true,
        )
        .await;
    assert_eq!(coach_takes.status, StatusCode::FORBIDDEN);
    let taken = boss
        .send(
            Method::DELETE,
            &format!("/api/auth/role/{assignable}/"),
            None,
            true,
        )
        .await;
    assert_eq!(taken.status, StatusCode::NO_CONTENT);
    assert_eq!(boss.get(&carls).await.body, json!([]));
    assert_eq!(
        carl.get("/api/auth/classroom/").await.body,
        json!([]),
        "no longer a coach"
    );

    // Bulk: by filter, every role the caller's to take.
    let teachs = format!("/api/auth/role/?user={}", hex(w.id("teach")));
    assert_eq!(
        teach.send(Method::DELETE, &teachs, None, true).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        boss.send(Method::DELETE, "/api/auth/role/", None, true)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        boss.send(Method::DELETE, &teachs, None, true).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(boss.get(&teachs).await.body, json!([]));
    assert_eq!(teach.get("/api/auth/classroom/").await.body, json!([]));
}
