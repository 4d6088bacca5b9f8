//! Erasing a person: the right to erasure on a log that is never
//! rewritten. Their personal values in the log are sealed under keys of
//! their own (`crate::vault`); erasure records `UserErased` (the account is
//! over for good, every session ends on every instance, every identifier is
//! free again, the read models drop what they held), then destroys those
//! keys, and removes the copies outside the log: snapshots, queued mail,
//! profile pictures.
//!
//! Identifiers (email, facility username, external identities) have keys
//! of their own: what was recorded against an identifier before or without
//! an account (failed logins, with their IPs) is sealed under it, and dies
//! with the user who holds it.

use aggregates::{User, UserEvent};
use projections::Db;
use uuid::Uuid;

use super::sessions::Identifier;
use super::RequestContext;
use crate::access::{self, Actor, Resource};
use crate::blobs::BlobKey;
use crate::store::{Loaded, Metadata};
use crate::{App, Error};

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    /// The user.
    pub user_id: Uuid,
    /// The user had been erased before (this run only tidied up).
    pub again: bool,
    /// Keys destroyed (the user's and their identifiers').
    pub keys: usize,
    /// Queued mails deleted.
    pub mails: u64,
    /// Profile pictures deleted.
    pub pictures: usize,
    /// Events of the user written before encryption: their personal values
    /// are stored in the clear and stay readable in the log (only a
    /// re-encryption of the log reaches them; the read models and
    /// snapshots no longer hold them).
    pub in_the_clear: i64,
}

/// Erases `user_id` as `actor`: 403 unless the actor may erase them, 404
/// for no such user.
pub async fn erase(
    app: &App,
    actor: &Actor,
    user_id: Uuid,
    ctx: &RequestContext,
) -> Result<Erasure, Error> {
    let user = app.store.load::<User>(&user_id.to_string()).await?;
    // Asked before "no such user": who may not erase learns nothing.
    let resource = Resource::User {
        id: user_id,
        facility: user.state.facility(),
    };
    access::authorize(actor, access::Action::EraseUser, &resource)?;
    if !user.state.is_registered() {
        return Err(Error::NotFound);
    }
    carry_out(app, user_id, user, &ctx.acting_as(actor.user_id).metadata()).await
}

/// Erases `user_id` for a caller who was authorized already: the CLI's
/// operator, or a use case that asked its own policy (Open Archiver's
/// `manage all`).
pub async fn erase_authorized(
    app: &App,
    user_id: Uuid,
    metadata: &Metadata,
) -> Result<Erasure, Error> {
    let user = app.store.load::<User>(&user_id.to_string()).await?;
    if !user.state.is_registered() {
        return Err(Error::NotFound);
    }
    carry_out(app, user_id, user, metadata).await
}

/// The erasure itself. Every step may run again: a second erasure of the
/// same user writes no event and finishes what a first one left undone.
async fn carry_out(
    app: &App,
    user_id: Uuid,
    user: Loaded<User>,
    metadata: &Metadata,
) -> Result<Erasure, Error> {
    let again = user.state.is_erased();
    // Read before the keys go: what is named by personal values.
    let subjects = subjects(app, user_id, &user.state);
    let pictures = pictures(app, user_id, &user.state).await?;
    let sessions: Vec<String> = projections::sessions::of_user(app.read_models().await, user_id)
        .await?
        .into_iter()
        .map(|session| session.session_id.to_string())
        .collect();
    let committed = app
        .store
        .execute_on::<User>(
            &user_id.to_string(),
            user,
            aggregates::UserCommand::Erase,
            metadata,
        )
        .await?;
    if let Some(cutoff) = committed.events.iter().find_map(UserEvent::cutoff) {
        app.denylist.set_cutoff(user_id, cutoff);
    }
    app.store.vault().erase(&subjects).await?;
    delete_copies(app.read_models().await, user_id, &sessions).await?;
    let mails = delete_mail(app.read_models().await, user_id).await?;
    let mut deleted = 0;
    for key in pictures {
        if !used_by_others(app.read_models().await, user_id, &key).await? {
            app.blobs.delete(&key).await.map_err(Error::Internal)?;
            deleted += 1;
        }
    }
    let in_the_clear = in_the_clear(app.read_models().await, user_id, &sessions).await?;
    tracing::info!(%user_id, keys = subjects.len(), mails, pictures = deleted, in_the_clear, "user erased");
    Ok(Erasure {
        user_id,
        again,
        keys: subjects.len(),
        mails,
        pictures: deleted,
        in_the_clear,
    })
}

/// The subjects whose keys erasure destroys: the user's, and each of
/// their identifiers'.
fn subjects(app: &App, user_id: Uuid, user: &User) -> Vec<String> {
    let mut identifiers = Vec::new();
    if let Ok(email) = crate::input::Email::parse(user.email().expose(), "email") {
        identifiers.push(Identifier::Email(email));
    }
    if let (Some(facility), Ok(username)) = (
        user.facility(),
        crate::input::Username::parse(user.username().expose(), "username"),
    ) {
        identifiers.push(Identifier::Username { facility, username });
    }
    for identity in user.identities() {
        identifiers.push(Identifier::External {
            issuer: identity.issuer.clone(),
            subject: identity.subject.expose().clone(),
        });
    }
    std::iter::once(crate::vault::user(user_id))
        .chain(
            identifiers
                .iter()
                .map(|identifier| crate::vault::identifier(&identifier.claim_id(app))),
        )
        .collect()
}

