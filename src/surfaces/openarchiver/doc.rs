//! The Open Archiver surface's OpenAPI description: its security scheme
//! and the shapes of its bodies, as documentation only (the handlers read
//! and build JSON values).

use std::borrow::Cow;

use serde_json::Value;
use utoipa::openapi::schema::{
    AnyOfBuilder, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::RefOr;
use utoipa::ToSchema;

/// Registers the surface's security scheme: its own HS256 bearer token
/// (not interchangeable with the ILD surface's).
pub fn security_schemes(api: &mut utoipa::openapi::OpenApi) {
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "openarchiver_bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(
                    "Open Archiver's access token (HS256 JWT) from POST /v1/auth/login or \
                     /v1/auth/setup",
                ))
                .build(),
        ),
    );
}

/// `{message}`: Open Archiver's errors and confirmations.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct OaMessage {
    message: String,
}

/// A role.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct OaRole {
    #[schema(format = Uuid)]
    id: String,
    name: String,
    slug: String,
    /// Its statements (CASL's `{action, subject, conditions?, inverted?}`).
    policies: Value,
    #[serde(rename = "createdAt")]
    created_at: String,
    #[serde(rename = "updatedAt")]
    updated_at: String,
}

/// A user (never a password hash), with their first role.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct OaUser {
    #[schema(format = Uuid)]
    id: String,
    email: String,
    first_name: String,
    last_name: String,
    /// `local`.
    provider: String,
    /// Always null.
    #[serde(rename = "providerId")]
    provider_id: Value,
    #[serde(rename = "createdAt")]
    created_at: String,
    #[serde(rename = "updatedAt")]
    updated_at: String,
    /// Their first role, or null.
    #[schema(required)]
    role: Option<OaRole>,
}

/// A login or setup result.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct OaSignedIn {
    #[serde(rename = "accessToken")]
    access_token: String,
    user: OaUser,
}

/// `{needsSetup}`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct OaStatus {
    #[serde(rename = "needsSetup")]
    needs_setup: bool,
}

/// `POST /v1/auth/setup` and `POST /v1/users` body: every field a
/// non-empty string (eventauth's rules for an email, a new password and
/// names also apply).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct OaNewUser {
    #[schema(format = Email, max_length = 254)]
    email: String,
    #[schema(format = Password, min_length = 8, max_length = 1024)]
    password: String,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    first_name: String,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    last_name: String,
    /// `POST /v1/users`: the role they hold (a role's id; empty or null:
    /// none).
    #[schema(
        pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
    )]
    #[serde(rename = "roleId")]
    role_id: Option<String>,
}

/// `PUT /v1/users/{id}` body: the names to change (anything but a
/// non-empty string leaves a name as it is), `email` only as it is
/// (another address: 400), `roleId` the role they hold (empty or null:
/// unchanged).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct OaUserChanges {
    #[schema(value_type = OaNameChange, required = false)]
    first_name: Option<Value>,
    #[schema(value_type = OaNameChange, required = false)]
    last_name: Option<Value>,
    /// The user's current address (another: 400; anything but a
    /// non-empty string is not read).
    email: Option<Value>,
    #[schema(
        pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
    )]
    #[serde(rename = "roleId")]
    role_id: Option<String>,
}

/// `PATCH /v1/users/profile` body: the caller's names (as in
/// `PUT /v1/users/{id}`); `roleId` is not read here.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct OaProfileChanges {
    #[schema(value_type = OaNameChange, required = false)]
    first_name: Option<Value>,
    #[schema(value_type = OaNameChange, required = false)]
    last_name: Option<Value>,
    /// The caller's current address (another: 400; anything but a
    /// non-empty string is not read).
    email: Option<Value>,
}

crate::surfaces::doc::object_or_ignored!(OaUserChangesBody, OaUserChanges);
crate::surfaces::doc::object_or_ignored!(OaProfileChangesBody, OaProfileChanges);

/// A name to change: a non-empty string is the new name (1–100 printable
/// characters, not blank); anything else leaves the name as it is.
#[derive(Debug)]
pub struct OaNameChange;

impl utoipa::PartialSchema for OaNameChange {
    fn schema() -> RefOr<Schema> {
        AnyOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .max_length(Some(100))
                    .pattern(Some(
                        "^([^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*)?$",
                    )),
            )
            .item(
                ObjectBuilder::new().schema_type(SchemaType::from_iter([
                    Type::Null,
                    Type::Boolean,
                    Type::Number,
                    Type::Integer,
                    Type::Array,
                    Type::Object,
                ])),
            )
            .into()
    }
}

impl ToSchema for OaNameChange {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("OaNameChange")
    }
}

/// `POST /v1/users/profile/password` body.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct OaPasswordChange {
    #[schema(format = Password, min_length = 1, max_length = 1024)]
    #[serde(rename = "currentPassword")]
    current_password: String,
    #[schema(format = Password, min_length = 8, max_length = 1024)]
    #[serde(rename = "newPassword")]
    new_password: String,
}

/// A policy statement (CASL's).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct OaStatement {
    /// An action or a non-empty list of them.
    #[schema(value_type = OaActions)]
    action: Value,
    /// A subject or a non-empty list of them.
    #[schema(value_type = OaSubjects)]
    subject: Value,
    /// Attribute tests (`${user.id}` stands for the caller's id).
    #[schema(value_type = Option<Object>)]
    conditions: Option<Value>,
    /// A denial.
    inverted: Option<bool>,
}

/// `POST /v1/iam/roles` and `PUT /v1/iam/roles/{id}` body (`PUT`: either
/// may be left out).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct OaRoleBody {
    /// Not blank; no other role's.
    #[schema(min_length = 1, pattern = "\\S")]
    name: String,
    policies: Vec<OaStatement>,
}

/// `PUT /v1/iam/roles/{id}` body: a new name, new policies, or both
/// (neither: 400).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct OaRoleChanges {
    /// A non-blank string renames the role (to a name no other role has);
    /// anything else is not read.
    name: Option<Value>,
    /// New statements (null: unchanged).
    policies: Option<Vec<OaStatement>>,
}

/// One of a fixed list of names, or a non-empty list of them.
fn one_or_many(names: &[&str]) -> RefOr<Schema> {
    let name = || {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(names.iter().copied()))
    };
    OneOfBuilder::new()
        .item(name())
        .item(ArrayBuilder::new().items(name()).min_items(Some(1)))
        .into()
}

/// The actions a statement may name.
#[derive(Debug)]
pub struct OaActions;

impl utoipa::PartialSchema for OaActions {
    fn schema() -> RefOr<Schema> {
        one_or_many(crate::access::policies::ACTIONS)
    }
}

impl ToSchema for OaActions {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("OaActions")
    }
}

/// The subjects a statement may name.
#[derive(Debug)]
pub struct OaSubjects;

impl utoipa::PartialSchema for OaSubjects {
    fn schema() -> RefOr<Schema> {
        one_or_many(crate::access::policies::SUBJECTS)
    }
}

impl ToSchema for OaSubjects {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("OaSubjects")
    }
}
