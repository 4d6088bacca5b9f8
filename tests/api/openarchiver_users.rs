//! Open Archiver's user administration: the Super Admin creates users with
//! a role and changes their names and role; what a role allows decides
//! who may list and read users, on the next request; the signed-in user
//! changes their own names and password.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{Backend, TestApp};
use crate::openarchiver::{admin, app, call, post, slugs_id};

/// Keys of a user object (no password, hash or secret among them).
fn keys(user: &Value) -> Vec<String> {
    let mut keys: Vec<String> = user.as_object().expect("object").keys().cloned().collect();
    keys.sort();
    keys
}

async fn login(app: &TestApp, email: &str, password: &str) -> String {
    let (status, body) = post(
        app,
        "/v1/auth/login",
        json!({"email": email, "password": password}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["accessToken"].as_str().expect("token").to_string()
}

on_both_backends!(the_super_admin_manages_users_and_their_role_decides_what_they_may_do);
async fn the_super_admin_manages_users_and_their_role_decides_what_they_may_do(backend: Backend) {
    let app = app(backend).await;
    let (_, setup) = post(&app, "/v1/auth/setup", admin()).await;
    let root = setup["accessToken"].as_str().expect("token").to_string();
    let root_id = setup["user"]["id"].as_str().expect("id").to_string();
    let (_, roles) = call(&app, Method::GET, "/v1/iam/roles", &root, None).await;
    let read_only = slugs_id(&roles, "predefined_read_only_user");
    let end_user = slugs_id(&roles, "predefined_end_user");

    // Refused before anything is written: an unknown role, a missing field.
    let events = app.event_count().await;
    let new_user = |role: &str| {
        json!({"email": "reader@example.com", "password": "reader password 1",
               "first_name": "Rea", "last_name": "Der", "roleId": role})
    };
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/v1/users",
            &root,
            Some(new_user("00000000-0000-0000-0000-000000000000"))
        )
        .await,
        (
            StatusCode::BAD_REQUEST,
            json!({"message": "Role not found."})
        )
    );
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/v1/users",
            &root,
            Some(json!({"email": "reader@example.com", "password": "reader password 1"}))
        )
        .await,
        (
            StatusCode::BAD_REQUEST,
            json!({"message": "Email, password, and name are required"})
        )
    );
    assert_eq!(app.event_count().await, events, "refusals write nothing");

    let (status, reader) = call(
        &app,
        Method::POST,
        "/v1/users",
        &root,
        Some(new_user(&read_only)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{reader}");
    assert_eq!(reader["role"]["slug"], "predefined_read_only_user");
    assert_eq!(
        keys(&reader),
        [
            "createdAt",
            "email",
            "first_name",
            "id",
            "last_name",
            "provider",
            "providerId",
            "role",
            "updatedAt"
        ]
    );
    let reader_id = reader["id"].as_str().expect("id").to_string();
    crate::helpers::assert_recorded_with_metadata(
        &app,
        "UserRegistered",
        &format!("user:{root_id}"),
    )
    .await;

    // The reader reads users, and may not manage them.
    let token = login(&app, "reader@example.com", "reader password 1").await;
    let (status, listed) = call(&app, Method::GET, "/v1/users", &token, None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let emails: Vec<&str> = listed
        .as_array()
        .expect("list")
        .iter()
        .map(|u| u["email"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(emails, ["root@example.com", "reader@example.com"]);
    assert_eq!(listed[0]["role"]["slug"], "predefined_super_admin");
    let (status, one) = call(
        &app,
        Method::GET,
        &format!("/v1/users/{root_id}"),
        &token,
        None,
    )
    .await;
    assert_eq!(
        (status, one["email"].as_str()),
        (StatusCode::OK, Some("root@example.com"))
    );
    let events = app.event_count().await;
    let managing = json!({"message": "Super Admin role is required to manage users."});
    assert_eq!(
        call(&app, Method::POST, "/v1/users", &token, Some(json!({
            "email": "x@example.com", "password": "some password 1", "first_name": "X", "last_name": "Y"}))).await,
        (StatusCode::FORBIDDEN, managing.clone())
    );
    assert_eq!(
        call(
            &app,
            Method::PUT,
            &format!("/v1/users/{reader_id}"),
            &token,
            Some(json!({"roleId": slugs_id(&roles, "predefined_super_admin")}))
        )
        .await,
        (StatusCode::FORBIDDEN, managing)
    );
    assert_eq!(app.event_count().await, events, "refusals write nothing");

    // Renamed and given End user: they may no longer read users, at once.
    let (status, changed) = call(
        &app,
        Method::PUT,
        &format!("/v1/users/{reader_id}"),
        &root,
        Some(json!({"first_name": "Renamed", "email": "reader@example.com", "roleId": end_user})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["first_name"], "Renamed");
    assert_eq!(changed["role"]["slug"], "predefined_end_user");
    assert_eq!(
        call(&app, Method::GET, "/v1/users", &token, None).await,
        (
            StatusCode::FORBIDDEN,
            json!({"message": "You don't have the permission to perform the current action."})
        )
    );
    let changes = app
        .strings("SELECT event_type || ' ' || CAST(metadata AS TEXT) FROM events WHERE event_type IN ('RoleGranted', 'RoleRevoked', 'ProfileUpdated')")
        .await;
    assert_eq!(changes.len(), 3, "{changes:?}");
    assert!(
        changes
            .iter()
            .all(|c| c.contains(&format!("user:{root_id}"))),
        "{changes:?}"
    );

    // What cannot be: another email, an unknown user, an unknown role.
    let events = app.event_count().await;
    assert_eq!(
        call(
            &app,
            Method::PUT,
            &format!("/v1/users/{reader_id}"),
            &root,
            Some(json!({"email": "elsewhere@example.com"}))
        )
        .await,
        (
            StatusCode::BAD_REQUEST,
            json!({"message": "Changing a user's email address is not supported."})
        )
    );
    assert_eq!(
        call(
            &app,
            Method::PUT,
            "/v1/users/00000000-0000-0000-0000-000000000000",
            &root,
            Some(json!({"first_name": "Nobody"}))
        )
        .await,
        (StatusCode::NOT_FOUND, json!({"message": "User not found"}))
    );
    assert_eq!(
        call(
            &app,
            Method::PUT,
            &format!("/v1/users/{reader_id}"),
            &root,
            Some(json!({"roleId": "not-a-role"}))
        )
        .await,
        (
            StatusCode::BAD_REQUEST,
            json!({"message": "Role not found."})
        )
    );
    assert_eq!(
        call(&app, Method::GET, "/v1/users/not-a-user", &root, None).await,
        (StatusCode::NOT_FOUND, json!({"message": "User not found"}))
    );
    assert_eq!(app.event_count().await, events, "refusals write nothing");

    // Their right of access: everything held about them.
    let (status, export) = call(&app, Method::GET, "/v1/users/profile/export", &token, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(export["account"]["email"], "reader@example.com");

    // Deleted — erased, as Open Archiver removes the row: their token dies
    // at once, nothing of them is readable, their email is free again; the
    // only user left cannot be deleted.
    let (status, _) = call(
        &app,
        Method::DELETE,
        &format!("/v1/users/{reader_id}"),
        &root,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        call(&app, Method::GET, "/v1/users/profile", &token, None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        crate::erasure::tables_holding(&app, "reader@example.com").await,
        vec![]
    );
    let (status, again) = call(
        &app,
        Method::POST,
        "/v1/users",
        &root,
        Some(new_user(&read_only)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    let again_id = again["id"].as_str().expect("id").to_string();
    call(
        &app,
        Method::DELETE,
        &format!("/v1/users/{again_id}"),
        &root,
        None,
    )
    .await;
    assert_eq!(
        call(
            &app,
            Method::DELETE,
            &format!("/v1/users/{root_id}"),
            &root,
            None
        )
        .await,
        (
            StatusCode::BAD_REQUEST,
            json!({"message": "You are trying to delete the only user in the database, this is not allowed."})
        )
    );
}

on_both_backends!(a_defined_role_keeps_its_holders_when_renamed_and_admin_is_never_a_role);
async fn a_defined_role_keeps_its_holders_when_renamed_and_admin_is_never_a_role(backend: Backend) {
    let app = app(backend).await;
    let (_, setup) = post(&app, "/v1/auth/setup", admin()).await;
    let root = setup["accessToken"].as_str().expect("token").to_string();
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/v1/iam/roles",
            &root,
            Some(json!({"name": "Admin", "policies": [{"action": "manage", "subject": "all"}]}))
        )
        .await,
        (
            StatusCode::BAD_REQUEST,
            json!({"message": "A role with this name already exists."})
        )
    );
    let (status, role) = call(
        &app,
        Method::POST,
        "/v1/iam/roles",
        &root,
        Some(json!({"name": "User Readers", "policies": [{"action": "read", "subject": "users"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{role}");
    let role_id = role["id"].as_str().expect("id").to_string();
    let (status, _) = call(
        &app,
        Method::POST,
        "/v1/users",
        &root,
        Some(json!({
        "email": "holder@example.com", "password": "holder password 1",
        "first_name": "Hol", "last_name": "Der", "roleId": role_id})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let token = login(&app, "holder@example.com", "holder password 1").await;
    assert_eq!(
        call(&app, Method::GET, "/v1/users", &token, None).await.0,
        StatusCode::OK
    );

    let (status, renamed) = call(
        &app,
        Method::PUT,
        &format!("/v1/iam/roles/{role_id}"),
        &root,
        Some(json!({"name": "Directory Readers"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(
        (renamed["name"].as_str(), renamed["slug"].as_str()),
        (Some("Directory Readers"), Some("user_readers"))
    );
    assert_eq!(
        call(
            &app,
            Method::PUT,
            &format!("/v1/iam/roles/{role_id}"),
            &root,
            Some(json!({}))
        )
        .await,
        (
            StatusCode::BAD_REQUEST,
            json!({"message": "Missing fields to update: name or policies."})
        )
    );
    let (status, me) = call(&app, Method::GET, "/v1/users/profile", &token, None).await;
    assert_eq!(
        (status, me["role"]["name"].as_str()),
        (StatusCode::OK, Some("Directory Readers"))
    );
    assert_eq!(
        call(&app, Method::GET, "/v1/users", &token, None).await.0,
        StatusCode::OK
    );
}

on_both_backends!(users_change_their_own_names_and_password);
async fn users_change_their_own_names_and_password(backend: Backend) {
    let app = app(backend).await;
    let (_, setup) = post(&app, "/v1/auth/setup", admin()).await;
    let root = setup["accessToken"].as_str().expect("token").to_string();
    let other = login(&app, "root@example.com", "correct horse battery").await;

    let (status, me) = call(
        &app,
        Method::PATCH,
        "/v1/users/profile",
        &root,
        Some(json!({"first_name": "Augusta", "roleId": "ignored"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(
        (me["first_name"].as_str(), me["last_name"].as_str()),
        (Some("Augusta"), Some("Admin"))
    );
    assert_eq!(
        me["role"]["slug"], "predefined_super_admin",
        "one's own role stays"
    );

    let events = app.event_count().await;
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/v1/users/profile/password",
            &root,
            Some(json!({"currentPassword": "wrong password", "newPassword": "a new password 2"}))
        )
        .await,
        (
            StatusCode::BAD_REQUEST,
            json!({"message": "Invalid current password"})
        )
    );
    assert_eq!(app.event_count().await, events, "a refusal writes nothing");
    assert_eq!(
        call(&app, Method::POST, "/v1/users/profile/password", &root,
            Some(json!({"currentPassword": "correct horse battery", "newPassword": "a new password 2"}))).await,
        (StatusCode::OK, json!({"message": "Password updated successfully"}))
    );
    // The session that asked stays; the other ends at once.
    assert_eq!(
        call(&app, Method::GET, "/v1/users/profile", &root, None)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, Method::GET, "/v1/users/profile", &other, None).await,
        (
            StatusCode::UNAUTHORIZED,
            json!({"message": "Unauthorized: Invalid token"})
        )
    );
    login(&app, "root@example.com", "a new password 2").await;
}
