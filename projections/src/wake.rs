//! Wake-ups for readers of the global stream: a PostgreSQL `LISTEN` on the
//! channel the events trigger notifies, plus in-process pokes after local
//! commits. Readers still poll on a timer; a wake-up only shortens the wait.

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

/// A counter that moves whenever new events may be readable.
#[derive(Debug, Clone)]
pub struct Wake {
    tx: watch::Sender<u64>,
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
        }
    }

    /// Signals readers that events may be readable.
    pub fn poke(&self) {
        self.tx.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver to wait on.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.tx.subscribe()
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
