//! Facility users as a signed-in actor sees and changes them: lists in the
//! actor's scope, reading, creating, editing, deleting, and signing up.
//! Every permission is asked of [`crate::access`]; the rules of what a
//! facility user may be are in [`super::facility_users`].

use projections::facility_users::{FacilityUserRow, Filter, Listed, Order, RoleRow, UserType};
use uuid::Uuid;

use super::sessions::Verified;
use super::{facilities, facility_users, RequestContext};
use crate::access::{self, Action, Actor, Resource, Visibility};
use crate::{App, Error};

/// What a list asks for, beyond the actor's scope.
#[derive(Debug, Default, Clone)]
pub struct ListQuery {
    /// Members of this collection (a facility, classroom or learner group).
    pub member_of: Option<Uuid>,
    /// Of this kind.
    pub user_type: Option<UserType>,
    /// Every term in the username or full name.
    pub search: Option<String>,
    /// The order.
    pub order: Option<Order>,
}

/// The filter of a list `actor` asks for: their scope (every facility,
/// theirs, or themselves) narrowed by `query`. `NotFound` for a
/// `member_of` that is no collection.
pub async fn filter(app: &App, actor: &Actor, query: ListQuery) -> Result<Filter, Error> {
    let mut filter = Filter::default();
    match access::visible_users(actor) {
        Visibility::Everyone => {}
        Visibility::Facility(facility) => filter.facility = Some(facility),
        Visibility::Themselves => filter.only_user = Some(actor.user_id),
    }
    if let Some(order) = query.order {
        filter.order = order;
    }
    if let Some(id) = query.member_of {
        match facilities::collection_kind(app, id).await? {
            Some(aggregates::OrganizationKind::Facility) => {
                // Another facility than the one in scope: nobody.
                if filter.facility.is_some_and(|f| f != id) {
                    filter.only_user = Some(Uuid::nil());
                }
                filter.facility = Some(id);
            }
            Some(
                aggregates::OrganizationKind::Classroom
                | aggregates::OrganizationKind::LearnerGroup,
            ) => filter.member_of = Some(id),
            _ => return Err(Error::NotFound),
        }
    }
    filter.user_types.extend(query.user_type);
    if let Some(search) = &query.search {
        crate::input::plain(search, "search")?;
    }
    filter.search = query.search.filter(|s| !s.trim().is_empty());
    Ok(filter)
}

/// A page of a list (`limit` users from `offset`) and the count of all.
pub async fn page(
    app: &App,
    filter: &Filter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Listed>, i64), Error> {
    Ok(projections::facility_users::list(app.read_models().await, filter, limit, offset).await?)
}

/// Live users with their roles, as the read models show them.
pub async fn with_roles(
    app: &App,
    rows: Vec<FacilityUserRow>,
) -> Result<Vec<(FacilityUserRow, Vec<RoleRow>)>, Error> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.user_id).collect();
    let mut by_user: std::collections::HashMap<Uuid, Vec<RoleRow>> = Default::default();
    for role in projections::facility_users::roles_of(app.read_models().await, &ids).await? {
        by_user.entry(role.user_id).or_default().push(role);
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let roles = by_user.remove(&row.user_id).unwrap_or_default();
            (row, roles)
        })
        .collect())
}

/// One live user as the read models show them, with their roles.
pub async fn find(app: &App, user_id: Uuid) -> Result<(FacilityUserRow, Vec<RoleRow>), Error> {
    let row = projections::facility_users::find(app.read_models().await, user_id)
        .await?
        .ok_or(Error::NotFound)?;
    with_roles(app, vec![row])
        .await?
        .pop()
        .ok_or(Error::NotFound)
}

/// One user `actor` may read; `NotFound` otherwise (what one may not read
/// one does not learn exists).
pub async fn read(
    app: &App,
    actor: &Actor,
    user_id: Uuid,
) -> Result<(FacilityUserRow, Vec<RoleRow>), Error> {
    let (row, roles) = find(app, user_id).await?;
    let resource = Resource::User {
        id: user_id,
        facility: Some(row.facility_id),
    };
    access::authorize(actor, Action::ReadUser, &resource).map_err(|_| Error::NotFound)?;
    Ok((row, roles))
}

/// The users of `ids` that `actor` may read, by username (the others, and
/// ids of nobody, are left out).
pub async fn read_many(
    app: &App,
    actor: &Actor,
    ids: &[Uuid],
) -> Result<Vec<(FacilityUserRow, Vec<RoleRow>)>, Error> {
    let mut found = Vec::new();
    for id in ids {
        match read(app, actor, *id).await {
            Ok(user) => found.push(user),
            Err(Error::NotFound) => {}
            Err(other) => return Err(other),
        }
    }
    found.sort_by_key(|(user, _)| user.username.to_lowercase());
    found.dedup_by(|(a, _), (b, _)| a.user_id == b.user_id);
    Ok(found)
}

