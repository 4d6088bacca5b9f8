//! Kolibri's use cases on top of the shared ones: logging in by username in
//! a facility (Kolibri's answers for each way it fails), the session
//! object, facility users with Kolibri's permissions, sign-up.
//!
//! Permissions as Kolibri 0.19.5 (`FacilityUser.permissions = own | admin |
//! role`): a user reads and edits (and deletes) themselves; an admin of a
//! facility manages its users; a coach or admin reads the users of the
//! facility they hold the role for; the superuser (the global `admin` role)
//! does anything.

use aggregates::{FacilitySettings, Organization, OrganizationKind, RoleKind, User, UserCommand};
use uuid::Uuid;

use super::cookie_sessions::{self, CookiePrincipal};
use super::sessions::{verify_login, Attempt, Identifier, Refused, Verified};
use super::RequestContext;
use crate::input::{Password, Username};
use crate::store::Loaded;
use crate::{App, Error};

/// The surface name recorded on Kolibri sessions.
pub const SURFACE: &str = "kolibri";

/// Kolibri's session object for a signed-in user (`FacilityUser.session_data`).
#[derive(Debug, Clone)]
pub struct SessionData {
    /// Username.
    pub username: String,
    /// Full name.
    pub full_name: String,
    /// User id.
    pub user_id: Uuid,
    /// `superuser` first when one, then role kinds; `learner` without any.
    pub kind: Vec<String>,
    /// Device permission to manage content (superusers have it).
    pub can_manage_content: bool,
    /// The user's facility.
    pub facility_id: Option<Uuid>,
}

/// The session object of `user`.
pub fn session_data(user_id: Uuid, user: &User) -> SessionData {
    let mut kind = Vec::new();
    if user.is_superuser() {
        kind.push("superuser".to_string());
    }
    for role in user.collection_roles() {
        let name = role.kind.kolibri().to_string();
        if !kind.contains(&name) {
            kind.push(name);
        }
    }
    if kind.is_empty() {
        kind.push("learner".to_string());
    }
    SessionData {
        username: user.username().expose().clone(),
        full_name: user.full_name().expose().clone(),
        user_id,
        kind,
        can_manage_content: user.is_superuser(),
        facility_id: user.facility(),
    }
}

/// The default facility: the first one created (Kolibri's
/// `Facility.get_default_facility` without device settings).
pub async fn default_facility(app: &App) -> Result<Option<Uuid>, Error> {
    Ok(projections::organizations::facilities(app.store.db())
        .await?
        .first()
        .copied())
}

/// A facility's settings; 404 for anything but a facility.
pub async fn facility_settings(app: &App, facility: Uuid) -> Result<FacilitySettings, Error> {
    let loaded = app
        .store
        .load::<Organization>(&facility.to_string())
        .await?;
    match (loaded.state.kind(), loaded.state.settings()) {
        (Some(OrganizationKind::Facility), Some(settings)) => Ok(settings),
        (Some(OrganizationKind::Facility), None) => Ok(FacilitySettings::default()),
        _ => Err(Error::NotFound),
    }
}

/// The kind of a collection (an organization's kind never changes, so
/// it is remembered once read); `None` for no organization.
pub async fn collection_kind(app: &App, id: Uuid) -> Result<Option<OrganizationKind>, Error> {
    static KINDS: std::sync::LazyLock<dashmap::DashMap<Uuid, OrganizationKind>> =
        std::sync::LazyLock::new(dashmap::DashMap::new);
    if let Some(kind) = KINDS.get(&id) {
        return Ok(Some(*kind));
    }
    let kind = app
        .store
        .load::<Organization>(&id.to_string())
        .await?
        .state
        .kind();
    if let Some(kind) = kind {
        KINDS.insert(id, kind);
    }
    Ok(kind)
}

/// Whether `id` is a facility (remembered once read: checking it again
/// costs no round trip).
pub async fn is_facility(app: &App, id: Uuid) -> Result<bool, Error> {
    Ok(collection_kind(app, id).await? == Some(OrganizationKind::Facility))
}

