//! The facility settings page's actions on `/api/auth/facilitydataset/{id}/`
//! beyond `PATCH`, as Kolibri 0.19.5's `FacilityDatasetViewSet` answers
//! them: `resetsettings` (back to the preset) and
//! `save-facility-login-settings` (signing in without a password).
//! Picture passwords are not kept by eventauth: enabling them is refused.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::facilities::dataset_json;

/// The settings as Kolibri's `FacilityDatasetSerializer` shows them (what
/// these actions answer): the list's shape without the two values its
/// list adds.
fn serialized(view: &facilities::FacilityView) -> Value {
    let mut dataset = dataset_json(view);
    if let Some(fields) = dataset.as_object_mut() {
        fields.remove("allow_guest_access");
        fields.remove("is_full_facility_import");
    }
    dataset
}
use super::doc::{KolibriDatasetAnswer, KolibriFacilityDataset, KolibriLoginSettingsBody};
use super::{Kolibri, KolibriError, Visitor};
use crate::http::Body;
use crate::service::facilities;
use crate::service::facility_access::{self, SettingsChange};
use crate::{App, Error};

/// The facility of a settings id, and the signed-in actor (404, then 403).
async fn target(
    app: &App,
    visitor: &Visitor,
    id: &str,
) -> Result<(uuid::Uuid, crate::access::Actor), Error> {
    let dataset = crate::input::parse_id(id, "id").map_err(|_| Error::NotFound)?;
    let facility = facilities::of_dataset(app, dataset)
        .await?
        .ok_or(Error::NotFound)?;
    let actor = visitor.actor(app).await?.ok_or(Error::Unauthenticated)?;
    Ok((facility, actor))
}

/// Resets a facility's settings to its preset's (its admins, the
/// superuser): the settings afterwards.
#[utoipa::path(post, path = "/api/auth/facilitydataset/{id}/resetsettings", tag = "kolibri",
    operation_id = "kolibri_reset_facility_settings",
    params(("id" = String, Path, description = "The settings' id", pattern = "^[0-9a-f]{32}$")),
    security(("kolibri_session" = [], "kolibri_csrf" = [])),
    responses((status = 200, description = "The settings afterwards", body = KolibriFacilityDataset), (status = 403, description = "Not allowed"), (status = 404, description = "No such settings")))]
pub async fn reset(
    State(app): State<App>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> Result<Json<Value>, KolibriError> {
    let (facility, actor) = target(&app, &visitor, &id).await?;
    let view = facility_access::reset_settings(&app, &actor, facility, &visitor.ctx).await?;
    Ok(Json(serialized(&view)))
}

/// Saves how learners sign in: without a password (then they cannot
/// change one), or with one (`learner_can_edit_password` as sent). 200
/// `{"dataset": …}`; 400 `{"detail"}` for picture passwords.
#[utoipa::path(patch, path = "/api/auth/facilitydataset/{id}/save-facility-login-settings", tag = "kolibri",
    operation_id = "kolibri_save_facility_login_settings",
    params(("id" = String, Path, description = "The settings' id", pattern = "^[0-9a-f]{32}$")),
    request_body = KolibriLoginSettingsBody,
    security(("kolibri_session" = [], "kolibri_csrf" = [])),
    responses((status = 200, description = "{dataset}", body = KolibriDatasetAnswer), (status = 400, description = "Picture passwords (not kept by eventauth)"),
        (status = 403, description = "Not allowed"), (status = 404, description = "No such settings")))]
pub async fn save_login_settings(
    State(app): State<App>,
    visitor: Visitor,
    Path(id): Path<String>,
    Body(body, ..): Body<Value, Kolibri>,
) -> Result<Response, KolibriError> {
    let (facility, actor) = target(&app, &visitor, &id).await?;
    let truthy = |field: &str| match body.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        // Python truthiness of what Django REST framework parsed.
        Some(Value::Number(n)) => Some(n.as_f64() != Some(0.0)),
        Some(Value::String(s)) => Some(!s.is_empty()),
        Some(Value::Array(a)) => Some(!a.is_empty()),
        Some(Value::Object(o)) => Some(!o.is_empty()),
    };
    let pictures = body
        .get("picture_password_settings")
        .is_some_and(|v| !v.is_null());
    // Asked only once the actor may change the settings.
    let change = if pictures {
        Err(Error::invalid(
            "PICTURE_PASSWORDS",
            "Picture passwords are not supported.",
        ))
    } else if truthy("learner_can_login_with_no_password") == Some(true) {
        Ok(SettingsChange {
            learner_can_login_with_no_password: Some(true),
            learner_can_edit_password: Some(false),
            ..Default::default()
        })
    } else {
        Ok(SettingsChange {
            learner_can_login_with_no_password: Some(false),
            learner_can_edit_password: truthy("learner_can_edit_password"),
            ..Default::default()
        })
    };
    match facility_access::change_settings(&app, &actor, facility, change, &visitor.ctx).await {
        Ok(view) => Ok(Json(json!({ "dataset": serialized(&view) })).into_response()),
        Err(Error::Invalid {
            code: "PICTURE_PASSWORDS",
            message,
            ..
        }) => Ok((StatusCode::BAD_REQUEST, Json(json!({ "detail": message }))).into_response()),
        Err(other) => Err(other.into()),
    }
}
