//! Wake-ups for readers of the global stream: a PostgreSQL `LISTEN` on the
//! channel the events trigger notifies, plus in-process pokes after local
//! commits. Readers still poll on a timer; a wake-up only shortens the wait.
//!
//! A poke does not send a reader off at once: it lingers [`LINGER`] first,
//! so that commits arriving close together are read, projected and
//! published together (a group commit for the background: one batch of
//! statements for many commands instead of one each). Nothing a client
//! waits for depends on the linger: commands answer without the read
//! models, and a query that must see a commit urges the readers
//! ([`Wake::urge`]), which cuts the linger short.

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::watch;

/// The channel `events_notify()` signals on.
pub const CHANNEL: &str = "eventauth_events";

/// Resolves once `stop` turns true (or its sender is gone).
pub async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// How long a reader lingers after a poke before reading.
pub const LINGER: Duration = Duration::from_millis(20);

/// A counter that moves whenever new events may be readable, and one that
/// moves when someone waits for them.
#[derive(Debug, Clone)]
pub struct Wake {
    tx: watch::Sender<u64>,
    urged: watch::Sender<u64>,
}

/// One reader's view of a [`Wake`].
#[derive(Debug)]
pub struct Waiter {
    pokes: watch::Receiver<u64>,
    urges: watch::Receiver<u64>,
}

impl Waiter {
    /// Takes every wake-up so far as seen (called before each read).
    pub fn seen(&mut self) {
        self.pokes.borrow_and_update();
        self.urges.borrow_and_update();
    }

    /// Waits for a reason to read again: a poke (then [`LINGER`], unless
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
                    _ = tokio::time::sleep(LINGER.min(pause)) => {}
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
        }
    }

    /// Signals readers that events may be readable.
    pub fn poke(&self) {
        self.tx.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Signals readers that someone waits for what is readable: no
    /// lingering.
    pub fn urge(&self) {
        self.urged.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A reader's view, to wait on.
    pub fn subscribe(&self) -> Waiter {
        Waiter {
            pokes: self.tx.subscribe(),
            urges: self.urged.subscribe(),
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
                loop {
                    listener.recv().await?;
                    self.poke();
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
