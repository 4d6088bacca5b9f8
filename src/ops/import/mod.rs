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
//!
//! Its files: `parse` reads and checks the rows, `write` turns a batch of
//! checked rows into events and appends them.

pub(crate) mod parse;
mod write;

use std::collections::HashSet;
use std::path::PathBuf;

use aggregates::PasswordHash;
use uuid::Uuid;

use crate::App;
use parse::{check, rows, Classrooms, Ready};
use write::write_batch;

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

/// Imports the file into the facility.
pub async fn import(app: &App, args: &ImportArgs) -> anyhow::Result<Report> {
    let settings = crate::service::facilities::settings(app, args.facility)
        .await
        .map_err(|_| anyhow::anyhow!("no facility {}", args.facility))?;
    let passwordless = settings.learner_can_login_with_no_password;
    // The classrooms as the read models hold them once they have caught up
    // with the log (in a fresh process: everything committed before the
    // import) and with this instance's own commits.
    let _ = app.caught_up.0.clone().wait_for(|done| *done).await;
    let classrooms: Classrooms =
        projections::organizations::classrooms(app.read_models().await, args.facility)
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
