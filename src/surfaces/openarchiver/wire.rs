//! Open Archiver's wire objects: the user (its row without the password)
//! and the role.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::access::ADMINISTRATOR;
use crate::service::UserView;

/// A time as JavaScript's `Date.toISOString()` writes it.
pub fn iso(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Open Archiver's predefined Super Admin (`manage` `all`, from
/// [`crate::access::policies::predefined`]): the service administrator's
/// role here. Its id is derived from its slug, stable.
fn super_admin(since: DateTime<Utc>) -> Value {
    let slug = "predefined_super_admin";
    let (name, policies) = crate::access::policies::predefined()
        .into_iter()
        .find(|(s, _, _)| *s == slug)
        .map(|(_, name, policies)| (name, policies))
        .unwrap_or(("Super Admin", Value::Array(Vec::new())));
    let id = Uuid::new_v5(
        &Uuid::NAMESPACE_OID,
        format!("openarchiver:{slug}").as_bytes(),
    );
    json!({
        "id": id,
        "name": name,
        "slug": slug,
        "policies": policies,
        "createdAt": iso(since),
        "updatedAt": iso(since),
    })
}

/// The role names a token carries.
pub fn role_names(user: &UserView) -> Vec<String> {
    if user.roles.iter().any(|r| r == ADMINISTRATOR) {
        vec!["Super Admin".to_string()]
    } else {
        Vec::new()
    }
}

/// A user as Open Archiver answers one: never a password hash.
pub fn user_json(user: &UserView) -> Value {
    let role = if user.roles.iter().any(|r| r == ADMINISTRATOR) {
        super_admin(user.created_at)
    } else {
        Value::Null
    };
    json!({
        "id": user.id,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "provider": "local",
        "providerId": null,
        "createdAt": iso(user.created_at),
        "updatedAt": iso(user.updated_at),
        "role": role,
    })
}
