//! The one error type of the service. Each variant says which status code it
//! becomes; each HTTP surface renders it in its own documented shape.

use std::time::Duration;

use aggregates::DomainError;

/// Everything a use case can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400: the request is malformed or breaks a rule. `message` says what,
    /// `code` is a stable machine-readable name, `field` the offending
    /// field when there is one.
    #[error("{message}")]
    Invalid {
        /// Stable code, e.g. `INVALID_EMAIL`, `ALREADY_EXISTS`.
        code: &'static str,
        /// Human-readable explanation.
        message: String,
        /// The request field at fault.
        field: Option<&'static str>,
    },
    /// 401: a login failed. Says nothing about whether the account exists.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// 401: no credential, or an invalid, expired or revoked one.
    #[error("authentication required")]
    Unauthenticated,
    /// 403: authenticated but not allowed.
    #[error("insufficient permissions")]
    Forbidden,
    /// 403: the account was disabled by an administrator.
    #[error("the account is disabled")]
    Disabled,
    /// 404: no such resource.
    #[error("resource not found")]
    NotFound,
    /// 409: the aggregate kept changing under a command (after bounded
    /// retries).
    #[error("the resource was modified concurrently; retry")]
    Conflict,
    /// 413: the body is over the limit.
    #[error("request body too large")]
    PayloadTooLarge,
    /// 429 with `Retry-After`: too many failed logins for this identifier or
    /// client.
    #[error("too many failed attempts")]
    TooManyAttempts {
        /// When to try again.
        retry_after: Duration,
    },
    /// 503 with `Retry-After`: the password-hashing queue is full.
    #[error("the service is busy")]
    Busy {
        /// When to try again.
        retry_after: Duration,
    },
    /// 503 with `Retry-After`: the store cannot be reached (down,
    /// restarting, no free connection in time).
    #[error("the store is unavailable")]
    Unavailable {
        /// When to try again.
        retry_after: Duration,
        /// What failed: no connection in time, or one lost under the
        /// request.
        outage: Outage,
    },
    /// 500: logged once with its cause chain, never shown to clients.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl Error {
    /// A 400 with a code and a message.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            code,
            message: message.into(),
            field: None,
        }
    }

    /// A 400 about one field.
    pub fn invalid_field(
        field: &'static str,
        code: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self::Invalid {
            code,
            message: message.into(),
            field: Some(field),
        }
    }

    /// The HTTP status this error becomes.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            Self::Invalid { .. } => S::BAD_REQUEST,
            Self::InvalidCredentials | Self::Unauthenticated => S::UNAUTHORIZED,
            Self::Forbidden | Self::Disabled => S::FORBIDDEN,
            Self::NotFound => S::NOT_FOUND,
            Self::Conflict => S::CONFLICT,
            Self::PayloadTooLarge => S::PAYLOAD_TOO_LARGE,
            Self::TooManyAttempts { .. } => S::TOO_MANY_REQUESTS,
            Self::Busy { .. } | Self::Unavailable { .. } => S::SERVICE_UNAVAILABLE,
            Self::Internal(_) => S::INTERNAL_SERVER_ERROR,
        }
    }

    /// Seconds for a `Retry-After` header, where one belongs.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::TooManyAttempts { retry_after }
            | Self::Busy { retry_after }
            | Self::Unavailable { retry_after, .. } => Some(retry_after.as_secs().max(1)),
            _ => None,
        }
    }

    /// The message a client may see.
    pub fn public_message(&self) -> String {
        match self {
            Self::Internal(_) => "An unexpected error occurred".to_string(),
            Self::Invalid { message, .. } => message.clone(),
            Self::InvalidCredentials => "Invalid email or password".to_string(),
            Self::Unauthenticated => "Authentication required".to_string(),
            Self::Forbidden => "Insufficient permissions".to_string(),
            Self::Disabled => "This account is disabled".to_string(),
            Self::NotFound => "Resource not found".to_string(),
            Self::Conflict => "The resource was modified concurrently; please retry".to_string(),
            Self::PayloadTooLarge => "Request body too large".to_string(),
            Self::TooManyAttempts { .. } => "Too many failed attempts; try again later".to_string(),
            Self::Busy { .. } => "The service is busy; try again shortly".to_string(),
            Self::Unavailable { .. } => {
                "The service is temporarily unavailable; try again shortly".to_string()
            }
        }
    }
}

impl From<DomainError> for Error {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::AlreadyRegistered | DomainError::IdentifierTaken => Self::invalid_field(
                "email",
                "ALREADY_EXISTS",
                "An account with this identifier already exists",
            ),
            DomainError::UserNotFound
            | DomainError::OrganizationNotFound
            | DomainError::RoleNotFound => Self::NotFound,
            DomainError::AlreadyExists => Self::Conflict,
            DomainError::AccountDisabled => Self::Disabled,
            DomainError::TooSoon => Self::TooManyAttempts {
                retry_after: std::time::Duration::from_secs(60),
            },
            DomainError::InvalidRole => Self::invalid_field(
                "role",
                "INVALID_ROLE",
                "role must be 1 to 32 of a-z, 0-9, _ and -",
            ),
            DomainError::AccountLocked { until } => Self::TooManyAttempts {
                retry_after: (until - chrono::Utc::now()).to_std().unwrap_or_default(),
            },
            DomainError::StaleCredentials | DomainError::SessionAlreadyStarted => Self::Conflict,
            DomainError::SessionNotFound
            | DomainError::SessionEnded
            | DomainError::SessionExpired
            | DomainError::SessionRevoked
            | DomainError::InvalidRefreshToken => Self::Unauthenticated,
            DomainError::InvalidToken => Self::invalid_field(
                "token",
                "INVALID_TOKEN",
                "The link is invalid or has already been used",
            ),
            DomainError::TokenExpired => {
                Self::invalid_field("token", "TOKEN_EXPIRED", "The link has expired")
            }
            DomainError::InvalidSubscription(message) => {
                Self::invalid("INVALID_SUBSCRIPTION", message)
            }
            DomainError::InvalidOrganization => Self::invalid(
                "INVALID_ORGANIZATION",
                "A classroom needs a facility, a learner group a classroom; only facilities have settings",
            ),
            DomainError::NoSubscription => {
                Self::invalid("NO_SUBSCRIPTION", "The user has no subscription")
            }
            DomainError::InvalidIdentity => {
                Self::invalid("INVALID_IDENTITY", "An external identity needs an issuer and a subject")
            }
            DomainError::AlreadyUsed => Self::Unauthenticated,
            DomainError::AlreadyVerified => Self::invalid_field(
                "token",
                "ALREADY_VERIFIED",
                "The email address is already verified",
            ),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        Self::Internal(anyhow::Error::new(error).context("database"))
    }
}

impl Error {
    /// An internal error whose cause is a lost or unobtainable database
    /// connection becomes [`Error::Unavailable`]: the request did nothing
    /// wrong, and the same request will work once the store is back. The one
    /// place this is decided, where errors are rendered: every cause keeps
    /// its chain until then (the store's framework errors included).
    pub fn outage_aware(self) -> Self {
        match &self {
            Self::Internal(cause) => match cause.chain().find_map(outage) {
                Some(outage) => Self::Unavailable {
                    retry_after: Duration::from_secs(2),
                    outage,
                },
                None => self,
            },
            _ => self,
        }
    }
}

pub use projections::db::{outage, Outage};
