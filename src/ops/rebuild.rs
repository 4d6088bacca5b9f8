//! `eventauth replay` and `eventauth verify`: rebuild the read models from
//! the log beside the live ones, then swap them in or compare (see
//! `projections::rebuild`), with a progress bar on a terminal.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use projections::rebuild::{Progress, Scratch, Verified};
use projections::{Codec, Db};

/// A progress bar over the events of the log (hidden when standard error
/// is not a terminal).
async fn bar(db: &Db, verb: &str) -> anyhow::Result<ProgressBar> {
    let total: i64 = match db {
        Db::Postgres(pool) => {
            sqlx::query_scalar("SELECT count(*) FROM events")
                .fetch_one(pool)
                .await?
        }
        Db::Sqlite { reader, .. } => {
            sqlx::query_scalar("SELECT count(*) FROM events")
                .fetch_one(reader)
                .await?
        }
    };
    let bar = ProgressBar::new(total.max(0) as u64);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{verb} {{bar:40}} {{pos}}/{{len}} events, {{per_sec}}, {{elapsed}} (eta {{eta}})"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    Ok(bar)
}

fn rate(events: u64, started: Instant) -> f64 {
    events as f64 / started.elapsed().as_secs_f64().max(1e-9)
}

/// Rebuilds the read models and swaps them in while the service runs.
/// Returns the report.
pub async fn replay(db: &Db, codec: Arc<dyn Codec>) -> anyhow::Result<String> {
    let bar = bar(db, "replaying").await?;
    let started = Instant::now();
    let done = Scratch::create(db, codec)
        .await?
        .build_and_swap(&mut |p: Progress| bar.set_position(p.applied))
        .await?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        events = done.applied,
        seconds,
        per_second = rate(done.applied, started),
        "read models replayed and swapped in"
    );
    Ok(format!(
        "replayed {} events in {:.1} s ({:.0} events/s); the read models now stand at {}\n",
        done.applied,
        seconds,
        rate(done.applied, started),
        done.cursor
    ))
}

/// Rebuilds the read models in a scratch space and compares them with the
/// live ones. Returns the report and whether everything matched.
pub async fn verify(db: &Db, codec: Arc<dyn Codec>) -> anyhow::Result<(bool, String)> {
    let bar = bar(db, "rebuilding").await?;
    let started = Instant::now();
    let verified = Scratch::create(db, codec)
        .await?
        .build_and_compare(db, &mut |p: Progress| bar.set_position(p.applied))
        .await?;
    bar.finish_and_clear();
    Ok(report(&verified, started))
}

fn report(verified: &Verified, started: Instant) -> (bool, String) {
    let mut out = format!(
        "rebuilt {} events in {:.1} s ({:.0} events/s); compared at checkpoint {}\n",
        verified.applied,
        started.elapsed().as_secs_f64(),
        rate(verified.applied, started),
        verified.at
    );
    let mut same = true;
    for table in &verified.tables {
        if table.is_empty() {
            let _ = writeln!(out, "{}: identical", table.table);
            continue;
        }
        same = false;
        let (live, live_keys) = &table.only_live;
        let (rebuilt, rebuilt_keys) = &table.only_rebuilt;
        let _ = writeln!(
            out,
            "{}: DIFFERENT: {live} live rows the log does not produce, {rebuilt} rows the log \
             produces that are missing or different",
            table.table
        );
        for key in live_keys {
            let _ = writeln!(out, "  live only:    {key}");
        }
        for key in rebuilt_keys {
            let _ = writeln!(out, "  rebuilt only: {key}");
        }
    }
    (same, out)
}
