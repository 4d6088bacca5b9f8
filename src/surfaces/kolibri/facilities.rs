//! `/api/auth/facility` and `/api/auth/facilitydataset` (reads), as
//! Kolibri 0.19.5's `FacilityViewSet` and `FacilityDatasetViewSet` answer
//! them: what the sign-in and sign-up pages ask first. Anyone may read
//! them, signed in or not (docs/kolibri-reference.md §1–2).

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::doc::{
    DatasetParams, KolibriDatasetChange, KolibriFacility, KolibriFacilityDataset, KolibriUsername,
    UsernameParams,
};
use super::{hex_id, Kolibri, KolibriError, Visitor};
use crate::http::Body;
use crate::service::facilities::{self, FacilityView};
use crate::service::facility_access::{self, SettingsChange};
use crate::{App, Error};

/// More learners than Kolibri has picture passwords for.
const PICTURE_PASSWORDS: i64 = 1300;

/// The settings every facility has that eventauth keeps no value for:
/// Kolibri's defaults.
fn dataset_defaults() -> Value {
    json!({
        "extra_fields": { "facility": {}, "on_my_own_setup": false, "pin_code": "" },
        "picture_password_settings": null,
        "description": "",
        "location": "",
        "registered": false,
    })
}

/// The settings as the facility object nests them.
fn nested_dataset(view: &FacilityView) -> Value {
    let s = &view.settings;
    let mut dataset = json!({
        "id": hex_id(view.dataset_id()),
        "learner_can_edit_username": s.learner_can_edit_username,
        "learner_can_edit_name": s.learner_can_edit_name,
        "learner_can_edit_password": s.learner_can_edit_password,
        "learner_can_sign_up": s.learner_can_sign_up,
        "learner_can_delete_account": s.learner_can_delete_account,
        "learner_can_login_with_no_password": s.learner_can_login_with_no_password,
        "show_download_button_in_learn": s.show_download_button_in_learn,
    });
    extend(&mut dataset, dataset_defaults());
    dataset["preset"] = json!(view.preset());
    dataset
}

fn extend(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

/// A facility as Kolibri shows one.
fn facility_json(view: &FacilityView) -> Value {
    json!({
        "id": hex_id(view.id),
        "name": view.name,
        "num_classrooms": view.classrooms,
        "num_users": view.users,
        "last_successful_sync": null,
        "last_failed_sync": null,
        "num_learners": view.learners,
        "picture_passwords_exhausted": view.learners >= PICTURE_PASSWORDS,
        "dataset": nested_dataset(view),
    })
}

/// A facility's settings as the dataset list shows them.
pub(super) fn dataset_json(view: &FacilityView) -> Value {
    let mut dataset = nested_dataset(view);
    dataset["enable_mark_attendance"] = json!(false);
    // A device's own facilities are full imports; guests may look around
    // (Kolibri's device defaults).
    dataset["allow_guest_access"] = json!(true);
    dataset["is_full_facility_import"] = json!(true);
    dataset
}

/// Every facility on the device (anyone may read them).
#[utoipa::path(get, path = "/api/auth/facility", tag = "kolibri", operation_id = "kolibri_facilities",
    responses((status = 200, description = "Every facility: {id, name, num_classrooms, num_users, num_learners, dataset, …}", body = Vec<KolibriFacility>)))]
pub async fn list(State(app): State<App>) -> Result<Json<Value>, KolibriError> {
    let views = facilities::all(&app).await?;
    Ok(Json(json!(views
        .iter()
        .map(facility_json)
        .collect::<Vec<_>>())))
}

/// One facility (anyone may read it); 404 for anything else.
#[utoipa::path(get, path = "/api/auth/facility/{id}", tag = "kolibri", operation_id = "kolibri_facility",
    params(("id" = String, Path, description = "Facility id (32 hex digits)", pattern = "^[0-9a-f]{32}$")),
    responses(
        (status = 200, description = "The facility", body = KolibriFacility),
        (status = 404, description = "No such facility"),
    ))]
