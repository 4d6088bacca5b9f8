//! The request metadata recorded on every event.

use std::collections::HashMap;

/// The metadata entries that are personal data (sealed by the vault under
/// the actor's key, else the event's subject's).
pub const PERSONAL_METADATA: [&str; 2] = ["client_ip", "user_agent"];

/// The subject whose key seals the personal metadata of a request made by
/// `actor` (`user:<id>`): that user's; none for the service or anonymous.
pub fn actor_subject(actor: &str) -> Option<String> {
    let id = actor.strip_prefix("user:")?.parse().ok()?;
    Some(crate::vault::user(id))
}

/// Request metadata recorded on every event of a command.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    /// The request id, or a generated one for CLI and system work.
    pub correlation_id: String,
    /// `user:<id>`, `anonymous` or `system`.
    pub actor: String,
    /// Client IP, where known.
    pub client_ip: Option<String>,
    /// Client user agent, where known.
    pub user_agent: Option<String>,
}

impl Metadata {
    /// Metadata for work the service does on its own (CLI, maintenance).
    pub fn system() -> Self {
        Self {
            correlation_id: uuid::Uuid::now_v7().to_string(),
            actor: "system".to_string(),
            client_ip: None,
            user_agent: None,
        }
    }

    /// The same request, acting as `user`.
    pub fn acting_as(&self, user: uuid::Uuid) -> Self {
        Self {
            actor: format!("user:{user}"),
            ..self.clone()
        }
    }

    /// The subject whose key seals this request's personal metadata: the
    /// acting user's (an IP is the data of whoever made the request).
    pub(super) fn actor_subject(&self) -> Option<String> {
        actor_subject(&self.actor)
    }

    /// The map stored with each event. IP and user agent are personal
    /// data, in the same tagged form as `Personal<T>` (the vault seals
    /// them alike).
    pub(super) fn to_map(&self) -> HashMap<String, String> {
        let mut map = HashMap::from([
            ("correlation_id".to_string(), self.correlation_id.clone()),
            ("actor".to_string(), self.actor.clone()),
            ("time".to_string(), chrono::Utc::now().to_rfc3339()),
        ]);
        let personal = |value: &String| {
            serde_json::to_string(&aggregates::Personal::new(value)).unwrap_or_default()
        };
        if let Some(ip) = &self.client_ip {
            map.insert("client_ip".to_string(), personal(ip));
        }
        if let Some(agent) = &self.user_agent {
            map.insert("user_agent".to_string(), personal(agent));
        }
        map
    }
}
