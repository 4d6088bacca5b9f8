//! Deleted (soft) facility users as a signed-in actor sees them: listed in
//! the actor's scope like live ones, brought back, or removed for good.
//! Who may delete a user may restore and purge them ([`Action::DeleteUser`]);
//! a request touching several users is refused whole when any is not the
//! actor's to touch.

use projections::facility_users::{FacilityUserRow, Filter, Order};
use uuid::Uuid;

use super::facility_access::{self, ListQuery};
use super::{facility_users, RequestContext};
use crate::access::{self, Action, Actor, Resource};
use crate::{App, Error};

/// The filter of a list of deleted users `actor` asks for: their scope,
/// narrowed by `query`, by deletion time unless ordered otherwise.
pub async fn filter(app: &App, actor: &Actor, query: ListQuery) -> Result<Filter, Error> {
    let ordered = query.order.is_some();
    let mut filter = facility_access::filter(app, actor, query).await?;
    filter.deleted = true;
    if !ordered {
        filter.order = Order::parse("date_deleted").unwrap_or_default();
    }
    Ok(filter)
}

/// Every deleted user a filter matches (no paging: what a restore or a
/// purge by filter touches).
pub async fn matching(app: &App, filter: &Filter) -> Result<Vec<FacilityUserRow>, Error> {
    let (listed, _) =
        projections::facility_users::list(app.read_models().await, filter, i64::MAX, 0).await?;
    Ok(listed.into_iter().map(|l| l.user).collect())
}

/// One deleted user `actor` may read; `NotFound` otherwise.
pub async fn read(app: &App, actor: &Actor, user_id: Uuid) -> Result<FacilityUserRow, Error> {
    let mut filter = filter(app, actor, ListQuery::default()).await?;
    // A scope of one user (themselves) reads nobody else.
    if filter.only_user.is_some_and(|only| only != user_id) {
        return Err(Error::NotFound);
    }
    filter.only_user = Some(user_id);
    matching(app, &filter).await?.pop().ok_or(Error::NotFound)
}

/// 403 unless `actor` may delete every one of `users`.
fn authorize_all(actor: &Actor, users: &[FacilityUserRow]) -> Result<(), Error> {
    for user in users {
        let resource = Resource::User {
            id: user.user_id,
            facility: Some(user.facility_id),
        };
        access::authorize(actor, Action::DeleteUser, &resource)?;
    }
    Ok(())
}

/// Brings `users` back as `actor` (see [`facility_users::restore`]).
pub async fn restore(
    app: &App,
    actor: &Actor,
    users: &[FacilityUserRow],
    ctx: &RequestContext,
) -> Result<(), Error> {
    for_each(actor, users, ctx, |user, metadata| async move {
        facility_users::restore(app, user, &metadata).await
    })
    .await
}

/// Removes `users` for good as `actor`: Kolibri's hard delete, which
/// removes a person's rows, is erasure here (their personal data in the
/// log becomes unreadable; see [`super::erasure`]).
pub async fn purge(
    app: &App,
    actor: &Actor,
    users: &[FacilityUserRow],
    ctx: &RequestContext,
) -> Result<(), Error> {
    authorize_all(actor, users)?;
    for user in users {
        super::erasure::erase(app, actor, user.user_id, ctx).await?;
    }
    Ok(())
}

/// Runs `change` on every one of `users` as `actor`, once they were all
/// found theirs to change (nothing changes otherwise).
async fn for_each<F, Fut>(
    actor: &Actor,
    users: &[FacilityUserRow],
    ctx: &RequestContext,
    change: F,
) -> Result<(), Error>
where
    F: Fn(Uuid, crate::store::Metadata) -> Fut,
    Fut: std::future::Future<Output = Result<(), Error>>,
{
    authorize_all(actor, users)?;
    let metadata = ctx.metadata().acting_as(actor.user_id);
    for user in users {
        change(user.user_id, metadata.clone()).await?;
    }
    Ok(())
}
