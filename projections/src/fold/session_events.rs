//! Taking session events into the fold: starts create rows, later events
//! on those rows change them as the per-event SQL would.

use aggregates::SessionEvent;
use uuid::Uuid;

use super::{Fold, NewSession};
use crate::RecordedEvent;

impl Fold {
    /// Takes a session event when it starts a session or changes one in
    /// the fold; gives it back otherwise (its SQL touches that session's
    /// row only, so it needs no flush).
    pub(crate) fn session(
        &mut self,
        event: &RecordedEvent,
        payload: SessionEvent,
    ) -> Option<SessionEvent> {
        let version = event.sequence;
        match payload {
            SessionEvent::SessionStarted {
                session_id,
                user_id,
                surface,
                remember_me,
                auth_time,
                expires_at,
                client_ip,
                user_agent,
                started_at,
                ..
            } => {
                if self.session_at.contains_key(&session_id) {
                    return None;
                }
                let mut session = NewSession {
                    session_id,
                    user_id,
                    surface,
                    remember_me,
                    client_ip: client_ip.into_inner(),
                    user_agent: user_agent.into_inner(),
                    auth_time,
                    started_at,
                    last_seen_at: started_at,
                    expires_at,
                    ended_at: None,
                    end_reason: None,
                    refreshes: 0,
                    version,
                    check_owner: !self.owns(user_id),
                };
                // A login projected after its user's cutoff although it
                // authenticated before it (see `sessions::apply`).
                let owner = self.user_at.get(&user_id).map(|&i| {
                    let u = &self.users[i];
                    (u.sessions_valid_after, u.sessions_kept)
                });
                let owner = owner.or_else(|| {
                    self.facility_user_at.get(&user_id).map(|&i| {
                        let u = &self.facility_users[i];
                        (u.sessions_valid_after, u.sessions_kept)
                    })
                });
                if let Some((Some(after), kept)) = owner {
                    if auth_time < after && kept != Some(session_id) {
                        session.ended_at = Some(after);
                        session.end_reason = Some("revoked".to_string());
                    }
                }
                self.session_at.insert(session_id, self.sessions.len());
                self.sessions.push(session);
                self.session_owners.insert(user_id);
                None
            }
            payload => {
                let Some(&at) = event
                    .aggregate_id
                    .parse::<Uuid>()
                    .ok()
                    .and_then(|id| self.session_at.get(&id))
                else {
                    return Some(payload);
                };
                let session = &mut self.sessions[at];
                if session.version >= version {
                    return None;
                }
                match payload {
                    SessionEvent::RefreshTokenRotated { at, .. } => {
                        session.last_seen_at = at;
                        session.refreshes += 1;
                    }
                    SessionEvent::SessionExtended { expires_at, at } => {
                        session.expires_at = expires_at;
                        session.last_seen_at = at;
                    }
                    SessionEvent::AccountSelected { at, .. } => {
                        session.last_seen_at = at;
                    }
                    SessionEvent::SessionEnded { reason, at } => {
                        session.ended_at = session.ended_at.or(Some(at));
                        if session.end_reason.is_none() {
                            session.end_reason = Some(reason.as_str().to_string());
                        }
                    }
                    payload @ SessionEvent::SessionStarted { .. } => return Some(payload),
                }
                session.version = version;
                None
            }
        }
    }
}
