//! Writing a batch of checked rows: the events the service would have
//! written, appended in one transaction.

use std::collections::HashSet;

use aggregates::{
    ClaimEvent, CollectionRole, IdentifierKind, PasswordHash, Personal, RoleKind, UserEvent,
};
use chrono::Utc;
use uuid::Uuid;

use super::parse::{Ready, Secret};
use super::{ImportArgs, Report};
use crate::{App, Error};

/// Writes one batch: usernames already taken are skipped; plain passwords
/// are hashed (all cores); then every user's events in one transaction.
pub(super) async fn write_batch(
    app: &App,
    args: &ImportArgs,
    batch: Vec<Ready>,
    shared: &mut std::collections::HashMap<String, PasswordHash>,
    report: &mut Report,
) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let claim_of = |ready: &Ready| app.identifiers.username(args.facility, &ready.normalized);
    let claims: Vec<String> = batch.iter().map(claim_of).collect();
    let taken = existing_streams(app, &claims).await?;
    let mut kept = Vec::new();
    for (ready, claim) in batch.into_iter().zip(claims) {
        if taken.contains(&claim) {
            report
                .skipped
                .push((ready.line, "username already exists in the facility".into()));
        } else {
            kept.push((ready, claim));
        }
    }
    // Plain passwords: one argon2id hash each, as many at once as the pool
    // runs (or, for benchmarks only, once per distinct password).
    let mut hashes = Vec::with_capacity(kept.len());
    let mut jobs = Vec::new();
    for (i, (ready, _)) in kept.iter().enumerate() {
        match &ready.secret {
            Secret::Hash(hash) => hashes.push(Some(hash.clone())),
            Secret::None => hashes.push(None),
            Secret::Plain(password) => {
                hashes.push(None);
                let cached = args
                    .benchmark_share_hashes
                    .then(|| shared.get(password.expose()).cloned())
                    .flatten();
                match cached {
                    Some(hash) => hashes[i] = Some(hash),
                    None => jobs.push((i, password.clone())),
                }
            }
        }
    }
    report.hashed += jobs.len();
    let computed = futures::future::try_join_all(jobs.iter().map(|(i, password)| async move {
        loop {
            match app.passwords.hash(password).await {
                Ok(hash) => return Ok::<_, Error>((*i, hash)),
                // The pool is full: wait for a place.
                Err(Error::Busy { .. }) => {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await
                }
                Err(other) => return Err(other),
            }
        }
    }))
    .await
    .map_err(|e| anyhow::anyhow!("hashing: {e}"))?;
    for (i, hash) in computed {
        if args.benchmark_share_hashes {
            if let Secret::Plain(password) = &kept[i].0.secret {
                shared.insert(password.expose().to_string(), hash.clone());
            }
        }
        hashes[i] = Some(hash);
    }
    let now = Utc::now();
    let metadata = serde_json::json!({
        "correlation_id": Uuid::now_v7().to_string(),
        "actor": "system:import",
    });
    let mut rows: Vec<crate::ops::synthetic::Row> = Vec::with_capacity(kept.len() * 3);
    for ((ready, claim), hash) in kept.iter().zip(hashes) {
        let user_id = Uuid::now_v7();
        let claimed = ClaimEvent::IdentifierClaimed {
            user_id,
            kind: IdentifierKind::Username {
                facility: args.facility,
            },
            previous_owner: None,
            at: now,
        };
        rows.push(crate::ops::synthetic::row_of(
            "identifier_claim",
            claim.clone(),
            1,
            &claimed,
        ));
        let registered = UserEvent::FacilityUserRegistered {
            user_id,
            facility: args.facility,
            username: Personal::new(ready.username.clone()),
            full_name: Personal::new(ready.full_name.clone()),
            password_hash: hash,
            demographics: ready.demographics.clone(),
            registered_at: now,
        };
        rows.push(crate::ops::synthetic::row_of(
            "user",
            user_id.to_string(),
            1,
            &registered,
        ));
        // The user's further events: a role on the facility, coaching of
        // classrooms, memberships.
        let mut later = Vec::new();
        let facility_role = ready.role.map(|kind| (args.facility, kind));
        let coached = ready.assigned_to.iter().map(|c| (*c, RoleKind::Coach));
        for (collection, kind) in facility_role.into_iter().chain(coached) {
            later.push(UserEvent::CollectionRoleAssigned {
                role: CollectionRole {
                    id: Uuid::now_v7(),
                    collection,
                    kind,
                },
                at: now,
            });
        }
        for collection in &ready.enrolled_in {
            later.push(UserEvent::CollectionJoined {
                collection: *collection,
                at: now,
            });
        }
        for (i, event) in later.iter().enumerate() {
            let sequence = i as i64 + 2;
            rows.push(crate::ops::synthetic::row_of(
                "user",
                user_id.to_string(),
                sequence,
                event,
            ));
        }
    }
    // Personal values sealed under each new person's key, as the store's
    // appends seal them (the keys made in one go).
    let vault = app.store.vault();
    let subjects: Vec<String> = rows
        .iter()
        .filter(|row| row.0 == "user" && row.2 == 1)
        .map(|row| crate::vault::user_subject_of(&row.1))
        .collect();
    vault.prepare(&subjects).await?;
    for (kind, id, sequence, _, payload) in &mut rows {
        if *kind == "user" {
            let at = crate::vault::position(kind, id, *sequence);
            vault
                .seal(&crate::vault::user_subject_of(id), &at, payload)
                .await?;
        }
    }
    crate::ops::synthetic::insert_with(app.store.db(), rows, &metadata)
        .await
        .map_err(|e| anyhow::anyhow!("writing a batch (nothing of it was written): {e}"))?;
    report.imported += kept.len();
    // This instance's projector and feed read it now, not at their next poll.
    app.wake.committed();
    Ok(())
}

/// Which of these claim streams exist already.
async fn existing_streams(app: &App, claims: &[String]) -> anyhow::Result<HashSet<String>> {
    let mut found = HashSet::new();
    match app.store.db() {
        projections::Db::Postgres(pool) => {
            // One primary-key probe per claim (a nested loop over the
            // list), whatever the table's statistics say during a bulk load.
            // During a bulk load the table's statistics lag far behind its
            // size: a plan from them probes by scanning. Index probes it is.
            let mut tx = pool.begin().await?;
            sqlx::query("SET LOCAL enable_seqscan = off")
                .execute(&mut *tx)
                .await?;
            let ids: Vec<String> = sqlx::query_scalar(
                "SELECT c.id FROM unnest($1::text[]) AS c(id)
                  WHERE EXISTS (SELECT 1 FROM events e
                                 WHERE e.aggregate_type = 'identifier_claim'
                                   AND e.aggregate_id = c.id AND e.sequence = 1)",
            )
            .bind(claims)
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            found.extend(ids);
        }
        projections::Db::Sqlite { reader, .. } => {
            for chunk in claims.chunks(500) {
                let placeholders: Vec<String> =
                    (1..=chunk.len()).map(|i| format!("?{i}")).collect();
                let sql = format!(
                    "SELECT DISTINCT aggregate_id FROM events
                      WHERE aggregate_type = 'identifier_claim' AND aggregate_id IN ({})",
                    placeholders.join(", ")
                );
                let mut query = sqlx::query_scalar::<_, String>(&sql);
                for id in chunk {
                    query = query.bind(id);
                }
                found.extend(query.fetch_all(reader).await?);
            }
        }
    }
    Ok(found)
}
