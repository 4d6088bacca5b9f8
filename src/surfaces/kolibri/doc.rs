//! The Kolibri surface's OpenAPI description: its security schemes and
//! the shapes of its bodies, as documentation only (the handlers build and
//! read JSON values; these types say what those values are).

use std::borrow::Cow;

use serde_json::Value;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{KnownFormat, RefOr};
use utoipa::{IntoParams, PartialSchema, ToSchema};

/// A Kolibri username: up to 30 characters without whitespace, control
/// characters or any of `` `~!@#$%^&*()-+={}[]|\/:;"'<>,.? ``, or an email
/// address of up to 254 characters (Kolibri 0.19.5's rule).
#[derive(Debug)]
pub struct KolibriUsernameValue;

impl PartialSchema for KolibriUsernameValue {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(30))
                    .pattern(Some(
                        "^[^\\s\\x00-\\x1f\\x7f-\\x9f`~!@#$%^&*()\\-+={}\\[\\]|\\\\/:;\"'<>,.?]+$",
                    )),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
                    .max_length(Some(254)),
            )
            .into()
    }
}

impl ToSchema for KolibriUsernameValue {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("KolibriUsernameValue")
    }
}

/// A boolean as Django REST framework's `BooleanField` reads one: `true`,
/// `false`, `1`, `0`, or (any case) `true`, `t`, `yes`, `y`, `on`, `1`,
/// `false`, `f`, `no`, `n`, `off`, `0`.
#[derive(Debug)]
pub struct KolibriBoolean;

impl PartialSchema for KolibriBoolean {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .enum_values(Some([0, 1])),
            )
            .item(ObjectBuilder::new().schema_type(Type::String).pattern(Some(
                "^([Tt]([Rr][Uu][Ee])?|[Yy]([Ee][Ss])?|[Oo][Nn]|1|[Ff]([Aa][Ll][Ss][Ee])?|[Nn][Oo]?|[Oo][Ff][Ff]|0)$",
            )))
            .into()
    }
}

impl ToSchema for KolibriBoolean {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("KolibriBoolean")
    }
}

/// Only `null`.
fn null_only() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Null)
}

/// Registers the surface's security schemes: the `kolibri` session cookie,
/// and the `X-CSRFToken` header unsafe methods of a session also need.
pub fn security_schemes(api: &mut utoipa::openapi::OpenApi) {
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "kolibri_session",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            super::SESSION_COOKIE,
            "Kolibri's session cookie (from POST /api/auth/session)",
        ))),
    );
    components.add_security_scheme(
        "kolibri_csrf",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "X-CSRFToken",
            "The `kolibri_csrftoken` cookie's value, on unsafe methods (POST, PUT, PATCH, DELETE)",
        ))),
    );
}

/// A role a facility user holds, as the user object lists it.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct KolibriUserRole {
    id: String,
    /// `admin`, `coach` or `classroom assignable coach`.
    kind: String,
    /// The collection's id.
    collection: String,
}

/// A facility user as Kolibri shows one.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct KolibriFacilityUser {
    /// 32 hex digits.
    id: String,
    username: String,
    full_name: String,
    /// The facility's id.
    facility: String,
    id_number: String,
    gender: String,
    birth_year: String,
    /// Always null.
    extra_demographics: Value,
    /// When they joined (absent in sign-up's answer).
    #[schema(nullable = false)]
    date_joined: Option<String>,
    is_superuser: bool,
    roles: Vec<KolibriUserRole>,
    /// Always null.
    picture_password: Value,
    /// When they were deleted (deleted users only).
    #[schema(nullable = false)]
    date_deleted: Option<String>,
}

/// A page of facility users (with `page_size`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct KolibriUserPage {
    page: i64,
    count: i64,
    total_pages: i64,
    results: Vec<KolibriFacilityUser>,
}

/// Facility users: an array, or a page object with `page_size`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub enum KolibriUserList {
    /// Without `page_size`.
    All(Vec<KolibriFacilityUser>),
    /// With `page_size`.
    Page(KolibriUserPage),
}