/// Checks Kolibri credentials: `username` in `facility`, then (as
/// Kolibri's superuser scope does) a superuser of that name in any other
/// facility. Failures come out as Kolibri says them: 400 `NOT_FOUND`
/// (username), `PASSWORD_NOT_SPECIFIED`, `MISSING_PASSWORD`, or 401
/// `INVALID_CREDENTIALS`.
pub async fn verify(
    app: &App,
    facility: Uuid,
    username: &str,
    password: &str,
    ctx: &RequestContext,
) -> Result<Verified, Error> {
    let settings = facility_settings(app, facility).await?;
    let not_found = || Error::invalid_field("username", "NOT_FOUND", "Username not found.");
    let Ok(username) = Username::parse(username, "username") else {
        return Err(not_found());
    };
    let password = match password {
        "" => None,
        raw => Some(Password::presented(raw.to_string(), "password")?),
    };
    let identifier = Identifier::Username { facility, username };
    let attempt = Attempt {
        identifier: &identifier,
        password: password.as_ref(),
        passwordless: settings.learner_can_login_with_no_password,
    };
    let refused = match verify_login(app, attempt, ctx).await? {
        Ok(verified) => return Ok(verified),
        Err(refused) => refused,
    };
    if let (Refused::UnknownIdentifier, Some(password)) = (refused, &password) {
        if let Some(verified) = verify_superuser(app, &identifier, password, ctx).await? {
            return Ok(verified);
        }
    }
    Err(match refused {
        Refused::UnknownIdentifier => not_found(),
        Refused::NoPasswordSet => Error::invalid_field(
            "password",
            "PASSWORD_NOT_SPECIFIED",
            "Username is valid, but password needs to be set before login.",
        ),
        Refused::MissingPassword => Error::invalid_field(
            "password",
            "MISSING_PASSWORD",
            "Username is valid, but password is missing.",
        ),
        Refused::WrongPassword => Error::InvalidCredentials,
    })
}

/// Kolibri's `{user_id, auth_token}` login: the user of `facility` the
/// token was made for, within its fifteen minutes; `None` otherwise (the
/// caller falls back to username and password, as Kolibri does).
pub async fn verify_auth_token(
    app: &App,
    facility: Uuid,
    user_id: &str,
    token: &str,
) -> Result<Option<Verified>, Error> {
    let Ok(user_id) = crate::input::parse_id(user_id, "user_id") else {
        return Ok(None);
    };
    let now = chrono::Utc::now();
    if !app
        .tokens
        .check_kolibri_auth_token(user_id, token, now.timestamp())
    {
        return Ok(None);
    }
    let user = app.store.load::<User>(&user_id.to_string()).await?;
    let usable = user.state.is_active()
        && !user.state.is_disabled()
        && user.state.facility() == Some(facility);
    Ok(usable.then_some(Verified {
        user,
        user_id,
        auth_time: now,
    }))
}

/// A login token for `user` (Kolibri's `auth_token`, fifteen minutes).
pub async fn login_token(app: &App, user_id: Uuid) -> Result<String, Error> {
    let user = app.store.load::<User>(&user_id.to_string()).await?;
    if !user.state.is_active() || user.state.facility().is_none() {
        return Err(Error::NotFound);
    }
    Ok(app
        .tokens
        .kolibri_auth_token(user_id, chrono::Utc::now().timestamp()))
}

/// A superuser of the same username in another facility, with this
/// password.
async fn verify_superuser(
    app: &App,
    identifier: &Identifier,
    password: &Password,
    ctx: &RequestContext,
) -> Result<Option<Verified>, Error> {
    let Identifier::Username { facility, username } = identifier else {
        return Ok(None);
    };
    for other in projections::organizations::facilities(app.store.db()).await? {
        if other == *facility {
            continue;
        }
        let candidate = Identifier::Username {
            facility: other,
            username: username.clone(),
        };
        let is_superuser = super::sessions::holder(app, &candidate)
            .await?
            .is_some_and(|u| u.state.is_superuser());
        if !is_superuser {
            continue;
        }
        let attempt = Attempt {
            identifier: &candidate,
            password: Some(password),
            passwordless: false,
        };
        if let Ok(verified) = verify_login(app, attempt, ctx).await? {
            return Ok(Some(verified));
        }
    }
    Ok(None)
}

/// The signed-in caller with their current state.
#[derive(Debug)]
pub struct Caller {
    /// Their session.
    pub principal: CookiePrincipal,
    /// Their state.
    pub user: std::sync::Arc<Loaded<User>>,
}

impl Caller {
    /// Loads the caller behind a session.
    pub async fn load(app: &App, principal: CookiePrincipal) -> Result<Self, Error> {
        let user = cookie_sessions::caller_state(app, principal.user_id).await?;
        if !user.state.is_active() {
            return Err(Error::Unauthenticated);
        }
        Ok(Self { principal, user })
    }

    /// Whether the caller holds one of `kinds` for `collection`.
    fn holds(&self, kinds: &[RoleKind], collection: Uuid) -> bool {
        self.user
            .state
            .collection_roles()
            .iter()
            .any(|r| r.collection == collection && kinds.contains(&r.kind))
    }

    /// Whether the caller may create, edit and delete users of `facility`.
    pub fn manages(&self, facility: Uuid) -> bool {
        self.user.state.is_superuser() || self.holds(&[RoleKind::Admin], facility)
    }

    /// Whether the caller may read the users of `facility`.
    pub fn reads_facility(&self, facility: Uuid) -> bool {
        self.manages(facility)
            || self.holds(&[RoleKind::Coach, RoleKind::AssignableCoach], facility)
    }