pub async fn read(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Json<Value>, KolibriError> {
    let id = crate::input::parse_id(&id, "id").map_err(|_| Error::NotFound)?;
    let view = facilities::view(&app, id).await?.ok_or(Error::NotFound)?;
    Ok(Json(facility_json(&view)))
}

/// `?facility_id=`.
#[derive(Debug, Deserialize)]
pub struct DatasetQuery {
    facility_id: Option<String>,
}

/// The facilities' settings (anyone may read them), of one facility with
/// `facility_id` (a list, as Kolibri answers: `[]` for an unknown one).
#[utoipa::path(get, path = "/api/auth/facilitydataset", tag = "kolibri", operation_id = "kolibri_facility_datasets",
    params(DatasetParams),
    responses(
        (status = 200, description = "Settings: [{id, learner_can_sign_up, learner_can_login_with_no_password, …}]", body = Vec<KolibriFacilityDataset>),
        (status = 400, description = "facility_id is not a UUID"),
    ))]
pub async fn datasets(
    State(app): State<App>,
    Query(query): Query<DatasetQuery>,
) -> Result<Json<Value>, KolibriError> {
    let views = match query
        .facility_id
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty())
    {
        None => facilities::all(&app).await?,
        Some(raw) => {
            let id = crate::input::parse_id(raw, "facility_id").map_err(|_| {
                Error::invalid_field("facility_id", "INVALID", "Enter a valid UUID.")
            })?;
            facilities::view(&app, id).await?.into_iter().collect()
        }
    };
    Ok(Json(json!(views
        .iter()
        .map(dataset_json)
        .collect::<Vec<_>>())))
}

/// `?facility=&search=`.
#[derive(Debug, Deserialize)]
pub struct UsernameQuery {
    facility: Option<String>,
    search: Option<String>,
}

/// Usernames a sign-in page may suggest (anyone may ask): learners of
/// facilities that let them in without a password, beginning with the
/// search terms, as `[{"username"}]`; `[]` elsewhere.
#[utoipa::path(get, path = "/api/auth/facilityusername", tag = "kolibri", operation_id = "kolibri_facility_usernames",
    params(UsernameParams),
    responses(
        (status = 200, description = "[{username}]", body = Vec<KolibriUsername>),
        (status = 400, description = "No such facility"),
    ))]
pub async fn usernames(
    State(app): State<App>,
    Query(query): Query<UsernameQuery>,
) -> Result<Json<Value>, KolibriError> {
    let invalid = || {
        Error::invalid_field(
            "facility",
            "INVALID_CHOICE",
            "Select a valid choice. That choice is not one of the available choices.",
        )
    };
    let facility = match query
        .facility
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty())
    {
        Some(raw) => Some(crate::input::parse_id(raw, "facility").map_err(|_| invalid())?),
        None => None,
    };
    let names = crate::service::facility_access::passwordless_usernames(
        &app,
        facility,
        query.search.as_deref(),
    )
    .await
    .map_err(|error| match error {
        Error::NotFound => invalid(),
        other => other,
    })?;
    let names: Vec<Value> = names
        .into_iter()
        .map(|username| json!({ "username": username }))
        .collect();
    Ok(Json(json!(names)))
}

/// A boolean as Django REST framework's `BooleanField` reads one.
fn boolean(field: &'static str, value: &Value) -> Result<bool, Error> {
    let invalid = || Error::invalid_field(field, "INVALID", "Must be a valid boolean.");
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_i64() == Some(1) => Ok(true),
        Value::Number(n) if n.as_i64() == Some(0) => Ok(false),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "on" | "1" => Ok(true),
            "false" | "f" | "no" | "n" | "off" | "0" => Ok(false),
            _ => Err(invalid()),
        },
        Value::Null => Err(Error::invalid_field(
            field,
            "NULL",
            "This field may not be null.",
        )),
        _ => Err(invalid()),
    }
}

