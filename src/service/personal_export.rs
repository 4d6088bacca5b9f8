//! The right of access: everything held about a person, as JSON — their
//! account as the log folds it, their sessions with where they came from,
//! their memberships and roles, and the history of their events with
//! metadata. Nothing of anyone else: where another person acted on them
//! (an administrator), the export says so but shows none of that person's
//! data (their IP, their agent, their id). Nothing secret: no hash of a
//! password or token.

use aggregates::User;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::access::{self, Actor, Resource};
use crate::vault::tagged::shown;
use crate::{App, Error};

/// The caller's own data (`actor` reads themselves).
pub async fn own(app: &App, actor: &Actor) -> Result<Value, Error> {
    let resource = Resource::User {
        id: actor.user_id,
        facility: actor.facility,
    };
    access::authorize(actor, access::Action::ReadUser, &resource)?;
    of(app, actor.user_id).await
}

/// Everything held about `user_id` (the operator's `eventauth export-user`;
/// a surface asks [`own`]).
pub async fn of(app: &App, user_id: Uuid) -> Result<Value, Error> {
    let user = app.store.load::<User>(&user_id.to_string()).await?;
    if !user.state.is_registered() {
        return Err(Error::NotFound);
    }
    let sessions = projections::sessions::of_user(app.read_models().await, user_id).await?;
    let timeline =
        crate::ops::history::timeline(app.read_models().await, app.store.vault().as_ref(), user_id)
            .await
            .map_err(Error::Internal)?;
    let me = format!("user:{user_id}");
    let events: Vec<Value> = timeline
        .iter()
        .map(|event| {
            let mut line = crate::ops::history::to_json(event);
            if line["metadata"]["actor"].as_str() != Some(me.as_str()) {
                line["metadata"] = someone_else(&line["metadata"]);
            }
            line
        })
        .collect();
    let account = without_secrets(shown(serde_json::to_value(&user.state).unwrap_or_default()));
    Ok(json!({
        "exportedAt": chrono::Utc::now(),
        "userId": user_id,
        "account": account,
        "sessions": sessions.iter().map(|session| json!({
            "sessionId": session.session_id,
            "surface": session.surface,
            "clientIp": session.client_ip,
            "userAgent": session.user_agent,
            "startedAt": session.started_at,
            "lastSeenAt": session.last_seen_at,
            "expiresAt": session.expires_at,
            "endedAt": session.ended_at,
            "endReason": session.end_reason,
        })).collect::<Vec<_>>(),
        "events": events,
    }))
}

/// The metadata of a request someone else made: which request and when,
/// and whether it was the service or another person; nothing about them.
fn someone_else(metadata: &Value) -> Value {
    let actor = metadata["actor"]
        .as_str()
        .filter(|actor| matches!(*actor, "system" | "anonymous"))
        .unwrap_or("another user");
    json!({
        "actor": actor,
        "correlation_id": metadata["correlation_id"],
        "time": metadata["time"],
    })
}

/// `value` without any secret: every `…_hash` field goes (password and
/// token hashes).
fn without_secrets(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(key, _)| !key.ends_with("_hash"))
                .map(|(key, value)| (key, without_secrets(value)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_secrets).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_go_wherever_they_sit() {
        let value = json!({"password_hash": "$argon2id$", "pending_reset": {"token_hash": "ab", "expires_at": 1}, "email": "a"});
        let clean = without_secrets(value);
        assert_eq!(
            clean,
            json!({"pending_reset": {"expires_at": 1}, "email": "a"})
        );
    }

    #[test]
    fn another_persons_request_shows_nothing_of_them() {
        let metadata = json!({"actor": "user:0190", "client_ip": "10.0.0.9", "user_agent": "x", "correlation_id": "r", "time": "t"});
        let shown = someone_else(&metadata);
        assert_eq!(
            shown,
            json!({"actor": "another user", "correlation_id": "r", "time": "t"})
        );
    }
}