    /// Whether the caller may read `target` (of `facility`).
    pub fn reads(&self, target: Uuid, facility: Uuid) -> bool {
        target == self.principal.user_id || self.reads_facility(facility)
    }

    /// Whether the caller may edit or delete `target` (of `facility`).
    pub fn edits(&self, target: Uuid, facility: Uuid) -> bool {
        target == self.principal.user_id || self.manages(facility)
    }

    /// What a list shows this caller: every facility (superuser), the
    /// facility they read, or only themselves.
    pub fn list_scope(&self) -> projections::facility_users::Filter {
        let mut filter = projections::facility_users::Filter::default();
        if self.user.state.is_superuser() {
            return filter;
        }
        match self.user.state.facility() {
            Some(facility) if self.reads_facility(facility) => filter.facility = Some(facility),
            _ => filter.only_user = Some(self.principal.user_id),
        }
        filter
    }
}

/// The kind of a collection and the facility it belongs to (itself for a
/// facility, the parent of a classroom, the grandparent of a learner
/// group); `None` for anything else.
async fn placed(app: &App, collection: Uuid) -> Result<Option<(OrganizationKind, Uuid)>, Error> {
    let parent_of = |id: Uuid| async move {
        Ok::<_, Error>(
            app.store
                .load::<Organization>(&id.to_string())
                .await?
                .state
                .parent(),
        )
    };
    let Some(kind) = collection_kind(app, collection).await? else {
        return Ok(None);
    };
    let facility = match kind {
        OrganizationKind::Facility => Some(collection),
        OrganizationKind::Classroom => parent_of(collection).await?,
        OrganizationKind::LearnerGroup => match parent_of(collection).await? {
            Some(classroom) => parent_of(classroom).await?,
            None => None,
        },
        _ => None,
    };
    Ok(facility.map(|facility| (kind, facility)))
}

/// Runs `command` on a facility user after `fits` accepted the collection
/// it is about (its kind and facility, given the user's facility).
async fn in_own_facility(
    app: &App,
    user_id: Uuid,
    collection: Uuid,
    fits: impl FnOnce(OrganizationKind) -> bool,
    refusal: &'static str,
    command: UserCommand,
    ctx: &RequestContext,
) -> Result<(), Error> {
    let user = app.store.load::<User>(&user_id.to_string()).await?;
    let facility = user.state.facility().ok_or(Error::NotFound)?;
    let fitting = placed(app, collection)
        .await?
        .is_some_and(|(kind, owner)| owner == facility && fits(kind));
    if !fitting {
        return Err(Error::invalid_field("collection", "INVALID", refusal));
    }
    let committed = app
        .store
        .execute_on::<User>(&user_id.to_string(), user, command, &ctx.metadata())
        .await?;
    app.settle(committed.written.as_ref()).await
}

/// Gives `user` a role for a collection of their facility: `admin` and
/// `classroom assignable coach` for the facility itself, `coach` for the
/// facility or one of its classrooms.
pub async fn assign_role(
    app: &App,
    user_id: Uuid,
    collection: Uuid,
    kind: RoleKind,
    ctx: &RequestContext,
) -> Result<(), Error> {
    let command = UserCommand::AssignCollectionRole {
        role_id: Uuid::now_v7(),
        collection,
        kind,
    };
    let fits = |target| match target {
        OrganizationKind::Facility => true,
        OrganizationKind::Classroom => kind == RoleKind::Coach,
        _ => false,
    };
    let refusal = "admin and classroom assignable coach roles are for the user's facility; coach for it or one of its classrooms";
    in_own_facility(app, user_id, collection, fits, refusal, command, ctx).await
}

/// Makes `user` a member of a classroom or learner group of their facility.
pub async fn enroll(
    app: &App,
    user_id: Uuid,
    collection: Uuid,
    ctx: &RequestContext,
) -> Result<(), Error> {
    let fits = |target| {
        matches!(
            target,
            OrganizationKind::Classroom | OrganizationKind::LearnerGroup
        )
    };
    let refusal = "members join a classroom or learner group of their own facility";
    let command = UserCommand::JoinCollection { collection };
    in_own_facility(app, user_id, collection, fits, refusal, command, ctx).await
}

/// Makes `user` a superuser (the global administrator role) and, as
/// Kolibri's `create_superuser` does, an admin of their facility.
pub async fn make_superuser(app: &App, user_id: Uuid, ctx: &RequestContext) -> Result<(), Error> {
    let committed = app
        .store
        .execute::<User>(
            &user_id.to_string(),
            UserCommand::GrantRole {
                role: aggregates::SUPERUSER_ROLE.to_string(),
            },
            &ctx.metadata(),
        )
        .await?;
    app.settle(committed.written.as_ref()).await?;
    if let Some(facility) = committed.state.facility() {
        assign_role(app, user_id, facility, RoleKind::Admin, ctx).await?;
    }
    Ok(())
}
