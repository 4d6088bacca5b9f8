//! The facility settings page's actions: resetting the settings to the
//! preset's and saving how learners sign in, by the facility's admins
//! only, each one `FacilitySettingsChanged`.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{spawn_app, Backend};
use crate::kolibri_world::{hex, world, Browser};

on_both_backends!(admins_reset_the_settings_and_choose_how_learners_sign_in);
async fn admins_reset_the_settings_and_choose_how_learners_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let w = world(&app).await;
    let boss = Browser::signed_in(&app, "boss", "bosspass").await;
    let teach = Browser::signed_in(&app, "teach", "teachpass").await;
    let datasets = boss
        .get(&format!(
            "/api/auth/facilitydataset/?facility_id={}",
            hex(w.home)
        ))
        .await;
    let dataset = datasets.body[0]["id"]
        .as_str()
        .expect("dataset id")
        .to_string();
    let base = format!("/api/auth/facilitydataset/{dataset}");
    let settings = || async {
        boss.get(&format!(
            "/api/auth/facilitydataset/?facility_id={}",
            hex(w.home)
        ))
        .await
        .body[0]
            .clone()
    };

    // Signing in without a password: learners then cannot change one.
    let login_settings = format!("{base}/save-facility-login-settings/");
    let events = app.event_count().await;
    let by_coach = teach
        .send(
            Method::PATCH,
            &login_settings,
            Some(json!({"learner_can_login_with_no_password": true})),
            true,
        )
        .await;
    assert_eq!(by_coach.status, StatusCode::FORBIDDEN);
    let pictures = boss
        .send(
            Method::PATCH,
            &login_settings,
            Some(json!({"picture_password_settings": {"x": 1}})),
            true,
        )
        .await;
    assert_eq!(pictures.status, StatusCode::BAD_REQUEST);
    assert!(pictures.body["detail"].is_string());
    assert_eq!(app.event_count().await, events, "refusals write nothing");
    let saved = boss
        .send(Method::PATCH, &login_settings, Some(json!({"learner_can_login_with_no_password": true, "picture_password_settings": null})), true)
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{:?}", saved.body);
    assert_eq!(
        saved.body["dataset"]["learner_can_login_with_no_password"],
        true
    );
    assert_eq!(saved.body["dataset"]["learner_can_edit_password"], false);
    // A learner now signs in without a password.
    let ada = Browser::new(&app);
    assert_eq!(ada.login("ada", "", None).await.status, StatusCode::OK);
    let back = boss
        .send(Method::PATCH, &login_settings, Some(json!({"learner_can_login_with_no_password": false, "learner_can_edit_password": true})), true)
        .await;
    assert_eq!(
        back.body["dataset"]["learner_can_login_with_no_password"],
        false
    );
    assert_eq!(back.body["dataset"]["learner_can_edit_password"], true);

    // Reset: back to the preset's settings.
    boss.send(
        Method::PATCH,
        &format!("{base}/"),
        Some(json!({"learner_can_sign_up": false})),
        true,
    )
    .await;
    assert_eq!(settings().await["learner_can_sign_up"], false);
    let reset = format!("{base}/resetsettings/");
    let refused = teach.send(Method::POST, &reset, None, true).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.body[0]["metadata"]["view"], "Resetsettings");
    let done = boss.send(Method::POST, &reset, None, true).await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    assert_eq!(done.body["learner_can_sign_up"], true, "nonformal's");
    assert_eq!(settings().await["learner_can_sign_up"], true);
    let unknown = boss
        .send(
            Method::POST,
            &format!(
                "/api/auth/facilitydataset/{}/resetsettings/",
                "5".repeat(32)
            ),
            None,
            true,
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}
