//! `PUT /user/profile` (multipart or JSON) and
//! `GET /user/profile/stream/{key}` (the pictures).

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::{Bytes, BytesMut};
use utoipa::ToSchema;

use super::profile_fields::ProfileForm;
use super::{Ild, IldCommunity, IldError, IldErrorBody, IldUser};
use crate::blobs::BlobKey;
use crate::http::{Auth, Body, Ctx};
use crate::service::profile;
use crate::{App, Error};

/// Largest text field of a multipart profile update, bytes.
const MAX_TEXT_FIELD: usize = 16 * 1024;
/// Most parts in one multipart profile update.
const MAX_PARTS: usize = 32;

/// `PUT /user/profile` as `multipart/form-data`: any of the
/// fields, each optional; an empty value (or, in JSON, `null`) clears a
/// field (names excepted); any other field is refused (400).
#[derive(Debug, ToSchema)]
#[serde(rename_all = "camelCase")]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // documentation of the form; the handler reads parts
pub struct ProfileUpdateForm {
    /// Public. 1–100 characters.
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    first_name: Option<String>,
    /// Public. 1–100 characters.
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    last_name: Option<String>,
    /// Public. ≤ 50 characters.
    #[schema(
        nullable = false,
        max_length = 50,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    nickname: Option<String>,
    /// Public. ≤ 1000 characters (line breaks allowed).
    #[schema(
        nullable = false,
        max_length = 1000,
        pattern = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]*$"
    )]
    bio: Option<String>,
    /// Public. ≤ 100 characters.
    #[schema(
        nullable = false,
        max_length = 100,
        pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
    )]
    location: Option<String>,
    /// Public. An http(s) URL with a host, ≤ 200 characters.
    #[schema(
        nullable = false,
        max_length = 200,
        pattern = "^(https?://[^/\\s\\x00-\\x1f\\x7f-\\x9f][^\\s\\x00-\\x1f\\x7f-\\x9f]*)?$"
    )]
    website: Option<String>,
    /// Public. A language tag, e.g. `pt-BR`.
    #[schema(
        nullable = false,
        max_length = 35,
        pattern = "^([A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*)?$"
    )]
    language: Option<String>,
    /// Public. An IANA time zone, e.g. `Europe/Berlin`.
    #[schema(
        nullable = false,
        max_length = 64,
        pattern = "^([A-Za-z][A-Za-z0-9/_+-]*)?$"
    )]
    timezone: Option<String>,
    /// Private. ≤ 32 of digits, spaces and `+ - ( ) .`, with a digit.
    #[schema(
        nullable = false,
        max_length = 32,
        pattern = "^([0-9 +().-]*[0-9][0-9 +().-]*)?$"
    )]
    phone: Option<String>,
    /// Private. `YYYY-MM-DD`, from 1900-01-01 to today (the pattern is a
    /// safe subset).
    #[schema(
        nullable = false,
        example = "1915-12-10",
        pattern = "^((19[0-9]{2}|20[01][0-9])-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8]))?$"
    )]
    birth_date: Option<String>,
    /// A PNG, JPEG, WebP or GIF picture (checked by content; at most
    /// `EVENTAUTH_MAX_IMAGE_BYTES`, 10 MiB by default, and
    /// `EVENTAUTH_MAX_IMAGE_PIXELS`); stored re-encoded without metadata.
    #[schema(nullable = false, format = Binary, value_type = Option<String>)]
    profile_image: Option<Vec<u8>>,
    /// `true` (or `1`) removes the picture; `false`, `0` or empty keep it.
    #[schema(nullable = false, pattern = "^\\s*(true|false|1|0)?\\s*$")]
    remove_profile_image: Option<String>,
}

/// `PUT /user/profile` as JSON (no picture): any of the fields, each
/// optional; `null` or `""` clears a field (names excepted); a boolean is
/// read as its text (`true`, `false`); any other field is refused (400).
#[derive(Debug, ToSchema)]
#[serde(rename_all = "camelCase")]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // documentation of the body; the handler reads a map
pub struct ProfileUpdateJsonForm {
    /// Public. 1–100 characters.
    #[schema(value_type = JsonName, required = false)]
    first_name: Option<serde_json::Value>,
    /// Public. 1–100 characters.
    #[schema(value_type = JsonName, required = false)]
    last_name: Option<serde_json::Value>,
    /// Public. ≤ 50 characters.
    #[schema(value_type = JsonNickname, required = false)]
    nickname: Option<serde_json::Value>,
    /// Public. ≤ 1000 characters (line breaks allowed).
    #[schema(value_type = JsonBio, required = false)]
    bio: Option<serde_json::Value>,
    /// Public. ≤ 100 characters.
    #[schema(value_type = JsonLocation, required = false)]
    location: Option<serde_json::Value>,
    /// Public. An http(s) URL with a host, ≤ 200 characters.
    #[schema(value_type = JsonWebsite, required = false)]
    website: Option<serde_json::Value>,
    /// Public. A language tag, e.g. `pt-BR`.
    #[schema(value_type = JsonLanguage, required = false)]
    language: Option<serde_json::Value>,
    /// Public. An IANA time zone, e.g. `Europe/Berlin`.
    #[schema(value_type = JsonTimezone, required = false)]
    timezone: Option<serde_json::Value>,
    /// Private. ≤ 32 of digits, spaces and `+ - ( ) .`, with a digit.
    #[schema(value_type = JsonPhone, required = false)]
    phone: Option<serde_json::Value>,
    /// Private. `YYYY-MM-DD`, from 1900-01-01 to today (the pattern is a
    /// safe subset).
    #[schema(value_type = JsonBirthDate, required = false)]
    birth_date: Option<serde_json::Value>,
    /// `true` (or `"true"`, `"1"`) removes the picture; `false`, null,
    /// `"false"`, `"0"` or `""` keep it.
    #[schema(value_type = Option<RemoveImageFlag>)]
    remove_profile_image: Option<serde_json::Value>,
}

