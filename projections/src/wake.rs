//! Wake-ups for readers of the global stream: in-process pokes after local
//! commits, and, between instances on one PostgreSQL store, notifications
//! on [`CHANNEL`]. Readers still poll on a timer; a wake-up only shortens
//! the wait.
//!
//! Other instances hear of this instance's commits from its announcer
//! ([`Wake::announce`]): one `NOTIFY` per [`ANNOUNCE_EVERY`] at most, in a
//! transaction of its own, after the commits. Not from the committing
//! transactions themselves (a trigger, as before): a transaction that
//! notifies takes a cluster-wide lock at commit and holds it through its
//! WAL flush, so every committing transaction waited for the one before it
//! to reach the disk — no group commit (pgbench, 32 clients, single-row
//! inserts: 18,500–19,300/s without the trigger, 4,500–4,600/s with it).
//!
//! A poke does not send a reader off at once: it lingers first (each reader
//! its own time, [`Wake::subscribe`]), so that commits arriving close
//! together are read, projected and published together (a group commit for
//! the background: one batch of statements for many commands instead of
//! one each). Nothing a client waits for depends on the linger: commands
//! answer without the read models, and a query that must see a commit
//! urges the readers ([`Wake::urge`]), which cuts the linger short. The
//! urge stays in its instance: whichever instance's projector takes the
//! projector lock for a batch projects it, so the urged one projects the
//! commit itself (or finds another instance did).

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::watch;

/// The channel instances announce their commits on (the payload: the
/// announcing instance, which ignores its own announcements).
pub const CHANNEL: &str = "eventauth_events";

/// The shortest time between two announcements of one instance: commits
/// within it are announced together. A commit after a quiet spell is
/// announced at once; under load an announcement per 50 ms (the readers who
/// hear it linger 20–100 ms anyway) rather than one per login (the logins
/// benchmark at ~100/s had paid one statement each for it at 10 ms).
pub const ANNOUNCE_EVERY: Duration = Duration::from_millis(50);

/// Resolves once `stop` turns true (or its sender is gone).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// A counter that moves whenever new events may be readable, one that moves
/// when someone waits for them, and one that moves on this instance's own
/// commits (what its announcer tells the others, named by `instance`).
#[derive(Debug, Clone)]
pub struct Wake {
    tx: watch::Sender<u64>,
    urged: watch::Sender<u64>,
    committed: watch::Sender<u64>,
    instance: uuid::Uuid,
}

/// One reader's view of a [`Wake`].
#[derive(Debug)]
pub struct Waiter {
    pokes: watch::Receiver<u64>,
    urges: watch::Receiver<u64>,
    linger: Duration,
}

impl Waiter {
    /// Takes every wake-up so far as seen (called before each read).
    pub fn seen(&mut self) {
        self.pokes.borrow_and_update();
        self.urges.borrow_and_update();
    }

    /// Waits for a reason to read again: a poke (then the linger, unless
    /// urged meanwhile), an urge, or `pause` elapsed.
    pub async fn wait(&mut self, pause: Duration) {
        tokio::select! {
            poked = self.pokes.changed() => {
                if poked.is_err() {
                    // Nobody pokes any more: only the timer is left.
                    tokio::time::sleep(pause).await;
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(self.linger.min(pause)) => {}
                    _ = self.urges.changed() => {}
                }
            }
            _ = self.urges.changed() => {}
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

impl Default for Wake {
    fn default() -> Self {
        Self::new()
    }
}

impl Wake {
    /// A wake source nobody pokes yet.
    pub fn new() -> Self {
        Self {
            tx: watch::channel(0).0,
            urged: watch::channel(0).0,
            committed: watch::channel(0).0,
            instance: uuid::Uuid::new_v4(),
        }
    }

    /// Signals readers that events may be readable.
    pub fn poke(&self) {
        self.tx.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// This instance committed events: its readers are poked, and the
    /// announcer tells the other instances.
    pub fn committed(&self) {
        self.committed.send_modify(|n| *n = n.wrapping_add(1));
        self.poke();
    }

    /// Signals readers that someone waits for what is readable: no
    /// lingering.
    pub fn urge(&self) {
        self.urged.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A reader's view, to wait on; it lingers `linger` after a poke.
    pub fn subscribe(&self, linger: Duration) -> Waiter {
        Waiter {
            pokes: self.tx.subscribe(),
            urges: self.urged.subscribe(),
            linger,
        }
    }

    /// Announces this instance's commits to the other instances on `pool`'s
    /// store until `stop` resolves (what was committed before the stop is
    /// still announced): at most one notification per [`ANNOUNCE_EVERY`].
    pub async fn announce(self, pool: PgPool, mut stop: watch::Receiver<bool>) {
        let mut commits = self.committed.subscribe();
        let instance = self.instance.to_string();
        loop {
            tokio::select! {
                biased;
                changed = commits.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                () = stopped(&mut stop) => {
                    if commits.has_changed().unwrap_or(false) {
                        let _ = notify(&pool, &instance).await;
                    }
                    return;
                }
            }
            commits.borrow_and_update();
            if let Err(error) = notify(&pool, &instance).await {
                tracing::warn!(%error, "could not announce commits to the other instances");
            }
            tokio::time::sleep(ANNOUNCE_EVERY).await;
        }
    }

    /// Listens for the store's notifications until `stop` resolves; keeps
    /// reconnecting (and poking, since notifications may have been missed)
    /// while the database is unreachable.
    pub async fn listen(self, pool: PgPool, mut stop: watch::Receiver<bool>) {
        loop {
            let listener = async {
                let mut listener = PgListener::connect_with(&pool).await?;
                listener.listen(CHANNEL).await?;
                let instance = self.instance.to_string();
                loop {
                    // Its own announcements tell this instance nothing.
                    if listener.recv().await?.payload() != instance {
                        self.poke();
                    }
                }
                #[allow(unreachable_code)]
                Ok::<(), sqlx::Error>(())
            };
            tokio::select! {
                result = listener => {
                    if let Err(error) = result {
                        tracing::warn!(%error, "event notification listener failed; reconnecting");
                    }
                    self.poke();
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                () = stopped(&mut stop) => return,
            }
        }
    }
}

/// One announcement, in a transaction of its own that does not wait for the
/// disk (a notification is no data: a lost one costs a poll).
async fn notify(pool: &PgPool, payload: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(payload)
        .execute(pool)
        .await
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A wake source and one reader lingering `linger`, every wake-up so
    /// far seen.
    fn reader(linger: Duration) -> (Wake, Waiter) {
        let wake = Wake::new();
        let mut reader = wake.subscribe(linger);
        reader.seen();
        (wake, reader)
    }

    #[tokio::test]
    async fn a_poke_is_read_after_the_readers_own_linger() {
        let (wake, mut reader) = reader(Duration::from_millis(300));
        wake.poke();
        let started = std::time::Instant::now();
        reader.wait(Duration::from_secs(3600)).await;
        assert!(started.elapsed() >= Duration::from_millis(300));
    }

    #[tokio::test]
    async fn a_query_waiting_cuts_the_linger_short() {
        let (wake, mut reader) = reader(Duration::from_secs(3600));
        wake.committed();
        wake.urge();
        let woken = tokio::time::timeout(
            Duration::from_secs(30),
            reader.wait(Duration::from_secs(3600)),
        )
        .await;
        assert!(woken.is_ok(), "the urge did not end an hour's linger");
    }
}
