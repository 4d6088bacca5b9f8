//! `eventauth import`: bulk-loads facility users from CSV or JSON lines
//! (Kolibri's `importusers` columns: `username`, `password`, `full_name`,
//! `user_type`, `identifier`, `birth_year`, `gender`, `enrolled_in`,
//! `assigned_to` — classroom names, comma-separated; plus `password_hash`
//! for an existing hash: argon2, Django PBKDF2 — Kolibri's —, bcrypt).
//!
//! Every row is checked by the same rules as `POST /api/auth/facilityuser`;
//! a malformed row is reported with its line number and skipped (or, with
//! `--abort-on-error`, the whole file is checked first and nothing is
//! written). Valid rows become the events the service would have written —
//! the username's claim, `FacilityUserRegistered`, a role for
//! `user_type` admin or coach — appended in large transactions: a user is
//! written whole or not at all. Plain passwords cost one argon2id hash each
//! (the report says how many); existing hashes cost nothing now and are
//! replaced by argon2id at each user's first login.

use std::collections::HashSet;
use std::io::BufRead;
use std::path::PathBuf;

use aggregates::{
    ClaimEvent, CollectionRole, Demographics, IdentifierKind, PasswordHash, Personal, RoleKind,
    UserEvent,
};
use chrono::Utc;
use serde::Deserialize;
use uuid::Uuid;

use crate::service::facility_users::{check_fields, Fields};
use crate::{App, Error};

/// `eventauth import` arguments.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The facility the users join.
    #[arg(long)]
    pub facility: Uuid,
    /// The file: CSV with a header row, or JSON lines (`.jsonl`, `.json`).
    #[arg(long)]
    pub file: PathBuf,
    /// Check the whole file first and write nothing if any row is bad.
    #[arg(long)]
    pub abort_on_error: bool,
    /// Users per transaction.
    #[arg(long, default_value_t = 10_000)]
    pub batch: usize,
    /// BENCHMARKS ONLY: hash each distinct plain password once and give the
    /// same hash to every user who has it (it reveals who shares a
    /// password; never use it for real users).
    #[arg(long)]
    pub benchmark_share_hashes: bool,
}

/// One row as read (both formats). No `Debug`: it holds a password.
#[derive(Default, Deserialize)]
struct Row {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    password_hash: Option<String>,
    #[serde(default)]
    full_name: Option<String>,
    #[serde(default)]
    user_type: Option<String>,
    #[serde(default, alias = "id_number")]
    identifier: Option<String>,
    #[serde(default)]
    birth_year: Option<String>,
    #[serde(default)]
    gender: Option<String>,
    /// Classrooms (names, comma-separated) the user joins.
    #[serde(default)]
    enrolled_in: Option<String>,
    /// Classrooms (names, comma-separated) the user coaches.
    #[serde(default)]
    assigned_to: Option<String>,
}

/// What an import did.
#[derive(Debug, Default)]
pub struct Report {
    /// Users written.
    pub imported: usize,
    /// Of them, with a plain password hashed here.
    pub hashed: usize,
    /// Rows skipped: (line, why).
    pub skipped: Vec<(usize, String)>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "imported {} users ({} plain passwords hashed with argon2id, one hash each; \
             existing hashes kept until each user's first login)",
            self.imported, self.hashed
        )?;
        for (line, why) in &self.skipped {
            writeln!(f, "line {line}: skipped: {why}")?;
        }
        if !self.skipped.is_empty() {
            writeln!(f, "{} rows skipped", self.skipped.len())?;
        }
        Ok(())
    }
}

/// A row checked and ready to write.
struct Ready {
    line: usize,
    normalized: String,
    username: String,
    full_name: String,
    demographics: Demographics,
    secret: Secret,
    role: Option<RoleKind>,
    /// Classrooms joined.
    enrolled_in: Vec<Uuid>,
    /// Classrooms coached.
    assigned_to: Vec<Uuid>,
}

/// A facility's classrooms by name (Kolibri's `enrolled_in`/`assigned_to`
/// name them).
type Classrooms = std::collections::HashMap<String, Uuid>;

/// The classrooms a comma-separated list names.
fn classrooms_named(list: Option<&str>, classrooms: &Classrooms) -> Result<Vec<Uuid>, String> {
    list.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| {
            classrooms
                .get(name)
                .copied()
                .ok_or_else(|| format!("no classroom {name:?} in the facility"))
        })
        .collect()
}

enum Secret {
    Plain(crate::input::Password),
    Hash(PasswordHash),
    None,
}

/// The rows of a file: `(line, row or why it is unreadable)`.
type Rows = Box<dyn Iterator<Item = (usize, Result<Row, String>)>>;

/// Reads the rows of the file.
fn rows(path: &PathBuf) -> anyhow::Result<Rows> {
    let file = std::fs::File::open(path)?;
    let jsonl = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e == "jsonl" || e == "json" || e == "ndjson");
    if jsonl {
        let lines = std::io::BufReader::new(file).lines().enumerate();
        Ok(Box::new(lines.filter_map(|(i, line)| {
            let line_no = i + 1;
            match line {
                Ok(text) if text.trim().is_empty() => None,
                Ok(text) => Some((
                    line_no,
                    serde_json::from_str::<Row>(&text)
                        .map_err(|e| format!("not a JSON object of the expected fields: {e}")),
                )),
                Err(e) => Some((line_no, Err(format!("unreadable: {e}")))),
            }
        })))
    } else {
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
        let headers = reader.headers()?.clone();
        Ok(Box::new(reader.into_records().map(
            move |record| match record {
                Ok(record) => {
                    let line = record.position().map_or(0, |p| p.line() as usize);
                    let row = record
                        .deserialize::<Row>(Some(&headers))
                        .map_err(|e| format!("malformed CSV row: {e}"));
                    (line, row)
                }
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line() as usize);
                    (line, Err(format!("malformed CSV row: {e}")))
                }
            },
        )))
    }
}

