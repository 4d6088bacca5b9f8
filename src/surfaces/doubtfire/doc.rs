//! The Doubtfire surface's OpenAPI description: its security schemes and
//! the shapes of its bodies, as documentation only (the handlers build and
//! read JSON values).

use std::borrow::Cow;

use serde_json::Value;
use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::RefOr;
use utoipa::ToSchema;

/// Registers the surface's security schemes: the `Auth-Token` and
/// `Username` headers (also accepted as query parameters).
pub fn security_schemes(api: &mut utoipa::openapi::OpenApi) {
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "doubtfire_token",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "Auth-Token",
            "The token from POST /api/auth (also `auth_token` in the query); without a live \
             one Doubtfire answers 419",
        ))),
    );
    components.add_security_scheme(
        "doubtfire_username",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "Username",
            "The token's user (their email; also `username` in the query)",
        ))),
    );
}

/// A user as Doubtfire answers one (its `UserEntity`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct DoubtfireUser {
    /// The user's number.
    id: u64,
    /// Always null.
    student_id: Value,
    email: String,
    first_name: String,
    last_name: String,
    /// The email.
    username: String,
    nickname: String,
    receive_task_notifications: bool,
    receive_portfolio_notifications: bool,
    receive_feedback_notifications: bool,
    /// Always null.
    opt_in_to_research: Value,
    has_run_first_time_setup: bool,
    /// `Admin`, `Convenor`, `Tutor` or `Student`.
    system_role: String,
}

/// A new token: `{user, auth_token}`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct DoubtfireSignedIn {
    user: DoubtfireUser,
    auth_token: String,
}

/// `{auth_token}`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct DoubtfireToken {
    auth_token: String,
}

/// `POST /api/auth` as JSON (with single sign-on: `username` and
/// `auth_token`, a one-time token).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct DoubtfireSignIn {
    /// The user's email.
    username: String,
    #[schema(format = Password)]
    password: String,
    /// A longer token (Students two weeks, Tutors one).
    #[schema(value_type = DoubtfireFlag, required = false)]
    remember: Option<Value>,
}

/// `POST /api/auth` as a form (or query parameters).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct DoubtfireSignInForm {
    /// The user's email.
    username: String,
    #[schema(format = Password)]
    password: String,
    /// A longer token: `true`, `1`, `false`, `0` or empty (any case).
    #[schema(
        nullable = false,
        pattern = "^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|1|0)?$"
    )]
    remember: Option<String>,
}

/// `PUT /api/auth` as JSON.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct DoubtfireExtend {
    /// A longer token.
    #[schema(value_type = DoubtfireFlag, required = false)]
    remember: Option<Value>,
}

crate::surfaces::doc::object_or_ignored!(DoubtfireExtendBody, DoubtfireExtend, false);

/// A flag as Grape reads one from JSON: a boolean, null (false), `0`,
/// `1`, or the text `true`, `1`, `false`, `0` or empty (any case).
#[derive(Debug)]
pub struct DoubtfireFlag;

impl utoipa::PartialSchema for DoubtfireFlag {
    fn schema() -> RefOr<Schema> {
        AnyOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(SchemaType::from_iter([Type::Boolean, Type::Null])),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .enum_values(Some([0, 1])),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|1|0)?$")),
            )
            .into()
    }
}

impl ToSchema for DoubtfireFlag {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("DoubtfireFlag")
    }
}

/// `{method, redirect_to}`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct DoubtfireMethod {
    /// `database` or `saml`.
    method: String,
    /// The identity provider's login URL, or null.
    #[schema(required)]
    redirect_to: Option<String>,
}

/// `{auth_signout_url}`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct DoubtfireSignoutUrl {
    #[schema(required)]
    auth_signout_url: Option<String>,
}

/// What the identity provider posts to `/api/auth/jwt`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct DoubtfireSamlPost {
    /// The base64 SAML response.
    #[serde(rename = "SAMLResponse")]
    saml_response: String,
}
