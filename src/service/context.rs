//! Who is asking, from where: recorded as event metadata.

use std::net::IpAddr;

use crate::store::Metadata;

/// The request a use case runs for.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// The request id (`x-request-id`), the correlation id of its events.
    pub request_id: String,
    /// Client IP.
    pub client_ip: Option<IpAddr>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// The signed-in user acting, once a use case knows them.
    pub actor: Option<uuid::Uuid>,
}

impl RequestContext {
    /// Context for the CLI and background work.
    pub fn system() -> Self {
        Self {
            request_id: uuid::Uuid::now_v7().to_string(),
            ..Self::default()
        }
    }

    /// The same request, acted in by `user`: their id becomes the actor of
    /// what it records.
    pub fn acting_as(&self, user: uuid::Uuid) -> Self {
        Self {
            actor: Some(user),
            ..self.clone()
        }
    }

    /// Event metadata: the acting user, else anonymous (a request) or the
    /// system (the CLI, background work).
    pub fn metadata(&self) -> Metadata {
        Metadata {
            correlation_id: self.request_id.clone(),
            actor: match (self.actor, self.client_ip) {
                (Some(user), _) => format!("user:{user}"),
                (None, Some(_)) => "anonymous".to_string(),
                (None, None) => "system".to_string(),
            },
            client_ip: self.client_ip.map(|ip| ip.to_string()),
            user_agent: self.user_agent.clone(),
        }
    }
}
