//! Token introspection (RFC 7662) and revocation (RFC 7009).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{ild_error, spawn_app_with, Backend, TestApp};

const CLIENT: (&str, &str) = ("resource-server", "s3cret-client-password");

async fn oauth(
    app: &TestApp,
    path: &str,
    token: &str,
    auth: Option<(&str, &str)>,
) -> reqwest::Response {
    let mut request = app.client.post(app.url(path)).form(&[("token", token)]);
    if let Some((id, secret)) = auth {
        request = request.basic_auth(id, Some(secret));
    }
    request.send().await.expect("request")
}

async fn introspect(app: &TestApp, token: &str) -> Value {
    let response = oauth(app, "/oauth/introspect", token, Some(CLIENT)).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("json")
}

async fn app_with_client(backend: Backend, access_ttl: u64) -> TestApp {
    spawn_app_with(backend, |c| {
        c.introspection_clients = vec![format!("{}:{}", CLIENT.0, CLIENT.1).into()];
        c.access_token_ttl = access_ttl;
    })
    .await
}

on_both_backends!(introspection_tells_live_logged_out_and_unknown_tokens_apart);
async fn introspection_tells_live_logged_out_and_unknown_tokens_apart(backend: Backend) {
    let app = app_with_client(backend, 900).await;
    let login = app
        .signed_in("introspected@example.com", "correct horse")
        .await;
    let access = login["token"].as_str().expect("token");
    let refresh = login["refreshToken"].as_str().expect("refresh");

    // Only configured clients may ask.
    let anonymous = oauth(&app, "/oauth/introspect", access, None).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(anonymous.headers().contains_key("www-authenticate"));
    let body: Value = anonymous.json().await.expect("json");
    assert_eq!(body["error"], "invalid_client");
    let wrong = oauth(&app, "/oauth/introspect", access, Some((CLIENT.0, "guess"))).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let live = introspect(&app, access).await;
    assert_eq!(live["active"], true);
    assert_eq!(live["token_type"], "access_token");
    assert_eq!(live["sub"], login["user"]["id"]);
    assert!(live["exp"].as_i64().is_some());
    let live_refresh = introspect(&app, refresh).await;
    assert_eq!(live_refresh["active"], true);
    assert_eq!(live_refresh["token_type"], "refresh_token");
    assert_eq!(live_refresh["sid"], live["sid"]);

    assert_eq!(
        introspect(&app, "not a token").await,
        serde_json::json!({ "active": false })
    );

    assert_eq!(
        app.get_auth("/sign/logout", access).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        introspect(&app, access).await,
        serde_json::json!({ "active": false })
    );
    assert_eq!(
        introspect(&app, refresh).await,
        serde_json::json!({ "active": false })
    );
}

on_both_backends!(an_expired_access_token_is_not_active);
async fn an_expired_access_token_is_not_active(backend: Backend) {
    let app = app_with_client(backend, 1).await;
    let login = app.signed_in("expiring@example.com", "correct horse").await;
    let access = login["token"].as_str().expect("token");
    assert_eq!(introspect(&app, access).await["active"], true);
    // Past the expiry and the 5 s clock-skew leeway.
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(
        introspect(&app, access).await,
        serde_json::json!({ "active": false })
    );
}

on_both_backends!(revoking_a_refresh_token_ends_its_session_at_once);
async fn revoking_a_refresh_token_ends_its_session_at_once(backend: Backend) {
    let app = app_with_client(backend, 900).await;
    let login = app.signed_in("revoked@example.com", "correct horse").await;
    let access = login["token"].as_str().expect("token");
    let refresh = login["refreshToken"].as_str().expect("refresh");

    let anonymous = oauth(&app, "/oauth/revoke", refresh, None).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get_auth("/sign/check", access).await.status(),
        StatusCode::OK
    );

    let revoked = oauth(&app, "/oauth/revoke", refresh, Some(CLIENT)).await;
    assert_eq!(revoked.status(), StatusCode::OK);
    ild_error(
        app.get_auth("/sign/check", access).await,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    ild_error(app.refresh(refresh).await, StatusCode::UNAUTHORIZED).await;
    assert_eq!(introspect(&app, refresh).await["active"], false);
    let ended = app
        .count("SELECT count(*) FROM events WHERE event_type = 'SessionEnded'")
        .await;
    assert_eq!(ended, 1);

    // Unknown tokens: 200 all the same (RFC 7009), nothing written.
    let unknown = oauth(&app, "/oauth/revoke", "nonsense", Some(CLIENT)).await;
    assert_eq!(unknown.status(), StatusCode::OK);
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE event_type = 'SessionEnded'")
            .await,
        1
    );
}
