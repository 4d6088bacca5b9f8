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
        ("GET", "/user/profile/export"),
        ("DELETE", "/admin/users/{userId}"),
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
        ("GET", "/v1/users/profile/export"),
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

/// The operation object at `method path`.
fn operation<'a>(document: &'a Value, method: &str, path: &str) -> &'a Value {
    let found = &document["paths"][path][method];
    assert!(found.is_object(), "{method} {path} is not documented");
    found
}

/// The schema a `$ref` names (or the schema itself).
fn resolved<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            &document["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// Whether a (resolved) schema admits JSON null.
fn admits_null(schema: &Value) -> bool {
    match &schema["type"] {
        Value::String(kind) => kind == "null",
        Value::Array(kinds) => kinds.iter().any(|k| k == "null"),
        _ => ["oneOf", "anyOf"].iter().any(|combinator| {
            schema[*combinator]
                .as_array()
                .is_some_and(|items| items.iter().any(admits_null))
        }),
    }
}

on_both_backends!(the_openapi_document_describes_what_each_surface_accepts);
async fn the_openapi_document_describes_what_each_surface_accepts(backend: Backend) {
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

    // One security scheme per way in: the surfaces' own, not ILD's bearer.
    let schemes = &document["components"]["securitySchemes"];
    for (name, kind, location, key) in [
        ("kolibri_session", "apiKey", "cookie", "kolibri"),
        ("kolibri_csrf", "apiKey", "header", "X-CSRFToken"),
        ("doubtfire_token", "apiKey", "header", "Auth-Token"),
        ("doubtfire_username", "apiKey", "header", "Username"),
        ("backstack_session", "apiKey", "cookie", "BackstackJWT"),
    ] {
        assert_eq!(schemes[name]["type"], kind, "{name}");
        assert_eq!(schemes[name]["in"], location, "{name}");
        assert_eq!(schemes[name]["name"], key, "{name}");
    }
    assert_eq!(schemes["openarchiver_bearer"]["scheme"], "bearer");
    for (method, path, scheme) in [
        ("get", "/v1/users/profile", "openarchiver_bearer"),
        ("post", "/v1/iam/roles", "openarchiver_bearer"),
        ("get", "/user/profile", "bearer"),
        ("patch", "/api/auth/facilityuser/{id}", "kolibri_session"),
        ("patch", "/api/auth/facilityuser/{id}", "kolibri_csrf"),
        ("get", "/api/users/{id}", "doubtfire_token"),
        ("post", "/v1/auth/login-account", "backstack_session"),
    ] {
        let security = operation(&document, method, path)["security"].to_string();
        assert!(
            security.contains(&format!("\"{scheme}\"")),
            "{method} {path}: {security}"
        );
    }

    // Kolibri's login body is its own, not ILD's (the names once collided).
    let body_of = |method: &str, path: &str| {
        operation(&document, method, path)["requestBody"]["content"]["application/json"]["schema"]
            ["$ref"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(body_of("post", "/api/auth/session").ends_with("/KolibriLoginRequest"));
    assert!(body_of("post", "/sign/login").ends_with("/LoginRequest"));

    // A required field of a request body never admits null (its handler
    // answers 400 for one); every body a handler reads is declared.
    let mut bodies = 0;
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let Some(content) = op["requestBody"]["content"].as_object() else {
                continue;
            };
            for media in content.values() {
                bodies += 1;
                let schema = resolved(&document, &media["schema"]);
                let properties = &schema["properties"];
                for required in schema["required"].as_array().into_iter().flatten() {
                    let field = resolved(
                        &document,
                        &properties[required.as_str().expect("a property name")],
                    );
                    assert!(
                        !admits_null(field),
                        "{method} {path}: required {required} admits null"
                    );
                }
            }
        }
    }
    assert!(bodies >= 40, "only {bodies} request bodies documented");
    for (method, path) in [
        ("post", "/api/auth/classroom"),
        ("post", "/api/auth/membership"),
        ("post", "/api/auth/role"),
        ("patch", "/api/auth/facilitydataset/{id}"),
        ("post", "/api/auth/setnonspecifiedpassword"),
        ("post", "/v1/auth/setup"),
        ("post", "/v1/users"),
        ("put", "/v1/users/{id}"),
        ("post", "/v1/iam/roles"),
        ("post", "/v1/auth/login"),
        ("post", "/v1/auth/login-account"),
        ("post", "/api/auth"),
    ] {
        assert!(
            operation(&document, method, path)["requestBody"].is_object(),
            "{method} {path}: no request body documented"
        );
    }

    // Ids are declared as what the handlers parse: UUIDs on ILD and Open
    // Archiver, 32 hex digits on Kolibri.
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            for parameter in op["parameters"].as_array().into_iter().flatten() {
                if parameter["in"] != "path" {
                    continue;
                }
                let name = parameter["name"].as_str().unwrap_or_default();
                let schema = &parameter["schema"];
                if name.ends_with("Id") || (name == "id" && path.starts_with("/v1/")) {
                    assert_eq!(schema["format"], "uuid", "{method} {path} {{{name}}}");
                } else if name == "id"
                    && path.starts_with("/api/auth/")
                    && !path.starts_with("/api/auth/session/")
                {
                    assert_eq!(
                        schema["pattern"], "^[0-9a-f]{32}$",
                        "{method} {path} {{{name}}}"
                    );
                }
            }
        }
    }

    // Bounded integers say their bounds; Kolibri's lenient pagination says
    // what it does with anything (it clamps, as Kolibri does).
    let parameter = |method: &str, path: &str, name: &str| {
        operation(&document, method, path)["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{method} {path}: no {name}"))
            .clone()
    };
    let page_size = parameter("get", "/user", "pageSize");
    assert_eq!(
        (
            &page_size["schema"]["minimum"],
            &page_size["schema"]["maximum"]
        ),
        (&Value::from(1), &Value::from(100))
    );
    for path in ["/api/auth/facilityuser", "/api/auth/deletedfacilityuser"] {
        let page_size = parameter("get", path, "page_size");
        assert_eq!(page_size["schema"]["type"], "string", "{path}");
        assert!(
            page_size["description"]
                .as_str()
                .is_some_and(|d| d.contains("clamped to")),
            "{path}"
        );
    }

    // The main answers carry their schema.
    for (method, path, status) in [
        ("get", "/api/auth/facilityuser", "200"),
        ("get", "/api/auth/facilityuser/{id}", "200"),
        ("put", "/api/auth/session/{id}", "200"),
        ("get", "/api/auth/classroom", "200"),
        ("get", "/v1/users", "200"),
        ("get", "/v1/iam/roles/{id}", "200"),
        ("post", "/v1/auth/login", "200"),
        ("get", "/v1/auth/session", "200"),
        ("post", "/api/auth", "201"),
        ("get", "/api/users/{id}", "200"),
    ] {
        assert!(
            operation(&document, method, path)["responses"][status]["content"]["application/json"]
                ["schema"]
                .is_object(),
            "{method} {path} {status}: no body schema"
        );
    }
}