/// Checks one row (Kolibri's rules, as the API).
fn check(
    line: usize,
    row: Row,
    passwordless_allowed: bool,
    classrooms: &Classrooms,
) -> Result<Ready, String> {
    let enrolled_in = classrooms_named(row.enrolled_in.as_deref(), classrooms)?;
    let assigned_to = classrooms_named(row.assigned_to.as_deref(), classrooms)?;
    let role = match row
        .user_type
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("") | Some("learner") => None,
        Some("admin") => Some(RoleKind::Admin),
        Some("coach") | Some("facility_coach") => Some(RoleKind::Coach),
        Some("classroom_coach") | Some("assignable_coach") => Some(RoleKind::AssignableCoach),
        Some(other) => return Err(format!("unknown user_type {other:?}")),
    };
    let hash = row.password_hash.filter(|h| !h.is_empty());
    if hash.is_some() && row.password.as_deref().is_some_and(|p| !p.is_empty()) {
        return Err("both password and password_hash".into());
    }
    let fields = Fields {
        username: row.username,
        // A hash stands in for the password in the checks; no password
        // at all is Kolibri's NOT_SPECIFIED (allowed where learners need
        // none).
        password: match (&hash, row.password) {
            (Some(_), _) => Some("-".into()),
            (None, None) => Some(crate::service::facility_users::NOT_SPECIFIED.into()),
            (None, Some(p)) if p.is_empty() => {
                Some(crate::service::facility_users::NOT_SPECIFIED.into())
            }
            (None, password) => password,
        },
        full_name: row.full_name,
        gender: row.gender,
        birth_year: row.birth_year,
        id_number: row.identifier,
    };
    let checked = check_fields(fields, passwordless_allowed).map_err(|e| describe(&e))?;
    let secret = match (hash, checked.password) {
        (Some(hash), _) if crate::auth::password::is_supported_hash(&hash) => {
            Secret::Hash(PasswordHash::new(hash))
        }
        (Some(_), _) => {
            return Err("password_hash is not argon2, Django PBKDF2 or bcrypt".into());
        }
        (None, Some(password)) => Secret::Plain(password),
        (None, None) => Secret::None,
    };
    Ok(Ready {
        line,
        normalized: checked.username.normalized(),
        username: checked.username.as_str().to_string(),
        full_name: checked.full_name,
        demographics: checked.demographics,
        secret,
        role,
        enrolled_in,
        assigned_to,
    })
}

fn describe(error: &Error) -> String {
    match error {
        Error::Invalid {
            field: Some(field),
            message,
            ..
        } => format!("{field}: {message}"),
        other => other.to_string(),
    }
}

/// Imports the file into the facility.
pub async fn import(app: &App, args: &ImportArgs) -> anyhow::Result<Report> {
    let settings = crate::service::facilities::settings(app, args.facility)
        .await
        .map_err(|_| anyhow::anyhow!("no facility {}", args.facility))?;
    let passwordless = settings.learner_can_login_with_no_password;
    let classrooms: Classrooms =
        projections::organizations::classrooms(app.store.db(), args.facility)
            .await?
            .into_iter()
            .collect();
    if args.abort_on_error {
        let mut seen = HashSet::new();
        let mut bad = Vec::new();
        for (line, row) in rows(&args.file)? {
            match row.and_then(|row| check(line, row, passwordless, &classrooms)) {
                Ok(ready) if !seen.insert(ready.normalized.clone()) => {
                    bad.push((line, "username repeated in the file".to_string()));
                }
                Ok(_) => {}
                Err(why) => bad.push((line, why)),
            }
        }
        if !bad.is_empty() {
            let report = Report {
                skipped: bad,
                ..Report::default()
            };
            anyhow::bail!("nothing imported (--abort-on-error):\n{report}");
        }
    }
    let progress = indicatif::ProgressBar::new_spinner().with_message("importing users");
    progress.enable_steady_tick(std::time::Duration::from_millis(200));
    let mut report = Report::default();
    let mut seen = HashSet::new();
    let mut pending: Vec<Ready> = Vec::new();
    let mut shared: std::collections::HashMap<String, PasswordHash> = Default::default();
    for (line, row) in rows(&args.file)? {
        match row.and_then(|row| check(line, row, passwordless, &classrooms)) {
            Ok(ready) if !seen.insert(ready.normalized.clone()) => {
                report
                    .skipped
                    .push((line, "username repeated in the file".into()));
            }
            Ok(ready) => pending.push(ready),
            Err(why) => report.skipped.push((line, why)),
        }
        if pending.len() >= args.batch {
            write_batch(
                app,
                args,
                std::mem::take(&mut pending),
                &mut shared,
                &mut report,
            )
            .await?;
            progress.set_position(report.imported as u64);
        }
    }
    write_batch(app, args, pending, &mut shared, &mut report).await?;
    progress.finish_and_clear();
    Ok(report)
}

/// Writes one batch: usernames already taken are skipped; plain passwords
/// are hashed (all cores); then every user's events in one transaction.
async fn write_batch(
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
    crate::ops::synthetic::insert_with(app.store.db(), rows, &metadata)
        .await
        .map_err(|e| anyhow::anyhow!("writing a batch (nothing of it was written): {e}"))?;
    report.imported += kept.len();
    // This instance's projector and feed read it now, not at their next poll.
    app.wake.poke();
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