/// A text field of the JSON profile update: a string of at most `max`
/// characters matching `pattern`; with `booleans`, also `true` or `false`
/// (read as their text, which the field accepts); with `nullable`, also
/// null (clears it).
fn json_text(
    max: usize,
    pattern: &str,
    nullable: bool,
    booleans: bool,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{AnyOfBuilder, ObjectBuilder, Type};
    let mut any = AnyOfBuilder::new().item(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(max))
            .pattern(Some(pattern)),
    );
    if booleans {
        any = any.item(ObjectBuilder::new().schema_type(Type::Boolean));
    }
    if nullable {
        any = any.item(ObjectBuilder::new().schema_type(Type::Null));
    }
    any.into()
}

/// Declares a JSON profile field's schema type (see [`json_text`]).
macro_rules! json_field {
    ($name:ident, $max:expr, $pattern:expr, nullable = $nullable:expr, booleans = $booleans:expr) => {
        #[doc = concat!("A JSON profile field (`", stringify!($name), "`).")]
        #[derive(Debug)]
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                json_text($max, $pattern, $nullable, $booleans)
            }
        }

        impl ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
        }
    };
}

json_field!(
    JsonName,
    100,
    "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$",
    nullable = false,
    booleans = true
);
json_field!(
    JsonNickname,
    50,
    "^[^\\x00-\\x1f\\x7f-\\x9f]*$",
    nullable = true,
    booleans = true
);
json_field!(
    JsonBio,
    1000,
    "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]*$",
    nullable = true,
    booleans = true
);
json_field!(
    JsonLocation,
    100,
    "^[^\\x00-\\x1f\\x7f-\\x9f]*$",
    nullable = true,
    booleans = true
);
json_field!(
    JsonWebsite,
    200,
    "^(https?://[^/\\s\\x00-\\x1f\\x7f-\\x9f][^\\s\\x00-\\x1f\\x7f-\\x9f]*)?$",
    nullable = true,
    booleans = false
);
json_field!(
    JsonLanguage,
    35,
    "^([A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*)?$",
    nullable = true,
    booleans = false
);
json_field!(
    JsonTimezone,
    64,
    "^([A-Za-z][A-Za-z0-9/_+-]*)?$",
    nullable = true,
    booleans = true
);
json_field!(
    JsonPhone,
    32,
    "^([0-9 +().-]*[0-9][0-9 +().-]*)?$",
    nullable = true,
    booleans = false
);
json_field!(
    JsonBirthDate,
    10,
    "^((19[0-9]{2}|20[01][0-9])-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8]))?$",
    nullable = true,
    booleans = false
);

/// `removeProfileImage` in JSON: a boolean, null, or its text.
#[derive(Debug)]
pub struct RemoveImageFlag;

impl utoipa::PartialSchema for RemoveImageFlag {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^\\s*(true|false|1|0)?\\s*$")),
            )
            .into()
    }
}

impl ToSchema for RemoveImageFlag {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("RemoveImageFlag")
    }
}

/// The same update as JSON (no picture): string values, `null` or `""`
/// clears.
pub type ProfileUpdateJson = std::collections::BTreeMap<String, serde_json::Value>;

/// Updates the caller's profile; answers with the updated profile.
#[utoipa::path(put, path = "/user/profile", tag = "ild", security(("bearer" = [])),
    request_body(content(
        (ProfileUpdateForm = "multipart/form-data"),
        (ProfileUpdateJsonForm = "application/json"),
    )),
    responses(
        (status = 200, description = "The updated profile", body = IldUser),
        (status = 400, description = "A field or the picture is invalid; nothing was changed", body = IldErrorBody),
        (status = 401, description = "Not authenticated", body = IldErrorBody),
        (status = 413, description = "The picture is too large", body = IldErrorBody),
    ))]
