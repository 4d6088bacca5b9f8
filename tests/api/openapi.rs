//! The OpenAPI document: valid OpenAPI 3.1, and exactly the routes served.

use std::collections::BTreeSet;
use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{spawn_app, Backend};

/// Validates an OpenAPI document with `openapi-spec-validator` (Python),
/// installing it first when missing. Returns whether it is valid.
fn validate(document: &Value) -> bool {
    let has_validator = || {
        Command::new("python3")
            .args(["-c", "import openapi_spec_validator"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has_validator() {
        let installed = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "openapi-spec-validator"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            installed && has_validator(),
            "cannot install openapi-spec-validator (python3 -m pip)"
        );
    }
    let path =
        std::env::temp_dir().join(format!("eventauth-openapi-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&path, serde_json::to_vec(document).expect("serialize")).expect("write");
    let valid = Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&path)
        .status()
        .expect("run the validator")
        .success();
    let _ = std::fs::remove_file(path);
    valid
}

on_both_backends!(the_openapi_document_is_valid_openapi_3_1);
async fn the_openapi_document_is_valid_openapi_3_1(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    let document: Value = response.json().await.expect("json");
    assert!(document["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.1")));
    assert!(validate(&document), "the validator rejects /openapi.json");

    // The validator is real: a broken copy fails.
    let mut broken = document.clone();
    broken["paths"]["/sign/login"]["post"]["responses"] = Value::String("nope".into());
    assert!(
        !validate(&broken),
        "the validator accepted a broken document"
    );

    let docs = app
        .client
        .get(app.url("/docs/"))
        .send()
        .await
        .expect("request");
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.expect("body").contains("swagger"));
}

on_both_backends!(the_openapi_document_lists_exactly_the_routes_the_router_serves);
async fn the_openapi_document_lists_exactly_the_routes_the_router_serves(backend: Backend) {
    let app = spawn_app(backend).await;
    let document: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .filter(|key| ["get", "post", "put", "patch", "delete"].contains(&key.as_str()))
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = [
        ("POST", "/sign/register"),
        ("POST", "/sign/login"),
        ("GET", "/sign/check"),
        ("GET", "/sign/refresh"),
        ("GET", "/sign/logout"),
        ("POST", "/sign/verify"),
        ("POST", "/sign/reset"),
        ("POST", "/sign/reset/{token}"),
        ("PUT", "/user/changepassword"),
        ("GET", "/user/profile"),
        ("GET", "/user/profile/{userId}"),
        ("PUT", "/user/profile"),
        ("GET", "/user/profile/stream/{key}"),
        ("PATCH", "/user/{userId}/index"),
        ("PUT", "/user/{userId}/recalculate-subscription"),
        ("PUT", "/admin/users/{userId}/subscription"),
        ("PATCH", "/admin/users/{userId}/subscription"),
        ("DELETE", "/admin/users/{userId}/subscription"),
        ("PUT", "/user/tutorial"),
        ("PATCH", "/user/community/join/{communityId}"),
        ("POST", "/admin/communities"),
        ("GET", "/user"),
        ("GET", "/user/{userId}"),
        ("POST", "/admin/users/{userId}/{action}"),
        ("PUT", "/admin/users/{userId}/roles/{role}"),
        ("DELETE", "/admin/users/{userId}/roles/{role}"),
        ("GET", "/user/sessions"),
        ("DELETE", "/user/sessions"),
        ("DELETE", "/user/sessions/{sessionId}"),
        ("POST", "/api/auth/usernameavailable"),
        ("POST", "/api/auth/session"),
        ("PUT", "/api/auth/session/{id}"),
        ("DELETE", "/api/auth/session/{id}"),
        ("GET", "/api/auth/facilityuser"),
        ("POST", "/api/auth/facilityuser"),
        ("GET", "/api/auth/facilityuser/{id}"),
        ("PATCH", "/api/auth/facilityuser/{id}"),
        ("DELETE", "/api/auth/facilityuser/{id}"),
        ("POST", "/api/auth/signup"),
        ("GET", "/api/auth/facility"),
        ("GET", "/api/auth/facility/{id}"),
        ("GET", "/api/auth/facilitydataset"),
        ("PATCH", "/api/auth/facilitydataset/{id}"),
        ("GET", "/api/auth/facilityusername"),
        ("GET", "/api/auth"),
        ("DELETE", "/api/auth/facilityuser"),
        ("POST", "/api/auth/setnonspecifiedpassword"),
        ("POST", "/api/auth/facilitydataset/{id}/resetsettings"),
        (
            "PATCH",
            "/api/auth/facilitydataset/{id}/save-facility-login-settings",
        ),
        ("GET", "/api/auth/classroom"),
        ("POST", "/api/auth/classroom"),
        ("GET", "/api/auth/classroom/{id}"),
        ("PUT", "/api/auth/classroom/{id}"),
        ("PATCH", "/api/auth/classroom/{id}"),
        ("DELETE", "/api/auth/classroom/{id}"),
        ("GET", "/api/auth/learnergroup"),
        ("POST", "/api/auth/learnergroup"),
        ("GET", "/api/auth/learnergroup/{id}"),
        ("PUT", "/api/auth/learnergroup/{id}"),
        ("PATCH", "/api/auth/learnergroup/{id}"),
        ("DELETE", "/api/auth/learnergroup/{id}"),
        ("GET", "/api/auth/membership"),
        ("POST", "/api/auth/membership"),
        ("DELETE", "/api/auth/membership"),
        ("GET", "/api/auth/membership/{id}"),
        ("DELETE", "/api/auth/membership/{id}"),
        ("GET", "/api/auth/role"),
        ("POST", "/api/auth/role"),
        ("DELETE", "/api/auth/role"),
        ("GET", "/api/auth/role/{id}"),
        ("DELETE", "/api/auth/role/{id}"),
        ("GET", "/api/auth/deletedfacilityuser"),
        ("DELETE", "/api/auth/deletedfacilityuser"),
        ("GET", "/api/auth/deletedfacilityuser/{id}"),
        ("DELETE", "/api/auth/deletedfacilityuser/{id}"),
        ("POST", "/api/auth/deletedfacilityuser/restore"),
        ("POST", "/v1/auth/setup"),
        ("GET", "/v1/auth/status"),
        ("POST", "/v1/auth/login"),
        ("GET", "/v1/users/profile"),
        ("POST", "/v1/auth/login-account"),
        ("POST", "/admin/accounts"),
        ("PUT", "/admin/accounts/{accountId}/members/{userId}"),
        ("DELETE", "/admin/accounts/{accountId}/members/{userId}"),
        ("GET", "/v1/auth/session"),
        ("GET", "/v1/auth/logout"),
        ("POST", "/v1/auth/logout"),
        ("PATCH", "/v1/users/profile"),
        ("POST", "/v1/users/profile/password"),
        ("GET", "/v1/users"),
        ("POST", "/v1/users"),
        ("GET", "/v1/users/{id}"),
        ("PUT", "/v1/users/{id}"),
        ("DELETE", "/v1/users/{id}"),
        ("GET", "/v1/iam/roles"),
        ("POST", "/v1/iam/roles"),
        ("GET", "/v1/iam/roles/{id}"),
        ("PUT", "/v1/iam/roles/{id}"),
        ("DELETE", "/v1/iam/roles/{id}"),
        ("POST", "/api/auth"),
        ("PUT", "/api/auth"),
        ("DELETE", "/api/auth"),
        ("GET", "/api/auth/method"),
        ("GET", "/api/auth/signout_url"),
        ("POST", "/api/auth/jwt"),
        ("GET", "/api/users/{id}"),
        ("GET", "/.well-known/jwks.json"),
        ("GET", "/health"),
        ("GET", "/ready"),
        ("POST", "/oauth/introspect"),
        ("POST", "/oauth/revoke"),
        ("GET", "/metrics"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(documented, served);

    // And every documented route is really routed: never 404/405 with the
    // router's fallbacks (a 404 with a body from the handler is fine).
    let fallback: Value = app
        .client
        .get(app.url("/surely/not/routed"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    for (method, path) in &documented {
        let concrete = path
            .replace("{userId}", &uuid::Uuid::now_v7().to_string())
            .replace("{sessionId}", &uuid::Uuid::now_v7().to_string())
            .replace("{communityId}", &uuid::Uuid::now_v7().to_string())
            .replace("{action}", "disable")
            .replace("{role}", "editor")
            .replace("{token}", "not-a-token")
            .replace("{id}", &uuid::Uuid::now_v7().simple().to_string());
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let response = app
            .client
            .request(method.clone(), app.url(&concrete))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .expect("request");
        let status = response.status();
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        // (An unknown user's public profile answers exactly what the
        // fallback answers: ILD has one 404 body.)
        if status == StatusCode::NOT_FOUND && path != "/user/profile/{userId}" {
            let body: Value = response.json().await.expect("json");
            assert_ne!(body, fallback, "{method} {path} is not routed");
        }
    }
}