/// Deletes the users of `ids` as `actor`: every one must be theirs to
/// delete (403, nobody deleted, otherwise; ids of nobody are skipped).
pub async fn delete_many(
    app: &App,
    actor: &Actor,
    ids: &[Uuid],
    ctx: &RequestContext,
) -> Result<(), Error> {
    let mut doomed = Vec::new();
    for id in ids {
        match authorize_on_user(app, actor, Action::DeleteUser, *id).await {
            Ok(()) => doomed.push(*id),
            Err(Error::NotFound) => {}
            Err(other) => return Err(other),
        }
    }
    let ctx = &ctx.acting_as(actor.user_id);
    for id in doomed {
        facility_users::delete(app, id, ctx).await?;
    }
    Ok(())
}

/// Whether `actor` may do `action` on the live facility user `user_id`:
/// `NotFound` for no such user, 403 when not allowed.
async fn authorize_on_user(
    app: &App,
    actor: &Actor,
    action: Action,
    user_id: Uuid,
) -> Result<(), Error> {
    let user = app
        .store
        .load::<aggregates::User>(&user_id.to_string())
        .await?;
    let facility = match (user.state.is_active(), user.state.facility()) {
        (true, Some(facility)) => facility,
        _ => return Err(Error::NotFound),
    };
    let resource = Resource::User {
        id: user_id,
        facility: Some(facility),
    };
    access::authorize(actor, action, &resource)
}

/// Edits a user as `actor` (themselves, or a user of a facility they
/// manage): see [`facility_users::edit`]. A new password of one's own keeps
/// the session one acts from.
pub async fn edit(
    app: &App,
    actor: &Actor,
    user_id: Uuid,
    fields: facility_users::Fields,
    ctx: &RequestContext,
) -> Result<(), Error> {
    authorize_on_user(app, actor, Action::EditUser, user_id).await?;
    let keep = (user_id == actor.user_id).then_some(actor.session_id);
    let ctx = &ctx.acting_as(actor.user_id);
    facility_users::edit(app, user_id, fields, keep, ctx).await
}

/// Deletes a user as `actor`: see [`facility_users::delete`].
pub async fn delete(
    app: &App,
    actor: &Actor,
    user_id: Uuid,
    ctx: &RequestContext,
) -> Result<(), Error> {
    authorize_on_user(app, actor, Action::DeleteUser, user_id).await?;
    facility_users::delete(app, user_id, &ctx.acting_as(actor.user_id)).await
}

/// Creates a user of `facility` as `actor` (who manages it); their id.
pub async fn create(
    app: &App,
    actor: &Actor,
    facility: Uuid,
    fields: facility_users::Fields,
    ctx: &RequestContext,
) -> Result<Uuid, Error> {
    access::authorize(actor, Action::CreateUser, &Resource::Facility(facility))?;
    facility_users::create(app, facility, fields, &ctx.acting_as(actor.user_id)).await
}

/// Signs a learner up in `facility` (403 unless it lets learners sign
/// up); their credentials, checked as they were just set, to log in with.
pub async fn sign_up(
    app: &App,
    facility: Uuid,
    fields: facility_users::Fields,
    ctx: &RequestContext,
) -> Result<Verified, Error> {
    super::anonymous_limits::check(app, super::anonymous_limits::Action::Registration, ctx)?;
    if !facilities::settings(app, facility)
        .await?
        .learner_can_sign_up
    {
        return Err(Error::Forbidden);
    }
    let user_id = facility_users::create(app, facility, fields, ctx).await?;
    Ok(Verified {
        user: app
            .store
            .load::<aggregates::User>(&user_id.to_string())
            .await?,
        user_id,
        auth_time: chrono::Utc::now(),
    })
}

/// The usernames of learners who sign in without a password, for a sign-in
/// page to suggest: only in facilities that let learners in without one
/// (Kolibri makes these public there), only users with no role who are not
/// the administrator, beginning with every term of `search` (any case).
/// `NotFound` for a `facility` that is no facility.
pub async fn passwordless_usernames(
    app: &App,
    facility: Option<Uuid>,
    search: Option<&str>,
) -> Result<Vec<String>, Error> {
    let in_scope = match facility {
        Some(id) if facilities::is_facility(app, id).await? => vec![id],
        Some(_) => return Err(Error::NotFound),
        None => projections::organizations::facilities(app.read_models().await).await?,
    };
    let terms: Vec<String> = crate::input::plain(search.unwrap_or_default(), "search")?
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect();
    let mut names = Vec::new();
    for id in in_scope {
        if !facilities::settings(app, id)
            .await?
            .learner_can_login_with_no_password
        {
            continue;
        }
        // In the order they joined (Kolibri's rows come unordered, as
        // stored: in the order they were made).
        let filter = Filter {
            facility: Some(id),
            user_types: vec![UserType::Learner],
            order: Order::parse("date_joined").unwrap_or_default(),
            ..Filter::default()
        };
        let (rows, _) = page(app, &filter, SUGGESTIONS_SCANNED, 0).await?;
        names.extend(
            rows.into_iter()
                .map(|listed| listed.user.username)
                .filter(|name| {
                    let name = name.to_lowercase();
                    terms.iter().all(|term| name.starts_with(term.as_str()))
                }),
        );
    }
    Ok(names)
}

