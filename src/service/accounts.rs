//! Registration.
//!
//! Order (no transaction spans two aggregates): check the email is free
//! (before any hashing), hash, claim the email for a pre-generated user id,
//! then write the user. A crash between claim and user leaves a claim whose
//! user stream is empty; it may be taken over once stale.

use aggregates::{CheckedOwner, ClaimCommand, IdentifierClaim, Personal, User, UserCommand};
use uuid::Uuid;

use super::sessions::Identifier;
use super::{RequestContext, UserView};
use crate::input::{Email, Password, PersonName};
use crate::{App, Error};

/// What registration needs.
#[derive(Debug)]
pub struct Registration {
    /// Email.
    pub email: Email,
    /// New password.
    pub password: Password,
    /// Given name.
    pub first_name: PersonName,
    /// Family name.
    pub last_name: PersonName,
    /// Initial roles.
    pub roles: Vec<String>,
}

/// Registers a user; answers once the read models show them.
pub async fn register(
    app: &App,
    input: Registration,
    ctx: &RequestContext,
) -> Result<UserView, Error> {
    super::anonymous_limits::check(app, super::anonymous_limits::Action::Registration, ctx)?;
    register_as(app, Uuid::now_v7(), input, ctx).await
}

/// [`register`] with a pre-generated user id (one claimed elsewhere first,
/// as the one-time setup claims the installation for its administrator).
pub async fn register_as(
    app: &App,
    user_id: Uuid,
    input: Registration,
    ctx: &RequestContext,
) -> Result<UserView, Error> {
    let identifier = Identifier::Email(input.email.clone());
    let committed = claim_and_create(
        app,
        &identifier,
        user_id,
        Some(&Credential::Plain(input.password.clone())),
        |password_hash| UserCommand::Register {
            user_id,
            email: Personal::new(input.email.as_str().to_string()),
            first_name: Personal::new(input.first_name.as_str().to_string()),
            last_name: Personal::new(input.last_name.as_str().to_string()),
            password_hash: password_hash.unwrap_or_default(),
            roles: input.roles,
        },
        &ctx.metadata(),
    )
    .await?;
    // The new user is exactly what was just written: no need to load it,
    // neither for the answer nor for the verification command.
    let version = committed.events.len();
    let user = committed.state;
    let view = UserView::from_aggregate(&user).ok_or_else(|| {
        Error::Internal(anyhow::anyhow!("registration of {user_id} wrote no user"))
    })?;
    // The account exists now, mail or not: a failure here is logged, and
    // the user can ask for a reset link later.
    let written = crate::store::Loaded {
        state: user,
        version,
        snapshot: 0,
    };
    if let Err(error) = super::recovery::send_verification(app, user_id, written, ctx).await {
        tracing::error!(error = %error, user_id = %user_id, "verification mail not queued");
    }
    Ok(view)
}

/// How a new user's password arrives: in clear (hashed here with argon2id)
/// or already hashed by the system they come from (argon2, Django PBKDF2,
/// bcrypt: verified its way at the first login, then replaced by argon2id).
#[derive(Clone)]
pub enum Credential {
    /// A password to hash.
    Plain(Password),
    /// An existing hash ([`crate::auth::password::is_supported_hash`]).
    Hashed(aggregates::PasswordHash),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Plain(_) => "Credential::Plain(<redacted>)",
            Self::Hashed(_) => "Credential::Hashed(<redacted>)",
        })
    }
}

/// Claims `claim_id` (an identifier of `kind`) for the new user `user_id`
/// and writes the user `command` builds from the password's hash. The claim
/// is checked before any hashing (a taken identifier costs nothing) and
/// loaded once; should it change while the password hashes, the commit
/// conflicts and is retried on the new state.
pub(crate) async fn claim_and_create(
    app: &App,
    identifier: &Identifier,
    user_id: Uuid,
    credential: Option<&Credential>,
    command: impl FnOnce(Option<aggregates::PasswordHash>) -> UserCommand,
    metadata: &crate::store::Metadata,
) -> Result<crate::store::Committed<User>, Error> {
    let claim_id = identifier.claim_id(app);
    let loaded = app.store.load::<IdentifierClaim>(&claim_id).await?;
    let claim = claim_command(app, &loaded.state, user_id, identifier).await?;
    app.store.check(&loaded.state, claim.clone()).await?;
    let password_hash = match credential {
        Some(Credential::Plain(password)) => Some(app.passwords.hash(password).await?),
        Some(Credential::Hashed(hash)) => Some(hash.clone()),
        None => None,
    };
    app.store
        .execute_on::<IdentifierClaim>(&claim_id, loaded, claim, metadata)
        .await?;
    // Who registers: the signed-in user who creates the account (an
    // administrator), else the new user themselves.
    let by = if metadata.actor.starts_with("user:") {
        metadata.clone()
    } else {
        metadata.acting_as(user_id)
    };
    app.store
        .create::<User>(&user_id.to_string(), command(password_hash), &by)
        .await
}

/// Claims `identifier` for the existing user `user_id` (theirs already:
/// nothing written). `IdentifierTaken` when someone else holds it.
pub(crate) async fn claim_for(
    app: &App,
    identifier: &Identifier,
    user_id: Uuid,
    metadata: &crate::store::Metadata,
) -> Result<(), Error> {
    let claim_id = identifier.claim_id(app);
    let loaded = app.store.load::<IdentifierClaim>(&claim_id).await?;
    if loaded.state.owner() == Some(user_id) {
        return Ok(());
    }
    let claim = claim_command(app, &loaded.state, user_id, identifier).await?;
    app.store
        .execute_on::<IdentifierClaim>(&claim_id, loaded, claim, metadata)
        .await?;
    Ok(())
}

/// The claim command for `user_id`, with the current owner's state looked up.
pub(crate) async fn claim_command(
    app: &App,
    claim: &IdentifierClaim,
    user_id: Uuid,
    identifier: &Identifier,
) -> Result<ClaimCommand, Error> {
    let checked_owner = match claim.owner() {
        Some(owner) if owner != user_id => {
            let owner_state = app.store.load::<User>(&owner.to_string()).await?.state;
            Some(CheckedOwner {
                user_id: owner,
                registered: owner_state.is_registered(),
                released: owner_state.is_registered() && !identifier.held_by(&owner_state),
            })
        }
        _ => None,
    };
    Ok(ClaimCommand::Claim {
        user_id,
        kind: identifier.kind(),
        checked_owner,
        stale_after: chrono::Duration::seconds(app.config.claim_stale_after as i64),
    })
}

/// Claims an email without writing its user: what a crash between the two
/// steps of [`register`] leaves behind. For tests of that recovery only.
#[doc(hidden)]
pub async fn claim_only(app: &App, email: &Email, user_id: Uuid) -> Result<(), Error> {
    let identifier = Identifier::Email(email.clone());
    let claim_id = identifier.claim_id(app);
    let loaded = app.store.load::<IdentifierClaim>(&claim_id).await?;
    let command = claim_command(app, &loaded.state, user_id, &identifier).await?;
    app.store
        .execute::<IdentifierClaim>(&claim_id, command, &RequestContext::system().metadata())
        .await?;
    Ok(())
}