pub async fn update_profile(
    State(app): State<App>,
    Ctx(ctx): Ctx,
    Auth(principal, ..): Auth<Ild>,
    request: Request,
) -> Result<Json<IldUser>, IldError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let form = if content_type.starts_with("multipart/form-data") {
        read_multipart(&app, &content_type, request).await?
    } else {
        let Body(json, ..) =
            <Body<ProfileUpdateJson, Ild> as axum::extract::FromRequest<App>>::from_request(
                request, &app,
            )
            .await?;
        json_form(json)?
    };
    let (user, communities) = profile::update(&app, &principal, form.into_update()?, &ctx).await?;
    Ok(Json(IldUser::from(user).with_communities(
        communities.into_iter().map(IldCommunity::from).collect(),
    )))
}

fn json_form(json: ProfileUpdateJson) -> Result<ProfileForm, Error> {
    let mut form = ProfileForm::default();
    for (name, value) in json {
        let text = match value {
            serde_json::Value::String(s) => s,
            serde_json::Value::Null => String::new(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => {
                return Err(Error::invalid(
                    "INVALID_BODY",
                    "profile fields must be strings",
                ))
            }
        };
        form.fields.push((name, text));
    }
    Ok(form)
}

fn malformed() -> Error {
    Error::invalid("INVALID_BODY", "The multipart body could not be read")
}

/// Reads the parts, counting bytes as they arrive. Past the limit the rest
/// of the body is read and dropped (up to a hard cap), so that the client
/// gets its 413 instead of a reset connection.
async fn read_multipart(
    app: &App,
    content_type: &str,
    request: Request,
) -> Result<ProfileForm, Error> {
    let body = request.into_body().into_data_stream();
    read_parts(body, content_type, app.config.max_image_bytes).await
}

/// [`read_multipart`] on any stream of body chunks (the fuzz target feeds
/// it its own).
pub(crate) async fn read_parts<S, O, E>(
    body: S,
    content_type: &str,
    max_image: usize,
) -> Result<super::profile_fields::ProfileForm, Error>
where
    S: futures::Stream<Item = Result<O, E>> + Send,
    O: Into<bytes::Bytes> + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
{
    let boundary = multer::parse_boundary(content_type).map_err(|_| malformed())?;
    let hard_cap = (max_image * 4).max(64 * 1024 * 1024);
    let mut multipart = multer::Multipart::new(body, boundary);
    let mut form = ProfileForm::default();
    let mut too_large = false;
    let mut seen = 0usize;
    let mut parts = 0usize;
    while let Some(mut field) = multipart.next_field().await.map_err(|_| malformed())? {
        parts += 1;
        if parts > MAX_PARTS {
            return Err(Error::invalid("TOO_MANY_FIELDS", "too many form fields"));
        }
        let name = field.name().unwrap_or_default().to_string();
        let limit = if name == "profileImage" {
            max_image
        } else {
            MAX_TEXT_FIELD
        };
        let mut buffer = BytesMut::new();
        while let Some(chunk) = field.chunk().await.map_err(|_| malformed())? {
            seen += chunk.len();
            if seen > hard_cap {
                return Err(Error::PayloadTooLarge);
            }
            if too_large || buffer.len() + chunk.len() > limit {
                too_large = true;
                buffer.clear();
                continue;
            }
            buffer.extend_from_slice(&chunk);
        }
        if too_large {
            continue;
        }
        if name == "profileImage" {
            if form.image.is_some() {
                return Err(Error::invalid_field(
                    "profileImage",
                    "DUPLICATE_FIELD",
                    "send one profileImage",
                ));
            }
            // Browsers send an empty part when no file was chosen.
            if !buffer.is_empty() {
                form.image = Some(buffer.freeze());
            }
        } else {
            let text = String::from_utf8(buffer.to_vec())
                .map_err(|_| Error::invalid("INVALID_BODY", "profile fields must be UTF-8 text"))?;
            form.fields.push((name, text));
        }
    }
    if too_large {
        return Err(Error::PayloadTooLarge);
    }
    Ok(form)
}

/// A profile picture (signed-in users). Keys name contents, so a picture
/// never changes: it is cached for a year, revalidated by `ETag`.
#[utoipa::path(get, path = "/user/profile/stream/{key}", tag = "ild", security(("bearer" = [])),
    params(("key" = String, Path, description = "The picture's key, as `profileImage` gives it")),
    responses(
        (status = 200, description = "The picture", content_type = "image/png", body = Vec<u8>),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 401, description = "Not authenticated", body = IldErrorBody),
        (status = 404, description = "No such picture", body = IldErrorBody),
    ))]
pub async fn profile_image(
    State(app): State<App>,
    _auth: Auth<Ild>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Result<Response, IldError> {
    let key = BlobKey::parse(&key).ok_or(Error::NotFound)?;
    let etag = format!("\"{}\"", key.hash());
    let cache = [
        (header::ETAG, etag.clone()),
        (
            header::CACHE_CONTROL,
            "private, max-age=31536000, immutable".to_string(),
        ),
    ];
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, cache).into_response());
    }
    let bytes: Bytes = profile::image(&app, &key).await?.ok_or(Error::NotFound)?;
    Ok((
        cache,
        [
            (header::CONTENT_TYPE, key.content_type().to_string()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox".to_string(),
            ),
        ],
        bytes,
    )
        .into_response())
}