/// Every picture the user ever had (their current one and earlier ones).
async fn pictures(app: &App, user_id: Uuid, user: &User) -> Result<Vec<BlobKey>, Error> {
    let mut keys: Vec<String> = user.profile().image.iter().map(|i| i.key.clone()).collect();
    let timeline =
        crate::ops::history::timeline(app.read_models().await, app.store.vault().as_ref(), user_id)
            .await
            .map_err(Error::Internal)?;
    for event in timeline {
        if let Ok(UserEvent::ProfileUpdated { changes, .. }) = event.decode::<UserEvent>() {
            if let Some(Some(image)) = changes.image {
                keys.push(image.key);
            }
        }
    }
    keys.sort();
    keys.dedup();
    Ok(keys.iter().filter_map(|key| BlobKey::parse(key)).collect())
}

/// Whether another user's profile shows the picture `key` (pictures are
/// content-addressed: two people may have uploaded the same one).
async fn used_by_others(db: &Db, user_id: Uuid, key: &BlobKey) -> Result<bool, Error> {
    const SQL: &str = "SELECT count(*) FROM users WHERE image_key = $1 AND user_id <> $2";
    let count: i64 = match db {
        Db::Postgres(pool) => {
            sqlx::query_scalar(SQL)
                .bind(key.as_str())
                .bind(user_id)
                .fetch_one(pool)
                .await?
        }
        Db::Sqlite { reader, .. } => {
            sqlx::query_scalar(&projections::db::sqlite_sql(SQL))
                .bind(key.as_str())
                .bind(user_id)
                .fetch_one(reader)
                .await?
        }
    };
    Ok(count > 0)
}

/// Drops the snapshots of the user's stream and their sessions' (their
/// sealed values are unreadable now; no copy of a state stays behind).
async fn delete_copies(db: &Db, user_id: Uuid, sessions: &[String]) -> Result<(), Error> {
    let streams = serde_json::to_string(sessions).unwrap_or_default();
    match db {
        Db::Postgres(pool) => {
            sqlx::query(
                "DELETE FROM aggregate_snapshots
                  WHERE (aggregate_type = 'user' AND aggregate_id = $1)
                     OR (aggregate_type = 'session'
                         AND aggregate_id IN (SELECT jsonb_array_elements_text($2::jsonb)))",
            )
            .bind(user_id.to_string())
            .bind(streams)
            .execute(pool)
            .await?;
        }
        Db::Sqlite { writer, .. } => {
            sqlx::query(
                "DELETE FROM aggregate_snapshots
                  WHERE (aggregate_type = 'user' AND aggregate_id = ?1)
                     OR (aggregate_type = 'session'
                         AND aggregate_id IN (SELECT value FROM json_each(?2)))",
            )
            .bind(user_id.to_string())
            .bind(streams)
            .execute(writer)
            .await?;
        }
    }
    Ok(())
}

/// Deletes the user's mail, sent or not (their address is in it).
async fn delete_mail(db: &Db, user_id: Uuid) -> Result<u64, Error> {
    const SQL: &str = "DELETE FROM mail_outbox WHERE user_id = $1";
    let done = match db {
        Db::Postgres(pool) => sqlx::query(SQL)
            .bind(user_id)
            .execute(pool)
            .await?
            .rows_affected(),
        Db::Sqlite { writer, .. } => sqlx::query(&projections::db::sqlite_sql(SQL))
            .bind(user_id)
            .execute(writer)
            .await?
            .rows_affected(),
    };
    Ok(done)
}

/// How many of the user's events (their stream, their sessions') hold
/// personal values stored in the clear (written before encryption).
async fn in_the_clear(db: &Db, user_id: Uuid, sessions: &[String]) -> Result<i64, Error> {
    let streams = serde_json::to_string(sessions).unwrap_or_default();
    let count = match db {
        Db::Postgres(pool) => {
            sqlx::query_scalar(
                r#"SELECT count(*) FROM events
                    WHERE ((aggregate_type = 'user' AND aggregate_id = $1)
                           OR (aggregate_type = 'session'
                               AND aggregate_id IN (SELECT jsonb_array_elements_text($2::jsonb))))
                      AND (strpos(payload::text, '"plain"') > 0
                           OR strpos(metadata::text, '\"plain\"') > 0)"#,
            )
            .bind(user_id.to_string())
            .bind(streams)
            .fetch_one(pool)
            .await?
        }
        Db::Sqlite { reader, .. } => {
            sqlx::query_scalar(
                r#"SELECT count(*) FROM events
                    WHERE ((aggregate_type = 'user' AND aggregate_id = ?1)
                           OR (aggregate_type = 'session'
                               AND aggregate_id IN (SELECT value FROM json_each(?2))))
                      AND (instr(payload, '"plain"') > 0 OR instr(metadata, '\"plain\"') > 0)"#,
            )
            .bind(user_id.to_string())
            .bind(streams)
            .fetch_one(reader)
            .await?
        }
    };
    Ok(count)
}