/// The query of the facility-user lists (`/api/auth/facilityuser`,
/// `/api/auth/deletedfacilityuser`). Kolibri reads its pagination
/// leniently (Django REST framework's `PageNumberPagination`): a
/// `page_size` that is not a positive integer gives the unpaginated array;
/// one above 1000 is clamped to 1000 (`max_page_size`) silently; `page`
/// is only read with a `page_size`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct UserListParams {
    /// Only members of this collection (a facility, classroom or learner
    /// group); empty: no filter.
    #[param(pattern = "^([0-9a-f]{32})?$")]
    member_of: Option<String>,
    /// `learner`, `coach`, `classroom assignable coach`, `admin`,
    /// `superuser`; empty: no filter.
    #[param(pattern = "^(learner|coach|classroom assignable coach|admin|superuser)?$")]
    user_type: Option<String>,
    /// Terms in the username or full name (no control characters).
    #[param(pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    search: Option<String>,
    /// `username`, `full_name`, `date_joined`, `id`, `id_number`,
    /// `gender`, `birth_year`, `date_deleted`, `-` in front for descending
    /// (anything else: by username).
    ordering: Option<String>,
    /// Paginate with this many per page: a positive integer, clamped to
    /// 1000; anything else (absent, 0, negative, not a number) answers
    /// the unpaginated array.
    #[param(example = "50")]
    page_size: Option<String>,
    /// The page (from 1), or `last`; read only with `page_size`. A page
    /// past the last one is 404.
    #[param(example = "1")]
    page: Option<String>,
}

/// `by_ids` of the bulk delete.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ByIdsParams {
    /// Comma-separated user ids (what is not an id names nobody).
    #[param(min_length = 1)]
    by_ids: String,
}

/// The filters of the deleted-user restore and purge: at least one
/// (without any: 400 with an empty body, as Kolibri answers).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct DeletedFilterParams {
    /// Comma-separated user ids.
    by_ids: Option<String>,
    /// A collection's id.
    #[param(pattern = "^([0-9a-f]{32})?$")]
    member_of: Option<String>,
    /// A user type.
    #[param(pattern = "^(learner|coach|classroom assignable coach|admin|superuser)?$")]
    user_type: Option<String>,
    /// Terms in the username or full name.
    #[param(pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    search: Option<String>,
}

/// The filters of the role and membership lists and bulk deletes.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PlacementFilterParams {
    /// A user's id.
    #[param(pattern = "^([0-9a-f]{32})?$")]
    user: Option<String>,
    /// A collection's id.
    #[param(pattern = "^([0-9a-f]{32})?$")]
    collection: Option<String>,
    /// A role kind (roles only).
    #[param(pattern = "^(admin|coach|classroom assignable coach|assignable_coach)?$")]
    kind: Option<String>,
    /// Comma-separated user ids.
    user_ids: Option<String>,
    /// Comma-separated ids of the roles or memberships.
    by_ids: Option<String>,
}

/// A role kind.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub enum KolibriRoleKind {
    #[schema(rename = "admin")]
    Admin,
    #[schema(rename = "coach")]
    Coach,
    #[schema(rename = "classroom assignable coach")]
    AssignableCoach,
    #[schema(rename = "assignable_coach")]
    AssignableCoachAlias,
}

/// `POST /api/auth/facilityuser` and `/api/auth/signup` body.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct KolibriCreateUser {
    /// Up to 30 characters without whitespace or any of
    /// `` `~!@#$%^&*()-+={}[]|\/:;"'<>,.? ``, or an email address.
    #[schema(value_type = KolibriUsernameValue)]
    username: String,
    /// The password; `NOT_SPECIFIED` for none where the facility lets
    /// learners in without one.
    #[schema(format = Password, min_length = 1)]
    password: String,
    /// The facility (default: the default facility).
    #[schema(pattern = "^([0-9a-f]{32})?$")]
    facility: Option<String>,
    /// Up to 120 characters (no control characters); may be empty.
    #[schema(max_length = 120, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    full_name: Option<String>,
    /// `MALE`, `FEMALE`, `NOT_SPECIFIED`, `DEFERRED` or empty.
    #[schema(pattern = "^(MALE|FEMALE|NOT_SPECIFIED|DEFERRED)?$")]
    gender: Option<String>,
    /// A year from 1900 to now, `NOT_SPECIFIED`, `DEFERRED` or empty.
    #[schema(pattern = "^(19[0-9]{2}|20[01][0-9]|NOT_SPECIFIED|DEFERRED)?$")]
    birth_year: Option<String>,
    /// Up to 64 characters (no control characters).
    #[schema(max_length = 64, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    id_number: Option<String>,
}

