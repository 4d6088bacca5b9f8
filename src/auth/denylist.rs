//! The in-memory deny-list: ended sessions and per-user cutoffs.
//!
//! Every instance (standby ones too) keeps its own, fed by its own tail of
//! the global stream ([`super::feed`]), so checking a token on the hot path
//! never touches the database, and a logout on one instance takes effect on
//! all of them within a notification round trip. The instance that ends a
//! session also records it here directly, so its own next request already
//! sees it.

use std::time::Duration;

use aggregates::SessionCutoff;
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use uuid::Uuid;

/// Ended sessions and user cutoffs.
#[derive(Debug, Default)]
pub struct DenyList {
    ended: DashMap<Uuid, DateTime<Utc>>,
    cutoffs: DashMap<Uuid, SessionCutoff>,
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

    /// Forgets ended sessions whose self-contained tokens (`token_ttl`: the
    /// longest the service issues) have all expired by now: nothing can
    /// present them any more except a refresh token or a cookie, and those
    /// are checked against the Session aggregate itself.
    pub fn prune(&self, access_ttl: Duration) {
        let Ok(ttl) = chrono::Duration::from_std(access_ttl) else {
            return;
        };
        let horizon = Utc::now() - ttl - chrono::Duration::minutes(1);
        self.ended.retain(|_, at| *at > horizon);
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
