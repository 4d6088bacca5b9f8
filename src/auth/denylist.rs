//! The in-memory deny-list: ended sessions and per-user cutoffs.
//!
//! Every instance (standby ones too) keeps its own, fed by its own tail of
//! the global stream, so checking a token on the hot path never touches the
//! database, and a logout on one instance takes effect on all of them
//! within a notification round trip. The instance that ends a session also
//! records it here directly, so its own next request already sees it.

use std::sync::Arc;
use std::time::Duration;

use aggregates::{Session, SessionCutoff, SessionEvent, User, UserEvent};
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use dashmap::DashMap;
use projections::{Batch, Cursor, GlobalReader, Wake};
use sqlx::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

/// Event types the deny-list folds.
const TYPES: &[&str] = &["SessionEnded", "PasswordChanged", "SessionsRevoked"];

/// Ended sessions and user cutoffs.
#[derive(Debug)]
pub struct DenyList {
    ended: DashMap<Uuid, DateTime<Utc>>,
    cutoffs: DashMap<Uuid, SessionCutoff>,
    progress: watch::Sender<Cursor>,
}

impl Default for DenyList {
    fn default() -> Self {
        Self {
            ended: DashMap::new(),
            cutoffs: DashMap::new(),
            progress: watch::channel(Cursor::START).0,
        }
    }
}

impl DenyList {
    /// Whether the session `session_id` of `user_id`, authenticated at
    /// `auth_time`, may no longer be used.
    pub fn denies(&self, user_id: Uuid, session_id: Uuid, auth_time: DateTime<Utc>) -> bool {
        self.ended.contains_key(&session_id)
            || self
                .cutoffs
                .get(&user_id)
                .is_some_and(|cutoff| cutoff.revokes(session_id, auth_time))
    }

    /// Records an ended session.
    pub fn end_session(&self, session_id: Uuid, at: DateTime<Utc>) {
        self.ended.insert(session_id, at);
    }

    /// Records a user's cutoff (a later one replaces an earlier one).
    pub fn set_cutoff(&self, user_id: Uuid, cutoff: SessionCutoff) {
        let mut entry = self.cutoffs.entry(user_id).or_insert(cutoff);
        if entry.after < cutoff.after {
            *entry = cutoff;
        }
    }

    /// How far the feed has read (read-your-writes waits on it too).
    pub fn progress(&self) -> watch::Receiver<Cursor> {
        self.progress.subscribe()
    }

    /// Forgets ended sessions whose access tokens have all expired by now:
    /// nothing can present them any more except a refresh token, and
    /// refreshes are checked against the Session aggregate itself.
    pub fn prune(&self, access_ttl: Duration) {
        let Ok(ttl) = chrono::Duration::from_std(access_ttl) else {
            return;
        };
        let horizon = Utc::now() - ttl - chrono::Duration::minutes(1);
        self.ended.retain(|_, at| *at > horizon);
    }

    /// Tails the global stream until `stop`.
    pub async fn run(self: Arc<Self>, pool: PgPool, wake: Wake, mut stop: watch::Receiver<bool>) {
        let mut woken = wake.subscribe();
        let mut cursor = Cursor::START;
        loop {
            woken.borrow_and_update();
            let pause = match self.step(&pool, &mut cursor).await {
                Ok(Batch { full: true, .. }) => continue,
                Ok(Batch { pending: true, .. }) => Duration::from_millis(5),
                Ok(_) => Duration::from_secs(1),
                Err(error) => {
                    tracing::warn!(%error, "deny-list feed failed; retrying");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                _ = woken.changed() => {}
                _ = tokio::time::sleep(pause) => {}
                () = projections::wake::stopped(&mut stop) => return,
            }
        }
    }

    /// Reads and folds one batch; returns it (for its `full` and `pending`).
    async fn step(&self, pool: &PgPool, cursor: &mut Cursor) -> Result<Batch, sqlx::Error> {
        let mut conn = pool.acquire().await?;
        let batch = GlobalReader::read(&mut conn, *cursor, 1000, Some(TYPES)).await?;
        drop(conn);
        for event in &batch.events {
            let Ok(id) = event.aggregate_id.parse::<Uuid>() else {
                continue;
            };
            match event.aggregate_type.as_str() {
                Session::TYPE => {
                    if let Ok(SessionEvent::SessionEnded { at, .. }) = event.decode() {
                        self.end_session(id, at);
                    }
                }
                User::TYPE => {
                    if let Some(cutoff) = event.decode::<UserEvent>().ok().and_then(|e| e.cutoff())
                    {
                        self.set_cutoff(id, cutoff);
                    }
                }
                _ => {}
            }
        }
        *cursor = batch.next;
        self.progress.send_if_modified(|current| {
            let newer = batch.next > *current;
            if newer {
                *current = batch.next;
            }
            newer
        });
        Ok(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ended_session_is_denied() {
        let list = DenyList::default();
        let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
        assert!(!list.denies(user, session, Utc::now()));
        list.end_session(session, Utc::now());
        assert!(list.denies(user, session, Utc::now()));
    }

    #[test]
    fn a_cutoff_denies_older_sessions_but_the_kept_one() {
        let list = DenyList::default();
        let (user, kept, other) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let before = Utc::now();
        let cutoff = before + chrono::Duration::seconds(1);
        list.set_cutoff(
            user,
            SessionCutoff {
                after: cutoff,
                except: Some(kept),
            },
        );
        assert!(list.denies(user, other, before));
        assert!(!list.denies(user, kept, before));
        assert!(!list.denies(user, other, cutoff + chrono::Duration::seconds(1)));
    }

    #[test]
    fn an_older_cutoff_does_not_replace_a_newer_one() {
        let list = DenyList::default();
        let user = Uuid::now_v7();
        let now = Utc::now();
        list.set_cutoff(
            user,
            SessionCutoff {
                after: now,
                except: None,
            },
        );
        list.set_cutoff(
            user,
            SessionCutoff {
                after: now - chrono::Duration::hours(1),
                except: None,
            },
        );
        assert!(list.denies(user, Uuid::now_v7(), now - chrono::Duration::minutes(1)));
    }
}
