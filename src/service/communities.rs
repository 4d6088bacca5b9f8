//! Communities: Organizations of kind `community`, created by
//! administrators, joined by users themselves.

use aggregates::{Organization, OrganizationKind, User, UserCommand};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::sessions::Principal;
use super::RequestContext;
use crate::access::{self, Action, Actor, Resource};
use crate::{App, Error};

/// A community as the service shows it.
#[derive(Debug, Clone)]
pub struct CommunityView {
    /// Id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Members.
    pub members: i64,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl From<projections::organizations::OrganizationRow> for CommunityView {
    fn from(row: projections::organizations::OrganizationRow) -> Self {
        Self {
            id: row.organization_id,
            name: row.name,
            description: row.description,
            members: row.members,
            created_at: row.created_at,
        }
    }
}

/// Creates a community (administrators only).
pub async fn create(
    app: &App,
    actor: &Actor,
    name: &str,
    description: Option<&str>,
    ctx: &RequestContext,
) -> Result<CommunityView, Error> {
    access::authorize(actor, Action::ManageCommunities, &Resource::Service)?;
    let description = description.map(str::trim).filter(|d| !d.is_empty());
    if description.is_some_and(|d| d.chars().count() > 2000) {
        return Err(Error::invalid_field(
            "description",
            "TOO_LONG",
            "description must be at most 2000 characters",
        ));
    }
    let (id, created_at) = super::facilities::create_organization(
        app,
        Uuid::now_v7(),
        OrganizationKind::Community,
        name,
        description.map(str::to_string),
        None,
        None,
        &ctx.metadata().acting_as(actor.user_id),
    )
    .await?;
    Ok(CommunityView {
        id,
        name: name.trim().to_string(),
        description: description.map(str::to_string),
        members: 0,
        created_at,
    })
}

/// The caller joins a community (404 when there is none with this id;
/// joining again changes nothing).
pub async fn join(
    app: &App,
    principal: &Principal,
    community_id: Uuid,
    ctx: &RequestContext,
) -> Result<(), Error> {
    // A community this instance last read live, and has heard of no change
    // to since (joins aside), is known to be one; any other id is looked
    // up in the log.
    if !app.community_views.holds_live(community_id) {
        let community = app
            .store
            .load::<Organization>(&community_id.to_string())
            .await?;
        if community.state.kind() != Some(OrganizationKind::Community) {
            return Err(Error::NotFound);
        }
    }
    app.store
        .execute::<User>(
            &principal.user_id.to_string(),
            UserCommand::JoinCommunity { community_id },
            &ctx.metadata().acting_as(principal.user_id),
        )
        .await?;
    Ok(())
}

/// The communities a user belongs to, in joining order, as the read models
/// hold their memberships.
pub async fn of_user(app: &App, user_id: Uuid) -> Result<Vec<CommunityView>, Error> {
    let ids = projections::organizations::memberships_of(app.read_models().await, user_id).await?;
    app.community_views.of(app, &ids).await
}

/// The communities of a user's state (which names them in joining order):
/// what a command's answer shows, without waiting for the read models.
pub async fn of_state(app: &App, user: &User) -> Result<Vec<CommunityView>, Error> {
    app.community_views.of(app, user.communities()).await
}