/// Kolibri's session object: signed in, or the anonymous one
/// (`kind: ["anonymous"]`, `user_id: null`, no `can_manage_content`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct KolibriSession {
    /// `current`.
    id: String,
    username: String,
    full_name: String,
    /// 32 hex digits; null when anonymous.
    user_id: Option<String>,
    /// `superuser`, role kinds, `learner`, or `anonymous`.
    kind: Vec<String>,
    /// Signed in only.
    #[schema(nullable = false)]
    can_manage_content: Option<bool>,
    /// The user's (or, anonymous, the default) facility.
    #[schema(required)]
    facility_id: Option<String>,
    full_facility_import: bool,
    server_time: String,
    app_context: bool,
}

/// The answer to a login: the session object, or with
/// `?prevalidate=true` only `{full_name}`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct KolibriLoginAnswer {
    full_name: String,
    #[schema(nullable = false)]
    id: Option<String>,
    #[schema(nullable = false)]
    username: Option<String>,
    user_id: Option<String>,
    #[schema(nullable = false)]
    kind: Option<Vec<String>>,
    #[schema(nullable = false)]
    can_manage_content: Option<bool>,
    facility_id: Option<String>,
    #[schema(nullable = false)]
    full_facility_import: Option<bool>,
    #[schema(nullable = false)]
    server_time: Option<String>,
    #[schema(nullable = false)]
    app_context: Option<bool>,
}

/// A coach as a classroom lists them.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct KolibriCoach {
    id: String,
    facility: Option<String>,
    is_superuser: bool,
    full_name: String,
    username: String,
    roles: Vec<KolibriUserRole>,
}

/// A classroom.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct KolibriClassroom {
    id: String,
    name: String,
    /// The facility.
    #[schema(required)]
    parent: Option<String>,
    learner_count: i64,
    coaches: Vec<KolibriCoach>,
}

/// A learner group.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct KolibriLearnerGroup {
    id: String,
    name: String,
    /// The classroom.
    #[schema(required)]
    parent: Option<String>,
    user_ids: Vec<String>,
}

/// A classroom or learner group to create.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct KolibriCollectionBody {
    /// Its name: not blank, up to 100 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    name: String,
    /// The parent: a facility for a classroom, a classroom for a learner
    /// group.
    #[schema(pattern = "^[0-9a-f]{32}$")]
    parent: String,
}

/// A classroom or learner group renamed with `PUT` (the parent is not
/// changed: a classroom stays in its facility).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct KolibriRenameBody {
    /// Its name: not blank, up to 100 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    name: String,
}

/// A classroom or learner group renamed with `PATCH`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct KolibriPartialRenameBody {
    /// Its name: not blank, up to 100 characters, no control characters;
    /// absent: unchanged.
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    name: Option<String>,
}

/// The `?parent=` of the classroom and learner-group lists.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ParentParams {
    /// The parent collection's id; empty: no filter.
    #[param(pattern = "^([0-9a-f]{32})?$")]
    parent: Option<String>,
}

/// A role.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct KolibriRole {
    id: String,
    kind: String,
    collection: String,
    user: String,
}

/// The answer to `POST /api/auth/role`: the role (one sent), or the roles
/// (a list sent).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub enum KolibriRolesGiven {
    One(KolibriRole),
    Many(Vec<KolibriRole>),
}

/// A role to give.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct KolibriRoleBody {
    #[schema(inline)]
    kind: KolibriRoleKind,
    #[schema(pattern = "^[0-9a-f]{32}$")]
    collection: String,
    #[schema(pattern = "^[0-9a-f]{32}$")]
    user: String,
}

/// `POST /api/auth/role` body: one role or a list.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub enum KolibriRoleRequest {
    One(KolibriRoleBody),
    Many(Vec<KolibriRoleBody>),
}

/// A membership.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct KolibriMembership {
    id: String,
    collection: String,
    user: String,
}

/// The answer to `POST /api/auth/membership`: one or a list.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub enum KolibriMembershipsMade {
    One(KolibriMembership),
    Many(Vec<KolibriMembership>),
}

/// A membership to make.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct KolibriMembershipBody {
    #[schema(pattern = "^[0-9a-f]{32}$")]
    collection: String,
    #[schema(pattern = "^[0-9a-f]{32}$")]
    user: String,
}

/// `POST /api/auth/membership` body: one or a list.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub enum KolibriMembershipRequest {
    One(KolibriMembershipBody),
    Many(Vec<KolibriMembershipBody>),
}

