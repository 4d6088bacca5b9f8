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
}

impl RequestContext {
    /// Context for the CLI and background work.
    pub fn system() -> Self {
        Self {
            request_id: uuid::Uuid::now_v7().to_string(),
            ..Self::default()
        }
    }

    /// Event metadata for an anonymous actor.
    pub fn metadata(&self) -> Metadata {
        Metadata {
            correlation_id: self.request_id.clone(),
            actor: if self.client_ip.is_some() {
                "anonymous"
            } else {
                "system"
            }
            .to_string(),
            client_ip: self.client_ip.map(|ip| ip.to_string()),
            user_agent: self.user_agent.clone(),
        }
    }
}
