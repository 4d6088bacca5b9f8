//! Single sign-on: a verified SAML assertion ([`crate::saml`]) becomes a
//! signed-in user — the same User every surface knows, whichever surface
//! receives the assertion.
//!
//! Who it is: the user the external identity (issuer + NameID) is linked
//! to; else the user whose email is the NameID (or the assertion's mail
//! attribute), then linked; else, when configured, a new user (no
//! password; a role attribute containing "Staff" makes a Tutor). Usernames
//! here are emails, so the "email's local part as username" step of
//! systems with separate usernames has nothing to look at.
//!
//! Every check that can refuse comes before the first write; the
//! assertion is then accepted once across instances (a `OneTime` event)
//! before anything is created or linked, so a replayed response is refused
//! and writes nothing.

use aggregates::{OneTime, OneTimeCommand, Personal, UserCommand};
use uuid::Uuid;

use super::accounts::{claim_and_create, claim_for};
use super::sessions::{holder, Identifier, Verified};
use super::RequestContext;
use crate::access::system_roles::TUTOR;
use crate::input::Email;
use crate::saml::Assertion;
use crate::{App, Error};

/// Why a verified assertion signs nobody in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotSignedOn {
    /// Accepted before (a replay).
    Replayed,
    /// Nobody goes by it, and creating users is off (or it names no
    /// usable email to create one with).
    Unknown,
    /// The user it names may not sign in (disabled, deleted).
    Refused,
}

/// The user `assertion` signs in, linked to its identity (created when
/// configured and needed), with the time of the sign-on.
pub async fn sign_on(
    app: &App,
    assertion: &Assertion,
    create_users: bool,
    ctx: &RequestContext,
) -> Result<Result<Verified, NotSignedOn>, Error> {
    let auth_time = chrono::Utc::now();
    let identity = Identifier::External {
        issuer: assertion.issuer.clone(),
        subject: assertion.name_id.clone(),
    };
    let email = Email::parse(&assertion.name_id, "email").ok().or_else(|| {
        ["mail", "email", "emailaddress"]
            .iter()
            .find_map(|name| assertion.attribute(name))
            .and_then(|mail| Email::parse(mail, "email").ok())
    });
    let mut found = holder(app, &identity).await?;
    if found.is_none() {
        if let Some(email) = &email {
            found = holder(app, &Identifier::Email(email.clone())).await?;
        }
    }
    if let Some(user) = &found {
        if user.state.is_disabled() || !user.state.is_active() {
            return Ok(Err(NotSignedOn::Refused));
        }
    } else if !create_users || email.is_none() {
        return Ok(Err(NotSignedOn::Unknown));
    }
    // Nothing written before this: a replay is refused here.
    let stream = app
        .identifiers
        .one_time("saml_assertion", &[&assertion.issuer, &assertion.id]);
    let used = app
        .store
        .execute::<OneTime>(
            &stream,
            OneTimeCommand::Use {
                purpose: "saml_assertion".to_string(),
                valid_until: assertion.valid_until,
            },
            &ctx.metadata(),
        )
        .await;
    match used {
        Ok(_) => {}
        Err(Error::Unauthenticated | Error::Conflict) => return Ok(Err(NotSignedOn::Replayed)),
        Err(other) => return Err(other),
    }
    let user_id = match (found, email) {
        (Some(user), _) => user
            .state
            .id()
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("a live user without id")))?,
        (None, Some(email)) => create(app, assertion, &email, ctx).await?,
        (None, None) => return Ok(Err(NotSignedOn::Unknown)),
    };
    let metadata = ctx.metadata().acting_as(user_id);
    claim_for(app, &identity, user_id, &metadata).await?;
    let linked = app
        .store
        .execute::<aggregates::User>(
            &user_id.to_string(),
            UserCommand::LinkIdentity {
                issuer: assertion.issuer.clone(),
                subject: Personal::new(assertion.name_id.clone()),
            },
            &metadata,
        )
        .await?;
    let user = crate::store::Loaded {
        state: linked.state,
        version: 0,
        snapshot: 0,
    };
    Ok(Ok(Verified {
        user,
        user_id,
        auth_time,
    }))
}

/// A new user from the assertion's attributes.
async fn create(
    app: &App,
    assertion: &Assertion,
    email: &Email,
    ctx: &RequestContext,
) -> Result<Uuid, Error> {
    let user_id = Uuid::now_v7();
    let name = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| assertion.attribute(n))
            .map(|value| {
                value
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(100)
                    .collect::<String>()
            })
            .unwrap_or_default()
    };
    let first_name = name(&["givenname", "givenName", "firstname", "cn"]);
    let last_name = name(&["surname", "sn", "lastname"]);
    let staff = assertion
        .attributes_named("role")
        .chain(assertion.attributes_named("userRole"))
        .any(|value| value.contains("Staff"));
    let roles = if staff {
        vec![TUTOR.to_string()]
    } else {
        Vec::new()
    };
    claim_and_create(
        app,
        &Identifier::Email(email.clone()),
        user_id,
        None,
        |_| UserCommand::Register {
            user_id,
            email: Personal::new(email.as_str().to_string()),
            first_name: Personal::new(first_name),
            last_name: Personal::new(last_name),
            // No password: it verifies nothing (sign-on only, until a reset).
            password_hash: Default::default(),
            roles,
        },
        &ctx.metadata().acting_as(user_id),
    )
    .await?;
    Ok(user_id)
}
