//! The Backstack surface's OpenAPI description: its security scheme and
//! the shapes of its bodies, as documentation only (the handlers build and
//! read JSON values).

use std::collections::BTreeMap;

use serde_json::Value;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::ToSchema;

/// Registers the surface's security scheme: the `BackstackJWT` cookie.
pub fn security_schemes(api: &mut utoipa::openapi::OpenApi) {
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "backstack_session",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            super::SESSION_COOKIE,
            "Backstack's session cookie (an opaque secret, from POST /v1/auth/login)",
        ))),
    );
}

/// The account a session acts in.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct BackstackAccount {
    #[schema(format = Uuid)]
    id: String,
    title: String,
}

/// The accounts to choose from while a session waits for its account.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct BackstackAccountChoice {
    /// Titles by account id.
    accounts: BTreeMap<String, String>,
    /// The account chosen last, if still one of them.
    #[schema(required, format = Uuid)]
    last_login: Option<String>,
}

/// The user in a session object (Backstack's fields).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct BackstackUser {
    #[schema(format = Uuid)]
    id: String,
    username: String,
    name: String,
    email: String,
    /// Always null.
    avatar: Value,
    /// The roles held in the current account.
    roles: Vec<String>,
}

/// The session object: `auth` once the session acts in an account;
/// `user` and `account` null when signed out.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct BackstackSession {
    auth: bool,
    #[schema(required)]
    account: Option<BackstackAccount>,
    #[schema(required)]
    user: Option<BackstackUser>,
    /// `{}`.
    access: Value,
    /// While an account is to be chosen.
    #[schema(nullable = false)]
    select_account: Option<BackstackAccountChoice>,
}

/// `POST /v1/auth/login-account` body.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct BackstackLoginAccount {
    /// One of the user's accounts.
    #[schema(format = Uuid)]
    account_id: String,
}
