//! Accounts users are members of (Backstack's): an Organization of kind
//! `account` with a title; a user's memberships, with the roles held in
//! each, are on the User; which account a session acts in is on the
//! Session (chosen at login when the user is a member of exactly one,
//! else by the user afterwards).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aggregates::{Organization, OrganizationKind, Session, User, UserCommand};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::sessions::cookie::{self, CookiePrincipal};
use super::RequestContext;
use crate::access::{self, Action, Actor, Resource};
use crate::consumers::feed::FeedListener;
use crate::{App, Error};

/// Sessions looked at to find the account a user chose last.
const RECENT_SESSIONS: i64 = 20;

/// An account as a member sees it.
#[derive(Debug, Clone)]
pub struct AccountView {
    /// Id.
    pub id: Uuid,
    /// Title.
    pub title: String,
    /// The member's roles in it.
    pub roles: Vec<String>,
}

/// Who administers accounts: an operator (the CLI), or a signed-in actor
/// who manages accounts service-wide (403 for anyone else).
#[derive(Debug, Clone, Copy)]
pub enum By<'a> {
    /// The operator.
    Operator,
    /// A signed-in administrator.
    Actor(&'a Actor),
}

impl By<'_> {
    /// The event metadata of what they do, once they may.
    fn metadata(self, ctx: &RequestContext) -> Result<crate::store::Metadata, Error> {
        match self {
            By::Operator => Ok(ctx.metadata()),
            By::Actor(actor) => {
                access::authorize(actor, Action::ManageAccounts, &Resource::Service)?;
                Ok(ctx.metadata().acting_as(actor.user_id))
            }
        }
    }
}

/// Creates an account titled `title`.
pub async fn create(
    app: &App,
    by: By<'_>,
    id: Option<Uuid>,
    title: &str,
    ctx: &RequestContext,
) -> Result<Uuid, Error> {
    let metadata = by.metadata(ctx)?;
    let title = title.trim();
    if title.is_empty() || title.chars().count() > 100 || title.chars().any(char::is_control) {
        return Err(Error::invalid_field(
            "title",
            "INVALID_TITLE",
            "title must be 1 to 100 printable characters",
        ));
    }
    let (id, _) = super::facilities::create_organization(
        app,
        id.unwrap_or_else(Uuid::now_v7),
        OrganizationKind::Account,
        title,
        None,
        None,
        None,
        &metadata,
    )
    .await?;
    Ok(id)
}

/// The titles of live accounts, cached per instance (asked on every
/// session read): an entry goes when the security feed sees an event of
/// that organization, and a title loaded while any was being fed is not
/// kept (the same rule as the caller states').
#[derive(Debug)]
pub struct AccountTitles {
    /// Account → its title, or `None`: no live account.
    titles: moka::sync::Cache<Uuid, Option<Arc<str>>>,
    changes: AtomicU64,
}

impl Default for AccountTitles {
    fn default() -> Self {
        Self {
            titles: moka::sync::Cache::new(100_000),
            changes: AtomicU64::new(0),
        }
    }
}

impl FeedListener for AccountTitles {
    fn organization_changed(&self, organization: Uuid) {
        self.changes.fetch_add(1, Ordering::SeqCst);
        self.titles.invalidate(&organization);
    }
}

/// The title of the live account `id`, or `NotFound`.
async fn account(app: &App, id: Uuid) -> Result<Arc<str>, Error> {
    let titles = &app.account_titles;
    let title = match titles.titles.get(&id) {
        Some(title) => title,
        None => {
            let before = titles.changes.load(Ordering::SeqCst);
            let organization = app.store.load::<Organization>(&id.to_string()).await?.state;
            let live = organization.kind() == Some(OrganizationKind::Account)
                && !organization.is_deleted();
            let title: Option<Arc<str>> = live.then(|| organization.name().into());
            titles.titles.insert(id, title.clone());
            if titles.changes.load(Ordering::SeqCst) != before {
                titles.titles.invalidate(&id);
            }
            title
        }
    };
    title.ok_or(Error::NotFound)
}

/// Makes `user_id` a member of `account_id` holding `roles` there (or sets
/// their roles if they are one): `NotFound` for no such account or user.
pub async fn add_member(
    app: &App,
    by: By<'_>,
    account_id: Uuid,
    user_id: Uuid,
    roles: Vec<String>,
    ctx: &RequestContext,
) -> Result<(), Error> {
    let metadata = by.metadata(ctx)?;
    account(app, account_id).await?;
    app.store
        .execute::<User>(
            &user_id.to_string(),
            UserCommand::JoinAccount {
                account: account_id,
                roles,
            },
            &metadata,
        )
        .await?;
    Ok(())
}

/// Takes `user_id` out of `account_id`.
pub async fn remove_member(
    app: &App,
    by: By<'_>,
    account_id: Uuid,
    user_id: Uuid,
    ctx: &RequestContext,
) -> Result<(), Error> {
    let metadata = by.metadata(ctx)?;
    app.store
        .execute::<User>(
            &user_id.to_string(),
            UserCommand::LeaveAccount {
                account: account_id,
            },
            &metadata,
        )
        .await?;
    Ok(())
}

/// The live accounts `user` is a member of, in the order joined.
pub async fn of_user(app: &App, user: &User) -> Result<Vec<AccountView>, Error> {
    let mut accounts = Vec::with_capacity(user.accounts().len());
    for membership in user.accounts() {
        match account(app, membership.account).await {
            Ok(title) => accounts.push(AccountView {
                id: membership.account,
                title: title.to_string(),
                roles: membership.roles.clone(),
            }),
            // An account deleted since: not offered.
            Err(Error::NotFound) => {}
            Err(other) => return Err(other),
        }
    }
    Ok(accounts)
}

/// The account `user_id` chose last (in any of their recent sessions).
pub async fn last_chosen(app: &App, user_id: Uuid) -> Result<Option<Uuid>, Error> {
    let recent =
        projections::sessions::recent_of_user(app.read_models().await, user_id, RECENT_SESSIONS)
            .await?;
    let mut last: Option<(Uuid, DateTime<Utc>)> = None;
    for row in recent {
        let session = app
            .store
            .load::<Session>(&row.session_id.to_string())
            .await?
            .state;
        if let Some((account, at)) = session.account() {
            if last.is_none_or(|(_, seen)| at > seen) {
                last = Some((account, at));
            }
        }
    }
    Ok(last.map(|(account, _)| account))
}

/// Makes the session act in `account_id`: `NotFound` unless its user is a
/// member of that live account (nothing is recorded then).
pub async fn choose(
    app: &App,
    principal: &CookiePrincipal,
    account_id: Uuid,
    ctx: &RequestContext,
) -> Result<CookiePrincipal, Error> {
    let user = app.actors.state(app, principal.user_id).await?;
    if !user
        .state
        .accounts()
        .iter()
        .any(|m| m.account == account_id)
    {
        return Err(Error::NotFound);
    }
    account(app, account_id).await?;
    cookie::select_account(app, principal, account_id, ctx).await
}
