//! Reading users: the shape every surface renders from.

use aggregates::User;
use chrono::{DateTime, Utc};
use projections::users::UserRow;
use uuid::Uuid;

use crate::{App, Error};

/// A user as the service shows it (never with secrets).
#[derive(Debug, Clone)]
pub struct UserView {
    /// Id.
    pub id: Uuid,
    /// Email as entered.
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Role slugs.
    pub roles: Vec<String>,
    /// Email verified.
    pub email_verified: bool,
    /// Tutorial finished.
    pub tutorial_completed: bool,
    /// Registered.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<UserRow> for UserView {
    fn from(row: UserRow) -> Self {
        Self {
            id: row.user_id,
            email: row.email,
            first_name: row.first_name,
            last_name: row.last_name,
            roles: row.roles.0,
            email_verified: row.email_verified,
            tutorial_completed: row.tutorial_completed_at.is_some(),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

impl UserView {
    /// From the write model, where a command has it loaded anyway.
    pub fn from_aggregate(user: &User) -> Option<Self> {
        Some(Self {
            id: user.id()?,
            email: user.email().expose().clone(),
            first_name: user.first_name().expose().clone(),
            last_name: user.last_name().expose().clone(),
            roles: user.roles().to_vec(),
            email_verified: user.email_verified(),
            tutorial_completed: user.tutorial_completed_at().is_some(),
            created_at: user.registered_at()?,
            updated_at: user.updated_at()?,
        })
    }
}

/// One user from the read model.
pub async fn find(app: &App, id: Uuid) -> Result<UserView, Error> {
    projections::users::find(app.store.db(), id)
        .await?
        .map(UserView::from)
        .ok_or(Error::NotFound)
}

/// Marks the caller's tutorial as finished (idempotent).
pub async fn complete_tutorial(
    app: &App,
    principal: &super::sessions::Principal,
    ctx: &super::RequestContext,
) -> Result<(), Error> {
    let committed = app
        .store
        .execute::<User>(
            &principal.user_id.to_string(),
            aggregates::UserCommand::CompleteTutorial,
            &ctx.metadata().acting_as(principal.user_id),
        )
        .await?;
    app.settle(committed.written.as_ref()).await
}
