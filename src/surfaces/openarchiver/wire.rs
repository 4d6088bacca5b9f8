//! Open Archiver's wire objects: the user (its row without the password)
//! and the role.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use crate::service::policy_roles::{self, RoleView};
use crate::service::UserView;
use crate::{App, Error};

/// A time as JavaScript's `Date.toISOString()` writes it.
pub fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A role as Open Archiver answers one.
pub fn role_json(role: &RoleView) -> Value {
    json!({
        "id": role.id,
        "name": role.name,
        "slug": role.slug,
        "policies": role.policies,
        "createdAt": iso(role.created_at),
        "updatedAt": iso(role.updated_at),
    })
}

/// The roles a user holds.
pub async fn roles_of(app: &App, user: &UserView) -> Result<Vec<RoleView>, Error> {
    policy_roles::held(app, &user.roles).await
}

/// A user as Open Archiver answers one, with their first role (or null):
/// never a password hash.
pub fn user_json(user: &UserView, roles: &[RoleView]) -> Value {
    json!({
        "id": user.id,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "provider": "local",
        "providerId": null,
        "createdAt": iso(user.created_at),
        "updatedAt": iso(user.updated_at),
        "role": roles.first().map_or(Value::Null, role_json),
    })
}
