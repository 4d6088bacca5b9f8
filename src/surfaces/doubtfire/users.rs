//! Doubtfire's user object, and `GET /api/users/{id}`: the signed-in user
//! reads themselves (an administrator anyone, once numbers can be looked
//! up: not built — see docs/doubtfire.md).

use aggregates::User;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::params::Params;
use super::{error, DfError};
use crate::access::{authorize, grants_of, Action, Actor, Resource, SystemRole};
use crate::service::numbers::number_of;
use crate::service::RequestContext;
use crate::store::Loaded;
use crate::{App, Error};

/// A signed-in caller.
#[derive(Debug)]
pub struct Caller {
    /// Who.
    pub actor: Actor,
}

/// A user as Doubtfire answers one (its `UserEntity`): the number as
/// `id`, the email as `username`; the notification and research settings
/// Doubtfire keeps are not kept here and read as its defaults; "first-time
/// setup" is the finished tutorial.
pub async fn user_json(
    app: &App,
    user: &Loaded<User>,
    ctx: &RequestContext,
) -> Result<Value, Error> {
    let number = number_of(app, user, ctx).await?;
    let state = &user.state;
    let first_name = state.first_name().expose();
    Ok(json!({
        "id": number,
        "student_id": null,
        "email": state.email().expose(),
        "first_name": first_name,
        "last_name": state.last_name().expose(),
        "username": state.email().expose(),
        "nickname": first_name,
        "receive_task_notifications": true,
        "receive_portfolio_notifications": true,
        "receive_feedback_notifications": true,
        "opt_in_to_research": null,
        "has_run_first_time_setup": state.tutorial_completed_at().is_some(),
        "system_role": SystemRole::of(&grants_of(state)).as_str(),
    }))
}

#[utoipa::path(get, path = "/api/users/{id}", tag = "doubtfire", operation_id = "doubtfire_get_user",
    params(("id" = u64, Path, description = "The user's number")),
    security(("doubtfire_token" = [], "doubtfire_username" = [])),
    responses((status = 200, description = "The user", body = super::doc::DoubtfireUser),
        (status = 403, description = "Cannot find User with id …"),
        (status = 419, description = "No live token")))]
pub async fn get_user(
    State(app): State<App>,
    Path(id): Path<String>,
    params: Params,
) -> Result<Response, DfError> {
    let caller = match super::auth::caller(&app, &params).await? {
        Ok(caller) => caller,
        Err(refusal) => return Ok(refusal),
    };
    let actor = &caller.actor;
    let own = id.parse::<u64>().ok() == actor.user.state.number();
    let target = Resource::User {
        id: actor.user_id,
        facility: actor.facility,
    };
    // Only one's own number resolves to a user today; anyone else's is
    // refused as Doubtfire refuses what a caller may not see.
    if !own
        || matches!(
            authorize(actor, Action::ReadUser, &target),
            Err(Error::Forbidden)
        )
    {
        let message = format!("Cannot find User with id {id}");
        return Ok(error(StatusCode::FORBIDDEN, &message));
    }
    let user = user_json(&app, &actor.user, &params.ctx).await?;
    Ok(Json(user).into_response())
}