/// Most learners of one facility looked at for suggestions.
const SUGGESTIONS_SCANNED: i64 = 10_000;

/// Which of a facility's settings to change (`None`: as they are).
#[derive(Debug, Default, Clone, Copy)]
pub struct SettingsChange {
    /// Learners may change their username.
    pub learner_can_edit_username: Option<bool>,
    /// Learners may change their full name.
    pub learner_can_edit_name: Option<bool>,
    /// Learners may change their password.
    pub learner_can_edit_password: Option<bool>,
    /// Anyone may sign up as a learner.
    pub learner_can_sign_up: Option<bool>,
    /// Learners may delete their account.
    pub learner_can_delete_account: Option<bool>,
    /// Learners sign in without a password.
    pub learner_can_login_with_no_password: Option<bool>,
    /// Learn shows download buttons.
    pub show_download_button_in_learn: Option<bool>,
}

/// Changes a facility's settings as `actor` (an admin of it, or the
/// administrator); the facility afterwards. The change is checked only
/// once the actor may make it (`change` is the surface's reading of the
/// request, refused or not), so what one may not do one learns nothing
/// about. Signing in without a password and changing one's password
/// exclude each other (Kolibri refuses the pair).
pub async fn change_settings(
    app: &App,
    actor: &Actor,
    facility: Uuid,
    change: Result<SettingsChange, Error>,
    ctx: &RequestContext,
) -> Result<facilities::FacilityView, Error> {
    access::authorize(actor, Action::ManageFacility, &Resource::Facility(facility))?;
    let change = change?;
    let mut settings = facilities::settings(app, facility).await?;
    let apply = |slot: &mut bool, value: Option<bool>| *slot = value.unwrap_or(*slot);
    apply(
        &mut settings.learner_can_edit_username,
        change.learner_can_edit_username,
    );
    apply(
        &mut settings.learner_can_edit_name,
        change.learner_can_edit_name,
    );
    apply(
        &mut settings.learner_can_edit_password,
        change.learner_can_edit_password,
    );
    apply(
        &mut settings.learner_can_sign_up,
        change.learner_can_sign_up,
    );
    apply(
        &mut settings.learner_can_delete_account,
        change.learner_can_delete_account,
    );
    apply(
        &mut settings.learner_can_login_with_no_password,
        change.learner_can_login_with_no_password,
    );
    apply(
        &mut settings.show_download_button_in_learn,
        change.show_download_button_in_learn,
    );
    if settings.learner_can_login_with_no_password && settings.learner_can_edit_password {
        return Err(Error::invalid(
            "INCOMPATIBLE_SETTINGS",
            "Incompatible device setting",
        ));
    }
    facilities::change_settings_as(app, facility, settings, actor.user_id, ctx).await?;
    facilities::view(app, facility)
        .await?
        .ok_or(Error::NotFound)
}

impl From<aggregates::FacilitySettings> for SettingsChange {
    /// Every setting, to these values.
    fn from(s: aggregates::FacilitySettings) -> Self {
        Self {
            learner_can_edit_username: Some(s.learner_can_edit_username),
            learner_can_edit_name: Some(s.learner_can_edit_name),
            learner_can_edit_password: Some(s.learner_can_edit_password),
            learner_can_sign_up: Some(s.learner_can_sign_up),
            learner_can_delete_account: Some(s.learner_can_delete_account),
            learner_can_login_with_no_password: Some(s.learner_can_login_with_no_password),
            show_download_button_in_learn: Some(s.show_download_button_in_learn),
        }
    }
}

/// Resets a facility's settings to those of its preset, as `actor` (an
/// admin of it, or the administrator). The preset is read from the
/// settings (eventauth keeps no preset apart from them: `formal` when they
/// are formal's, else `nonformal`).
pub async fn reset_settings(
    app: &App,
    actor: &Actor,
    facility: Uuid,
    ctx: &RequestContext,
) -> Result<facilities::FacilityView, Error> {
    access::authorize(actor, Action::ManageFacility, &Resource::Facility(facility))?;
    let view = facilities::view(app, facility)
        .await?
        .ok_or(Error::NotFound)?;
    let preset = facilities::preset(view.preset())?;
    change_settings(app, actor, facility, Ok(preset.into()), ctx).await
}
