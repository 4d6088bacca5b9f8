//! Kolibri facility users: registered with a username unique in their
//! facility (case-insensitive), maybe without a password.
//!
//! Same order as email registration ([`super::accounts`]): check the
//! username is free (before any hashing), hash, claim it for a
//! pre-generated user id, then write the user.

use aggregates::{Demographics, IdentifierClaim, Personal, User, UserCommand};
use uuid::Uuid;

use super::sessions::Identifier;
use super::RequestContext;
use crate::input::{Password, Username};
use crate::{App, Error};

/// What a facility user's registration needs.
pub struct FacilityRegistration {
    /// The facility.
    pub facility: Uuid,
    /// Unique in the facility.
    pub username: Username,
    /// Full name (up to 120 characters, may be empty as in Kolibri).
    pub full_name: String,
    /// None: a user without a password.
    pub password: Option<super::accounts::Credential>,
    /// Kolibri's demographic fields (checked by the caller).
    pub demographics: Demographics,
}

impl std::fmt::Debug for FacilityRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Personal data stays out of any log line.
        f.debug_struct("FacilityRegistration")
            .field("facility", &self.facility)
            .field("username", &self.username)
            .field("has_password", &self.password.is_some())
            .finish_non_exhaustive()
    }
}

/// Registers a facility user; their id, once the read models show them.
pub async fn register(
    app: &App,
    input: FacilityRegistration,
    ctx: &RequestContext,
) -> Result<Uuid, Error> {
    let full_name = input.full_name.trim().to_string();
    if full_name.chars().count() > 120 || full_name.chars().any(char::is_control) {
        return Err(Error::invalid_field(
            "full_name",
            "INVALID",
            "full_name must be at most 120 printable characters",
        ));
    }
    require_facility(app, input.facility).await?;
    let identifier = Identifier::Username {
        facility: input.facility,
        username: input.username.clone(),
    };
    let user_id = Uuid::now_v7();
    super::accounts::claim_and_create(
        app,
        &identifier,
        user_id,
        input.password.as_ref(),
        |password_hash| UserCommand::RegisterInFacility {
            user_id,
            facility: input.facility,
            username: Personal::new(input.username.as_str().to_string()),
            full_name: Personal::new(full_name),
            password_hash,
            demographics: input.demographics,
        },
        &ctx.metadata(),
    )
    .await
    .map_err(username_taken)?;
    Ok(user_id)
}

/// Whether `username` is free in `facility` (a claim whose user was never
/// written counts as taken until it is stale and taken over).
pub async fn available(app: &App, facility: Uuid, username: &Username) -> Result<bool, Error> {
    require_facility(app, facility).await?;
    let identifier = Identifier::Username {
        facility,
        username: username.clone(),
    };
    let claim = app
        .store
        .load::<IdentifierClaim>(&identifier.claim_id(app))
        .await?;
    let Some(owner) = claim.state.owner() else {
        return Ok(true);
    };
    // An owner whose stream was never written is a registration in
    // flight (taken); a deleted or renamed owner gave the name up.
    let owner = app.store.load::<User>(&owner.to_string()).await?.state;
    Ok(owner.is_registered() && !identifier.held_by(&owner))
}

/// 404 unless `facility` is a facility (the kind is remembered: no round
/// trip after the first).
async fn require_facility(app: &App, facility: Uuid) -> Result<(), Error> {
    if super::facilities::is_facility(app, facility).await? {
        Ok(())
    } else {
        Err(Error::NotFound)
    }
}

/// A taken identifier, said about the username (the shared mapping names
/// the email).
fn username_taken(error: Error) -> Error {
    match error {
        Error::Invalid {
            code: "ALREADY_EXISTS",
            ..
        } => Error::invalid_field(
            // Kolibri's serializer raises it from `validate`.
            "non_field_errors",
            "USERNAME_ALREADY_EXISTS",
            "An account with that username already exists.",
        ),
        other => other,
    }
}

