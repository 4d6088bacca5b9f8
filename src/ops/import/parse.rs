//! Reading the rows of the file and checking them.

use std::io::BufRead;
use std::path::PathBuf;

use aggregates::{Demographics, PasswordHash, RoleKind};
use serde::Deserialize;
use uuid::Uuid;

use crate::service::facility_users::{check_fields, Fields};
use crate::Error;

/// One row as read (both formats). No `Debug`: it holds a password.
#[derive(Default, Deserialize)]
pub(crate) struct Row {
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

/// A row checked and ready to write.
pub(crate) struct Ready {
    pub(super) line: usize,
    pub(super) normalized: String,
    pub(super) username: String,
    pub(super) full_name: String,
    pub(super) demographics: Demographics,
    pub(super) secret: Secret,
    pub(super) role: Option<RoleKind>,
    /// Classrooms joined.
    pub(super) enrolled_in: Vec<Uuid>,
    /// Classrooms coached.
    pub(super) assigned_to: Vec<Uuid>,
}

/// A facility's classrooms by name (Kolibri's `enrolled_in`/`assigned_to`
/// name them).
pub(crate) type Classrooms = std::collections::HashMap<String, Uuid>;

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

pub(crate) enum Secret {
    Plain(crate::input::Password),
    Hash(PasswordHash),
    None,
}

/// The rows of a file: `(line, row or why it is unreadable)`.
pub(crate) type Rows = Box<dyn Iterator<Item = (usize, Result<Row, String>)>>;

/// Reads the rows of the file (JSON lines for `.jsonl`, `.json`,
/// `.ndjson`; CSV otherwise).
pub(super) fn rows(path: &PathBuf) -> anyhow::Result<Rows> {
    let file = std::fs::File::open(path)?;
    let jsonl = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e == "jsonl" || e == "json" || e == "ndjson");
    rows_from(file, jsonl)
}

/// The rows `input` holds, JSON lines or CSV with a header row (also what
/// the import's fuzz target reads).
pub(crate) fn rows_from(input: impl std::io::Read + 'static, jsonl: bool) -> anyhow::Result<Rows> {
    if jsonl {
        let lines = std::io::BufReader::new(input).lines().enumerate();
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
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
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
pub(crate) fn check(
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
