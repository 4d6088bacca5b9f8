//! Reading users: the shape every surface renders from.

use aggregates::User;
use chrono::{DateTime, Utc};
use projections::users::UserRow;
use uuid::Uuid;

use crate::access::{self, Action, Actor, Resource};
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
    /// Disabled by an administrator.
    pub disabled: bool,
    /// The profile beyond the names.
    pub profile: ProfileView,
    /// The subscription as last recorded.
    pub subscription: SubscriptionView,
    /// Categories of the last index run.
    pub categories: Vec<String>,
    /// Registered.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// Profile fields beyond the names (`None`: unset).
#[derive(Debug, Clone, Default)]
pub struct ProfileView {
    /// Public.
    pub nickname: Option<String>,
    /// Public.
    pub bio: Option<String>,
    /// Public.
    pub location: Option<String>,
    /// Public.
    pub website: Option<String>,
    /// Private.
    pub phone: Option<String>,
    /// Private, `YYYY-MM-DD`.
    pub birth_date: Option<String>,
    /// Public.
    pub language: Option<String>,
    /// Public.
    pub timezone: Option<String>,
    /// Public: the picture's blob key.
    pub image_key: Option<String>,
}

/// A subscription as last recorded.
#[derive(Debug, Clone)]
pub struct SubscriptionView {
    /// Plan slug.
    pub plan: Option<String>,
    /// `none`, `active`, `canceled`, `expired`.
    pub status: String,
    /// End.
    pub valid_until: Option<DateTime<Utc>>,
}

impl From<Option<&aggregates::SubscriptionState>> for SubscriptionView {
    fn from(state: Option<&aggregates::SubscriptionState>) -> Self {
        Self {
            plan: state.and_then(|s| s.plan.clone()),
            status: state
                .map_or(aggregates::SubscriptionStatus::None, |s| s.status)
                .as_str()
                .to_string(),
            valid_until: state.and_then(|s| s.valid_until),
        }
    }
}

impl From<&aggregates::Profile> for ProfileView {
    fn from(p: &aggregates::Profile) -> Self {
        let text =
            |v: &Option<aggregates::Personal<String>>| v.as_ref().map(|v| v.expose().clone());
        Self {
            nickname: text(&p.nickname),
            bio: text(&p.bio),
            location: text(&p.location),
            website: text(&p.website),
            phone: text(&p.phone),
            birth_date: p.birth_date.as_ref().map(|d| d.expose().to_string()),
            language: p.language.clone(),
            timezone: p.timezone.clone(),
            image_key: p.image.as_ref().map(|i| i.key.clone()),
        }
    }
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
            disabled: row.disabled,
            profile: ProfileView {
                nickname: row.nickname,
                bio: row.bio,
                location: row.location,
                website: row.website,
                phone: row.phone,
                birth_date: row.birth_date,
                language: row.language,
                timezone: row.timezone,
                image_key: row.image_key,
            },
            subscription: SubscriptionView {
                plan: row.subscription_plan,
                status: row.subscription_status,
                valid_until: row.subscription_valid_until,
            },
            categories: row.categories.0,
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
            disabled: user.is_disabled(),
            profile: ProfileView::from(user.profile()),
            subscription: SubscriptionView::from(user.subscription_state()),
            categories: user.categories().to_vec(),
            created_at: user.registered_at()?,
            updated_at: user.updated_at()?,
        })
    }
}

/// One account as its administrators see it (403 for anyone else; 404 when
/// there is none).
pub async fn find_as(app: &App, actor: &Actor, id: Uuid) -> Result<UserView, Error> {
    access::authorize(actor, Action::ManageAccounts, &Resource::Service)?;
    find(app, id).await
}

/// One user as the read models show them.
pub async fn find(app: &App, id: Uuid) -> Result<UserView, Error> {
    projections::users::find(app.read_models().await, id)
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
    app.store
        .execute::<User>(
            &principal.user_id.to_string(),
            aggregates::UserCommand::CompleteTutorial,
            &ctx.metadata().acting_as(principal.user_id),
        )
        .await?;
    Ok(())
}

/// What an administrator asks of the user list.
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// 1-based page.
    pub page: i64,
    /// Users per page (1–100).
    pub page_size: i64,
    /// Case-insensitive substring of the email or a name.
    pub search: Option<String>,
    /// Order.
    pub sort: projections::users::Sort,
}

/// The sort keys the list accepts (`-` in front: descending).
pub const SORT_KEYS: &[(&str, &str)] = &[
    ("createdAt", "created_at"),
    ("updatedAt", "updated_at"),
    ("email", "email"),
    ("firstName", "first_name"),
    ("lastName", "last_name"),
];

impl ListQuery {
    /// From the wire values (all optional); 400 for anything out of range.
    pub fn parse(
        page: Option<&str>,
        page_size: Option<&str>,
        search: Option<&str>,
        sort: Option<&str>,
    ) -> Result<Self, Error> {
        let number = |value: Option<&str>, field: &'static str, default: i64, max: i64| match value
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            None => Ok(default),
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    Error::invalid_field(
                        field,
                        "INVALID_NUMBER",
                        format!("{field} must be a whole number from 1 to {max}"),
                    )
                }),
        };
        let page = number(page, "page", 1, 1_000_000)?;
        let page_size = number(page_size, "pageSize", 20, 100)?;
        let search = search
            .map(|s| crate::input::plain(s.trim(), "search"))
            .transpose()?
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        if search.as_ref().is_some_and(|s| s.chars().count() > 254) {
            return Err(Error::invalid_field(
                "search",
                "TOO_LONG",
                "search must be at most 254 characters",
            ));
        }
        let sort = sort
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or("createdAt");
        let (descending, key) = match sort.strip_prefix('-') {
            Some(key) => (true, key),
            None => (false, sort),
        };
        let column = SORT_KEYS
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, column)| *column)
            .ok_or_else(|| {
                Error::invalid_field(
                    "sort",
                    "INVALID_SORT",
                    "sort must be one of createdAt, updatedAt, email, firstName, lastName, \
                     optionally prefixed with - for descending",
                )
            })?;
        Ok(Self {
            page,
            page_size,
            search,
            sort: projections::users::Sort { column, descending },
        })
    }
}

/// A page of users (administrators only) and the number of all matches.
pub async fn list(
    app: &App,
    actor: &Actor,
    query: &ListQuery,
) -> Result<(Vec<UserView>, i64), Error> {
    access::authorize(actor, Action::ManageAccounts, &Resource::Service)?;
    let (rows, total) = projections::users::list(
        app.read_models().await,
        query.search.as_deref(),
        query.sort,
        query.page_size,
        (query.page - 1) * query.page_size,
    )
    .await?;
    Ok((rows.into_iter().map(UserView::from).collect(), total))
}