/// A facility user's fields, raw (as a client or an import file gives
/// them), checked here by the rules of facility users (Kolibri's, where
/// they come from). `None`: not given (on an edit: untouched).
#[derive(Default)]
pub struct Fields {
    /// Required on creation.
    pub username: Option<String>,
    /// Required on creation; [`NOT_SPECIFIED`] for no password where the
    /// facility lets learners in without one.
    pub password: Option<String>,
    /// Up to 120 characters; may be empty.
    pub full_name: Option<String>,
    /// `MALE`, `FEMALE`, `NOT_SPECIFIED`, `DEFERRED` or empty.
    pub gender: Option<String>,
    /// A year from 1900 to now, `NOT_SPECIFIED`, `DEFERRED` or empty.
    pub birth_year: Option<String>,
    /// Up to 64 characters.
    pub id_number: Option<String>,
}

impl std::fmt::Debug for Fields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Personal data and the password stay out of any log line.
        f.debug_struct("Fields")
            .field("has_password", &self.password.is_some())
            .finish_non_exhaustive()
    }
}

/// Kolibri's password placeholder for users without one.
pub const NOT_SPECIFIED: &str = "NOT_SPECIFIED";

/// A username by Kolibri's rules: required, not blank, at most 30
/// characters (254 for an email address), allowed characters.
fn kolibri_username(raw: Option<&str>) -> Result<Username, Error> {
    match raw {
        None => Err(Error::invalid_field(
            "username",
            "REQUIRED",
            "This field is required.",
        )),
        Some(raw) if raw.trim().is_empty() => Err(Error::invalid_field(
            "username",
            "BLANK",
            "This field may not be blank.",
        )),
        Some(raw) => Username::parse(raw, "username").map_err(|error| {
            // Kolibri checks the characters first, then the length (30;
            // an email address may be longer).
            let name = raw.trim();
            let allowed = !name
                .chars()
                .any(|c| c.is_whitespace() || crate::input::USERNAME_FORBIDDEN.contains(c));
            if allowed && name.chars().count() > 30 {
                Error::invalid_field(
                    "username",
                    "MAX_LENGTH",
                    "Required. 30 characters or fewer. Letters and digits only",
                )
            } else {
                error
            }
        }),
    }
}

/// A password by Kolibri's rules (any non-blank one; the placeholder
/// only where the facility allows passwordless learners): `None` for no
/// password.
fn kolibri_password(
    raw: Option<&str>,
    passwordless_allowed: bool,
) -> Result<Option<Password>, Error> {
    match raw {
        None => Err(Error::invalid_field(
            "password",
            "REQUIRED",
            "This field is required.",
        )),
        Some("") => Err(Error::invalid_field(
            "password",
            "BLANK",
            "This field may not be blank.",
        )),
        Some(NOT_SPECIFIED) if passwordless_allowed => Ok(None),
        Some(NOT_SPECIFIED) => Err(Error::invalid_field(
            "non_field_errors",
            "PASSWORD_NOT_SPECIFIED",
            "No password specified and it is required",
        )),
        Some(raw) => Password::presented(raw.to_string(), "password").map(Some),
    }
}

fn kolibri_full_name(raw: &str) -> Result<String, Error> {
    let name = raw.trim();
    if name.chars().count() > 120 || name.chars().any(char::is_control) {
        return Err(Error::invalid_field(
            "full_name",
            "MAX_LENGTH",
            "Ensure this field has no more than 120 characters.",
        ));
    }
    Ok(name.to_string())
}

fn kolibri_gender(raw: &str) -> Result<String, Error> {
    match raw {
        "" | "MALE" | "FEMALE" | "NOT_SPECIFIED" | "DEFERRED" => Ok(raw.to_string()),
        other => Err(Error::invalid_field(
            "gender",
            "INVALID_CHOICE",
            format!(
                "\"{}\" is not a valid choice.",
                other.chars().take(32).collect::<String>()
            ),
        )),
    }
}

fn kolibri_birth_year(raw: &str) -> Result<String, Error> {
    let this_year = chrono::Datelike::year(&chrono::Utc::now());
    let valid = match raw {
        "" | "NOT_SPECIFIED" | "DEFERRED" => true,
        year => year
            .parse::<i32>()
            .is_ok_and(|y| (1900..=this_year).contains(&y) && year.len() == 4),
    };
    if valid {
        Ok(raw.to_string())
    } else {
        Err(Error::invalid_field(
            "birth_year",
            "INVALID",
            "not a valid value for birth_year",
        ))
    }
}