/// A facility's settings (as the facility object nests them, and as the
/// dataset list and actions answer them).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct KolibriFacilityDataset {
    id: String,
    learner_can_edit_username: bool,
    learner_can_edit_name: bool,
    learner_can_edit_password: bool,
    learner_can_sign_up: bool,
    learner_can_delete_account: bool,
    learner_can_login_with_no_password: bool,
    show_download_button_in_learn: bool,
    extra_fields: Value,
    /// Always null.
    picture_password_settings: Value,
    description: String,
    location: String,
    registered: bool,
    /// `formal`, `nonformal`, `informal`, or what the settings match.
    preset: String,
    /// The dataset list only.
    #[schema(nullable = false)]
    enable_mark_attendance: Option<bool>,
    /// The dataset list only.
    #[schema(nullable = false)]
    allow_guest_access: Option<bool>,
    /// The dataset list only.
    #[schema(nullable = false)]
    is_full_facility_import: Option<bool>,
}

/// `{"dataset": …}`, what saving the login settings answers.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct KolibriDatasetAnswer {
    dataset: KolibriFacilityDataset,
}

/// A facility.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct KolibriFacility {
    id: String,
    name: String,
    num_classrooms: i64,
    num_users: i64,
    num_learners: i64,
    /// Always null.
    last_successful_sync: Value,
    /// Always null.
    last_failed_sync: Value,
    picture_passwords_exhausted: bool,
    dataset: KolibriFacilityDataset,
}

/// `PATCH /api/auth/facilitydataset/{id}` body: any of the settings
/// (others Kolibri has are ignored).
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct KolibriDatasetChange {
    #[schema(value_type = KolibriBoolean, required = false)]
    learner_can_edit_username: Option<Value>,
    #[schema(value_type = KolibriBoolean, required = false)]
    learner_can_edit_name: Option<Value>,
    #[schema(value_type = KolibriBoolean, required = false)]
    learner_can_edit_password: Option<Value>,
    #[schema(value_type = KolibriBoolean, required = false)]
    learner_can_sign_up: Option<Value>,
    #[schema(value_type = KolibriBoolean, required = false)]
    learner_can_delete_account: Option<Value>,
    #[schema(value_type = KolibriBoolean, required = false)]
    learner_can_login_with_no_password: Option<Value>,
    #[schema(value_type = KolibriBoolean, required = false)]
    show_download_button_in_learn: Option<Value>,
    /// A preset's name (the settings are what is kept).
    #[schema(inline, nullable = false)]
    preset: Option<KolibriPreset>,
}

/// A facility preset.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub enum KolibriPreset {
    #[schema(rename = "formal")]
    Formal,
    #[schema(rename = "nonformal")]
    Nonformal,
    #[schema(rename = "informal")]
    Informal,
}

/// `PATCH …/save-facility-login-settings` body.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct KolibriLoginSettings {
    /// Learners sign in without a password (then they cannot change one);
    /// any JSON value, read by Python's truthiness as Kolibri reads it.
    learner_can_login_with_no_password: Option<Value>,
    /// With passwords: whether learners may change theirs (truthiness, as
    /// above).
    learner_can_edit_password: Option<Value>,
    /// Picture passwords: not kept by eventauth (anything but null: 400).
    #[schema(schema_with = null_only)]
    picture_password_settings: Option<Value>,
}

crate::surfaces::doc::object_or_ignored!(KolibriLoginSettingsBody, KolibriLoginSettings);

/// `POST /api/auth/setnonspecifiedpassword` body: every field non-empty.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct KolibriFirstPassword {
    #[schema(min_length = 1)]
    username: String,
    #[schema(format = Password, min_length = 1)]
    password: String,
    #[schema(pattern = "^[0-9a-f]{32}$")]
    facility: String,
}

/// A username a sign-in page may suggest.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct KolibriUsername {
    username: String,
}

/// The facility-dataset list's `?facility_id=`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct DatasetParams {
    /// Only this facility's (a UUID, hex or hyphenated); empty: all.
    #[param(pattern = "^([0-9a-f]{32})?$")]
    facility_id: Option<String>,
}

/// The facility-username list's query.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct UsernameParams {
    /// Only this facility's; empty: all.
    #[param(pattern = "^([0-9a-f]{32})?$")]
    facility: Option<String>,
    /// Username prefixes (every term).
    #[param(pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$")]
    search: Option<String>,
}