/// The change a `PATCH` body asks for. Fields Kolibri has and eventauth
/// keeps no value of (`extra_fields`, `description`, `location`, …) and
/// unknown ones are ignored, as Kolibri ignores the unknown ones; a
/// `preset` must name one (the settings are what is kept).
fn settings_change(body: &Value) -> Result<SettingsChange, Error> {
    let Some(fields) = body.as_object() else {
        return Err(Error::invalid("INVALID_BODY", "Expected an object"));
    };
    let mut change = SettingsChange::default();
    let slots: [(&'static str, &mut Option<bool>); 7] = [
        (
            "learner_can_edit_username",
            &mut change.learner_can_edit_username,
        ),
        ("learner_can_edit_name", &mut change.learner_can_edit_name),
        (
            "learner_can_edit_password",
            &mut change.learner_can_edit_password,
        ),
        ("learner_can_sign_up", &mut change.learner_can_sign_up),
        (
            "learner_can_delete_account",
            &mut change.learner_can_delete_account,
        ),
        (
            "learner_can_login_with_no_password",
            &mut change.learner_can_login_with_no_password,
        ),
        (
            "show_download_button_in_learn",
            &mut change.show_download_button_in_learn,
        ),
    ];
    for (name, slot) in slots {
        if let Some(value) = fields.get(name) {
            *slot = Some(boolean(name, value)?);
        }
    }
    if let Some(preset) = fields.get("preset") {
        let named = preset.as_str().unwrap_or_default();
        if facilities::preset(named).is_err() {
            let shown: String = named.chars().take(64).collect();
            return Err(Error::invalid_field(
                "preset",
                "INVALID_CHOICE",
                format!("\"{shown}\" is not a valid choice."),
            ));
        }
    }
    Ok(change)
}

/// Changes a facility's settings (its admins, the superuser): the
/// settings as they are afterwards; 403 for anyone else, 404 for no such
/// settings, 400 for a bad value or the pair Kolibri refuses.
#[utoipa::path(patch, path = "/api/auth/facilitydataset/{id}", tag = "kolibri", operation_id = "kolibri_change_facility_dataset",
    params(("id" = String, Path, description = "The settings' id (a facility's `dataset.id`)", pattern = "^[0-9a-f]{32}$")),
    request_body = KolibriDatasetChange,
    security(("kolibri_session" = [], "kolibri_csrf" = [])),
    responses(
        (status = 200, description = "The settings afterwards", body = KolibriFacilityDataset),
        (status = 400, description = "A bad value, or no-password sign-in with password changes"),
        (status = 403, description = "Not signed in, or not an admin of the facility"),
        (status = 404, description = "No such settings"),
    ))]
pub async fn change_dataset(
    State(app): State<App>,
    visitor: Visitor,
    Path(id): Path<String>,
    Body(body, ..): Body<Value, Kolibri>,
) -> Result<Response, KolibriError> {
    let dataset = crate::input::parse_id(&id, "id").map_err(|_| Error::NotFound)?;
    let facility = facilities::of_dataset(&app, dataset)
        .await?
        .ok_or(Error::NotFound)?;
    let principal = visitor.principal.as_ref().ok_or(Error::Unauthenticated)?;
    let actor = crate::access::actor(&app, principal.user_id, principal.session_id).await?;
    let change = settings_change(&body);
    match facility_access::change_settings(&app, &actor, facility, change, &visitor.ctx).await {
        Ok(view) => Ok(Json(dataset_json(&view)).into_response()),
        // Kolibri's answer to the pair it refuses is a bare list.
        Err(Error::Invalid {
            code: "INCOMPATIBLE_SETTINGS",
            message,
            ..
        }) => Ok((StatusCode::BAD_REQUEST, Json(json!([message]))).into_response()),
        Err(other) => Err(other.into()),
    }
}