fn kolibri_id_number(raw: &str) -> Result<String, Error> {
    crate::input::plain(raw, "id_number")?;
    if raw.chars().count() > 64 {
        return Err(Error::invalid_field(
            "id_number",
            "MAX_LENGTH",
            "Ensure this field has no more than 64 characters.",
        ));
    }
    Ok(raw.to_string())
}

/// Creates a facility user of `facility` from a Kolibri client's fields;
/// their id once the read models show them.
pub async fn create(
    app: &App,
    facility: Uuid,
    input: Fields,
    ctx: &RequestContext,
) -> Result<Uuid, Error> {
    let settings = super::facilities::settings(app, facility).await?;
    let checked = check_fields(input, settings.learner_can_login_with_no_password)?;
    register(
        app,
        FacilityRegistration {
            facility,
            username: checked.username,
            full_name: checked.full_name,
            password: checked.password.map(super::accounts::Credential::Plain),
            demographics: checked.demographics,
        },
        ctx,
    )
    .await
}

/// A new facility user's fields, checked.
#[derive(Debug)]
pub struct Checked {
    /// Username.
    pub username: Username,
    /// Password (none: `NOT_SPECIFIED` where allowed).
    pub password: Option<Password>,
    /// Full name (trimmed).
    pub full_name: String,
    /// Demographics (empty values left out).
    pub demographics: Demographics,
}

/// Checks a new facility user's fields by Kolibri's rules (creation,
/// sign-up and import alike).
pub fn check_fields(input: Fields, passwordless_allowed: bool) -> Result<Checked, Error> {
    let username = kolibri_username(input.username.as_deref())?;
    let password = kolibri_password(input.password.as_deref(), passwordless_allowed)?;
    let full_name = kolibri_full_name(input.full_name.as_deref().unwrap_or_default())?;
    let non_empty = |v: String| Some(v).filter(|v| !v.is_empty());
    let demographics = Demographics {
        gender: non_empty(kolibri_gender(input.gender.as_deref().unwrap_or_default())?),
        birth_year: non_empty(kolibri_birth_year(
            input.birth_year.as_deref().unwrap_or_default(),
        )?),
        id_number: non_empty(kolibri_id_number(
            input.id_number.as_deref().unwrap_or_default(),
        )?)
        .map(Personal::new),
    };
    Ok(Checked {
        username,
        password,
        full_name,
        demographics,
    })
}

/// Edits a facility user: every field is checked before anything is
/// written; a new username is claimed first (the old one is released by
/// the rename itself); a new password ends every other session of the
/// user (`keep_session` stays).
pub async fn edit(
    app: &App,
    user_id: Uuid,
    edit: Fields,
    keep_session: Option<Uuid>,
    ctx: &RequestContext,
) -> Result<(), Error> {
    let user = app.store.load::<User>(&user_id.to_string()).await?;
    let facility = user.state.facility().ok_or(Error::NotFound)?;
    let username = edit
        .username
        .as_deref()
        .map(|u| kolibri_username(Some(u)))
        .transpose()?;
    let password = match edit.password.as_deref() {
        None => None,
        Some(raw) => kolibri_password(Some(raw), false)?,
    };
    let changes = aggregates::FacilityUserChanges {
        username: username
            .as_ref()
            .map(|u| Personal::new(u.as_str().to_string())),
        full_name: edit
            .full_name
            .as_deref()
            .map(kolibri_full_name)
            .transpose()?
            .map(Personal::new),
        gender: edit.gender.as_deref().map(kolibri_gender).transpose()?,
        birth_year: edit
            .birth_year
            .as_deref()
            .map(kolibri_birth_year)
            .transpose()?,
        id_number: edit
            .id_number
            .as_deref()
            .map(kolibri_id_number)
            .transpose()?
            .map(Personal::new),
    };
    let metadata = ctx.metadata();
    // A new username (not just a new case of the same one) is claimed
    // before the rename is written.
    if let Some(username) = &username {
        let same = user.state.username().expose().to_lowercase() == username.normalized();
        if !same {
            claim_username(app, facility, username, user_id, &metadata).await?;
        }
    }
    if !changes.is_empty() {
        app.store
            .execute::<User>(
                &user_id.to_string(),
                UserCommand::UpdateFacilityUser {
                    changes: Box::new(changes),
                },
                &metadata,
            )
            .await?;
    }
    if let Some(password) = password {
        let new_password_hash = app.passwords.hash(&password).await?;
        let committed = app
            .store
            .execute::<User>(
                &user_id.to_string(),
                UserCommand::SetPassword {
                    new_password_hash,
                    keep_session,
                },
                &metadata,
            )
            .await?;
        if let Some(cutoff) = committed
            .events
            .iter()
            .find_map(aggregates::UserEvent::cutoff)
        {
            app.denylist.set_cutoff(user_id, cutoff);
        }
    }
    Ok(())
}

