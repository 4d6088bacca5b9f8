//! `/api/auth/facility` and `/api/auth/facilitydataset` (reads), as
//! Kolibri 0.19.5's `FacilityViewSet` and `FacilityDatasetViewSet` answer
//! them: what the sign-in and sign-up pages ask first. Anyone may read
//! them, signed in or not (docs/kolibri-reference.md §1–2).

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{hex_id, KolibriError};
use crate::service::facilities::{self, FacilityView};
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
fn dataset_json(view: &FacilityView) -> Value {
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
    responses((status = 200, description = "Every facility: {id, name, num_classrooms, num_users, num_learners, dataset, …}")))]
pub async fn list(State(app): State<App>) -> Result<Json<Value>, KolibriError> {
    let views = facilities::all(&app).await?;
    Ok(Json(json!(views
        .iter()
        .map(facility_json)
        .collect::<Vec<_>>())))
}

/// One facility (anyone may read it); 404 for anything else.
#[utoipa::path(get, path = "/api/auth/facility/{id}", tag = "kolibri", operation_id = "kolibri_facility",
    params(("id" = String, Path, description = "Facility id (32 hex digits)")),
    responses(
        (status = 200, description = "The facility"),
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
    params(("facility_id" = Option<String>, Query, description = "Only this facility's")),
    responses(
        (status = 200, description = "Settings: [{id, learner_can_sign_up, learner_can_login_with_no_password, …}]"),
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
    params(
        ("facility" = Option<String>, Query, description = "Only this facility's"),
        ("search" = Option<String>, Query, description = "Username prefixes (every term)"),
    ),
    responses(
        (status = 200, description = "[{username}]"),
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
