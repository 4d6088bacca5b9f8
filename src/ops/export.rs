//! `eventauth export`: the log as JSON lines, by position or time range.
//!
//! Reads through the one global-stream reader, in delivery order, so the
//! `cursor` of each line can be given back as `--after` to continue. Secret
//! fields (every `…_hash`: password and token hashes) are redacted: an
//! export is for audit and analysis, and secrets never leave the service.

use std::io::Write;

use crate::vault::tagged::{shown, shown_metadata};
use anyhow::Context;
use chrono::{DateTime, Utc};
use projections::{Codec, Cursor, Db, GlobalReader, Parts, RecordedEvent};
use serde_json::{json, Value};

/// What to export.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// Only events after this cursor (`<tx>.<pos>`, as printed in `cursor`).
    #[arg(long, value_parser = parse_cursor)]
    pub after: Option<Cursor>,
    /// Only events up to and including this cursor.
    #[arg(long, value_parser = parse_cursor)]
    pub until: Option<Cursor>,
    /// Only events recorded at or after this time (RFC 3339).
    #[arg(long)]
    pub since: Option<DateTime<Utc>>,
    /// Only events recorded before this time (RFC 3339).
    #[arg(long)]
    pub before: Option<DateTime<Utc>>,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    pub output: Option<std::path::PathBuf>,
}

/// Parses `<tx>.<pos>`.
pub fn parse_cursor(text: &str) -> Result<Cursor, String> {
    let (tx, pos) = text
        .split_once('.')
        .ok_or_else(|| "a cursor is <tx>.<pos>".to_string())?;
    Ok(Cursor {
        tx: tx.parse().map_err(|_| "bad transaction id".to_string())?,
        pos: pos.parse().map_err(|_| "bad position".to_string())?,
    })
}

/// Writes the selected events; returns how many.
pub async fn export(db: &Db, codec: &dyn Codec, args: &ExportArgs) -> anyhow::Result<u64> {
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut cursor = args.after.unwrap_or(Cursor::START);
    let mut written = 0;
    loop {
        let batch = GlobalReader::read_from(db, codec, Parts::All, cursor, 1000, None).await?;
        for event in &batch.events {
            if args.until.is_some_and(|until| event.cursor > until) {
                out.flush()?;
                return Ok(written);
            }
            let in_time = args.since.is_none_or(|since| event.recorded_at >= since)
                && args.before.is_none_or(|before| event.recorded_at < before);
            if in_time {
                serde_json::to_writer(&mut out, &line(event))?;
                out.write_all(b"\n")?;
                written += 1;
            }
        }
        cursor = batch.next;
        if !batch.full {
            break;
        }
    }
    out.flush()?;
    Ok(written)
}

/// One exported event.
fn line(event: &RecordedEvent) -> Value {
    json!({
        "eventId": event.event_id,
        "cursor": format!("{}.{}", event.cursor.tx, event.cursor.pos),
        "aggregateType": event.aggregate_type,
        "aggregateId": event.aggregate_id,
        "sequence": event.sequence,
        "eventType": event.event_type,
        "eventVersion": event.event_version,
        "recordedAt": event.recorded_at,
        "payload": redact(shown(event.payload_value())),
        "metadata": shown_metadata(event.metadata_value()),
    })
}

/// Replaces the value of every `…_hash` field.
fn redact(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    if key.ends_with("_hash") {
                        (key, Value::String("<redacted>".into()))
                    } else {
                        (key, redact(value))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_redacted_at_any_depth() {
        let payload = json!({"UserRegistered": {"password_hash": "$argon2id$…", "roles": ["a"],
                              "nested": [{"refresh_token_hash": "abc"}]}});
        let text = redact(payload).to_string();
        assert!(!text.contains("argon2") && !text.contains("abc"), "{text}");
        assert!(text.contains("roles"));
    }

    #[test]
    fn cursors_parse_as_printed() {
        assert_eq!(parse_cursor("12.34"), Ok(Cursor { tx: 12, pos: 34 }));
        assert!(parse_cursor("1234").is_err());
    }
}
