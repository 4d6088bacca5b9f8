//! The projector catching up with a backlog of profile updates to users
//! whose rows exist (the fold's updates of existing rows).

use std::time::{Duration, Instant};

use aggregates::User;
use eventauth::App;

/// Profile updates appended per user.
const PER_USER: usize = 1_250;

/// Appends [`PER_USER`] profile updates to each of `users` straight to the
/// log (one transaction per user) and waits for the projector to have
/// projected them all: (events, seconds to append them, seconds until all
/// were projected), both from the first append.
pub async fn run(app: &App, users: &[String]) -> anyhow::Result<(usize, f64, f64)> {
    let ids = crate::user_ids(app, users).await?;
    let started = Instant::now();
    for id in &ids {
        let after = app.store.load::<User>(&id.to_string()).await?.version;
        eventauth::ops::synthetic::append_profile_updates(
            app.store.db(),
            *id,
            after as i64,
            PER_USER,
        )
        .await?;
    }
    let inserted = started.elapsed().as_secs_f64();
    // Asked often: the catching up is what is timed.
    crate::caught_up(app, Duration::from_millis(2)).await?;
    Ok((
        PER_USER * ids.len(),
        inserted,
        started.elapsed().as_secs_f64(),
    ))
}