/// Claims `username` in `facility` for `user_id` (theirs already: nothing
/// changes); 400 `USERNAME_ALREADY_EXISTS` when another live user holds it.
async fn claim_username(
    app: &App,
    facility: Uuid,
    username: &Username,
    user_id: Uuid,
    metadata: &crate::store::Metadata,
) -> Result<(), Error> {
    let identifier = Identifier::Username {
        facility,
        username: username.clone(),
    };
    // Theirs still, for a restored user whose name nobody took.
    super::accounts::claim_for(app, &identifier, user_id, metadata)
        .await
        .map_err(username_taken)
}

/// Brings a deleted user back: their username is claimed again first (400
/// `USERNAME_ALREADY_EXISTS` when someone took it meanwhile); their old
/// sessions stay over. `NotFound` for no deleted user.
pub async fn restore(
    app: &App,
    user_id: Uuid,
    metadata: &crate::store::Metadata,
) -> Result<(), Error> {
    let user = app.store.load::<User>(&user_id.to_string()).await?;
    let facility = user.state.facility().ok_or(Error::NotFound)?;
    if user.state.deleted_at().is_none() {
        return Err(Error::NotFound);
    }
    let username = Username::parse(user.state.username().expose(), "username")?;
    claim_username(app, facility, &username, user_id, metadata).await?;
    app.store
        .execute_on::<User>(&user_id.to_string(), user, UserCommand::Restore, metadata)
        .await?;
    Ok(())
}

/// Gives a password to the facility user `username` who has none (Kolibri's
/// "set your password" step after `PASSWORD_NOT_SPECIFIED`, open to
/// anyone who knows the name, as in Kolibri: such an account is claimed by
/// whoever sets its first password). `NotFound` for no such user or one
/// with a password.
pub async fn set_first_password(
    app: &App,
    facility: Uuid,
    username: &str,
    password: &str,
    ctx: &RequestContext,
) -> Result<(), Error> {
    let username = Username::parse(username, "username").map_err(|_| Error::NotFound)?;
    let identifier = Identifier::Username { facility, username };
    let user = super::sessions::holder(app, &identifier)
        .await?
        .ok_or(Error::NotFound)?;
    if !user.state.password_hash().phc().is_empty() {
        return Err(Error::NotFound);
    }
    let user_id = user.state.id().ok_or(Error::NotFound)?;
    let password = kolibri_password(Some(password), false)?.ok_or(Error::NotFound)?;
    let new_password_hash = app.passwords.hash(&password).await?;
    let committed = app
        .store
        .execute_on::<User>(
            &user_id.to_string(),
            user,
            UserCommand::SetPassword {
                new_password_hash,
                keep_session: None,
            },
            &ctx.metadata(),
        )
        .await?;
    if let Some(cutoff) = committed
        .events
        .iter()
        .find_map(aggregates::UserEvent::cutoff)
    {
        app.denylist.set_cutoff(user_id, cutoff);
    }
    Ok(())
}

/// Deletes a user (soft): every session ends at once, their identifier is
/// free again, the read models drop them from lists.
pub async fn delete(app: &App, user_id: Uuid, ctx: &RequestContext) -> Result<(), Error> {
    let committed = app
        .store
        .execute::<User>(&user_id.to_string(), UserCommand::Delete, &ctx.metadata())
        .await?;
    if let Some(cutoff) = committed
        .events
        .iter()
        .find_map(aggregates::UserEvent::cutoff)
    {
        app.denylist.set_cutoff(user_id, cutoff);
    }
    Ok(())
}
