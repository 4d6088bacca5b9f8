//! The Session aggregate: one login, its refresh-token rotation, and its end.
//!
//! Successful logins are recorded here rather than on the user, so a user's
//! stream stays short and concurrent logins of one user never conflict.
//!
//! Refresh tokens are opaque; only their hashes appear in events. Presenting
//! a token that was already rotated away ends the whole session, unless it is
//! the immediate predecessor of the current token and the rotation happened
//! within the reuse grace period: then the caller answers with the same
//! successor again, so two browser tabs refreshing at once stay logged in.

use chrono::{DateTime, Duration, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::user::SessionCutoff;
use crate::{DomainError, Personal, Services, TokenHash};

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The user logged out.
    Logout,
    /// A rotated refresh token was presented again (likely stolen).
    RefreshTokenReused,
    /// Ended by the user from another session, or by an administrator.
    Revoked,
    /// The session ran past its expiry.
    Expired,
    /// A one-time sign-in token was exchanged for a session of its own.
    Exchanged,
}

impl EndReason {
    /// Stable name, as stored in read models.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::RefreshTokenReused => "refresh_token_reused",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::Exchanged => "exchanged",
        }
    }
}

/// How a session's credential travels, which decides how it is checked
/// and renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// A short-lived bearer access token (JWT) and an opaque refresh token
    /// rotated on every refresh (the secret recorded is the refresh token).
    Bearer,
    /// An opaque session cookie with an idle timeout that keep-alives slide
    /// (the secret recorded is the cookie's).
    Cookie,
    /// An opaque token sent in a header on every request, its expiry
    /// extended while it is used.
    HeaderToken,
}

impl Transport {
    /// The transport of a session recorded before sessions named theirs:
    /// then only the Kolibri surface kept sessions in a cookie. Read-only
    /// compatibility with those events; nothing new is decided by name.
    fn recorded_before_transports(surface: &str) -> Self {
        // The one place a surface's name decides anything, and only for
        // events written before this field existed.
        if surface == "kolibri" {
            Self::Cookie
        } else {
            Self::Bearer
        }
    }

    /// The transport a `SessionStarted` event records (or implies, for
    /// one recorded before transports were).
    pub fn of_started(recorded: Option<Transport>, surface: &str) -> Self {
        recorded.unwrap_or_else(|| Self::recorded_before_transports(surface))
    }

    /// Stable name, as published and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bearer => "bearer",
            Self::Cookie => "cookie",
            Self::HeaderToken => "header_token",
        }
    }
}

fn yes() -> bool {
    true
}

/// Commands on a session.
#[derive(Debug, Clone, strum::IntoStaticStr)]
pub enum SessionCommand {
    /// Record a successful login.
    Start {
        /// Pre-generated (UUIDv7) id, equal to the aggregate id.
        session_id: Uuid,
        /// The user who logged in.
        user_id: Uuid,
        /// Which API surface the login came through (e.g. `ild`).
        surface: String,
        /// How its credential travels.
        transport: Transport,
        /// Whether it may be used at once; `false`: authenticated, but a
        /// step (choosing an account) is still to come.
        active: bool,
        /// The account it acts in, when chosen at the start (a member of
        /// exactly one).
        account: Option<Uuid>,
        /// Whether the client asked to be remembered.
        remember_me: bool,
        /// Hash of the first refresh token.
        refresh_token_hash: TokenHash,
        /// When the user's credentials were checked (taken before the user
        /// was loaded, so a password change racing the login revokes it).
        auth_time: DateTime<Utc>,
        /// When the session ends at the latest.
        expires_at: DateTime<Utc>,
        /// Client IP, where known.
        client_ip: Personal<Option<String>>,
        /// Client user agent, where known.
        user_agent: Personal<Option<String>>,
    },
    /// Exchange a refresh token for its successor.
    ///
    /// Outcomes, told apart by the events written: `RefreshTokenRotated` —
    /// rotated, answer with the successor; no event — the predecessor within
    /// the grace period, answer with the same successor; `SessionEnded` —
    /// reuse detected, the session is revoked, answer 401.
    Refresh {
        /// Hash of the presented token.
        presented_hash: TokenHash,
        /// Hash of the successor derived from the presented token.
        successor_hash: TokenHash,
        /// How long after a rotation its predecessor still yields the same
        /// successor. Zero disables the grace period.
        reuse_grace: Duration,
        /// The user's current sessions cutoff (from the User aggregate).
        user_cutoff: Option<SessionCutoff>,
    },
    /// Move the expiry of a live session later (a sliding session's
    /// keep-alive, recorded coalesced); an earlier or equal expiry changes
    /// nothing.
    Extend {
        /// The new expiry.
        expires_at: DateTime<Utc>,
    },
    /// Act in `account` from now on (checked by the caller to be one of
    /// the user's): activates a session waiting for that choice; choosing
    /// the account it acts in already changes nothing.
    SelectAccount {
        /// The account.
        account: Uuid,
    },
    /// End the session.
    End {
        /// Why.
        reason: EndReason,
    },
}

/// What happened to a session. Version 1 of each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SessionEvent {
    /// A user logged in.
    SessionStarted {
        /// The session's id.
        session_id: Uuid,
        /// Who.
        user_id: Uuid,
        /// Through which surface.
        surface: String,
        /// How its credential travels (absent in sessions recorded before
        /// transports were: see [`Transport::recorded_before_transports`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transport: Option<Transport>,
        /// Usable at once (absent before: every session was).
        #[serde(default = "yes")]
        active: bool,
        /// The account it acts in from the start (absent: none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        account: Option<Uuid>,
        /// Remember-me requested.
        remember_me: bool,
        /// Hash of the first refresh token.
        refresh_token_hash: TokenHash,
        /// When credentials were checked.
        auth_time: DateTime<Utc>,
        /// Absolute expiry.
        expires_at: DateTime<Utc>,
        /// Client IP.
        client_ip: Personal<Option<String>>,
        /// Client user agent.
        user_agent: Personal<Option<String>>,
        /// When.
        started_at: DateTime<Utc>,
    },
    /// The refresh token was rotated.
    RefreshTokenRotated {
        /// Hash of the token that was exchanged.
        previous_hash: TokenHash,
        /// Hash of its successor.
        refresh_token_hash: TokenHash,
        /// When.
        at: DateTime<Utc>,
    },
    /// A live session's expiry moved later (keep-alive).
    SessionExtended {
        /// The new expiry.
        expires_at: DateTime<Utc>,
        /// When.
        at: DateTime<Utc>,
    },
    /// The session acts in an account now (and is active).
    AccountSelected {
        /// The account.
        account: Uuid,
        /// When.
        at: DateTime<Utc>,
    },
    /// The session is over; its tokens stop working at once.
    SessionEnded {
        /// Why.
        reason: EndReason,
        /// When.
        at: DateTime<Utc>,
    },
}

impl DomainEvent for SessionEvent {
    fn event_type(&self) -> String {
        match self {
            Self::SessionStarted { .. } => "SessionStarted",
            Self::RefreshTokenRotated { .. } => "RefreshTokenRotated",
            Self::SessionExtended { .. } => "SessionExtended",
            Self::AccountSelected { .. } => "AccountSelected",
            Self::SessionEnded { .. } => "SessionEnded",
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}

/// A session's current state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Session {
    id: Option<Uuid>,
    user_id: Option<Uuid>,
    surface: String,
    transport: Option<Transport>,
    active: bool,
    auth_time: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    current_hash: TokenHash,
    rotated_at: Option<DateTime<Utc>>,
    previous_hashes: Vec<TokenHash>,
    ended: Option<EndReason>,
    /// The account it acts in, and since when.
    #[serde(default)]
    account: Option<(Uuid, DateTime<Utc>)>,
}

impl Session {
    /// The session id, once started.
    pub fn id(&self) -> Option<Uuid> {
        self.id
    }
    /// The user, once started.
    pub fn user_id(&self) -> Option<Uuid> {
        self.user_id
    }
    /// When the user's credentials were checked for this session.
    pub fn auth_time(&self) -> Option<DateTime<Utc>> {
        self.auth_time
    }
    /// Absolute expiry.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }
    /// Why the session ended, if it has.
    pub fn ended(&self) -> Option<EndReason> {
        self.ended
    }
    /// Whether `hash` is the session's current refresh token.
    pub fn current_refresh_token_is(&self, hash: &TokenHash) -> bool {
        self.id.is_some() && &self.current_hash == hash
    }

    /// The surface the session was started through.
    pub fn surface(&self) -> &str {
        &self.surface
    }

    /// How the session's credential travels.
    pub fn transport(&self) -> Transport {
        Transport::of_started(self.transport, &self.surface)
    }

    /// Whether the session may be used (not waiting for a further step).
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// The account it acts in, and since when.
    pub fn account(&self) -> Option<(Uuid, DateTime<Utc>)> {
        self.account
    }

    /// The checks every use of a live session makes.
    fn require_live(&self, now: DateTime<Utc>) -> Result<(Uuid, DateTime<Utc>), DomainError> {
        let (Some(id), Some(auth_time), Some(expires_at)) =
            (self.id, self.auth_time, self.expires_at)
        else {
            return Err(DomainError::SessionNotFound);
        };
        if self.ended.is_some() {
            return Err(DomainError::SessionEnded);
        }
        if now >= expires_at {
            return Err(DomainError::SessionExpired);
        }
        Ok((id, auth_time))
    }
}

impl Aggregate for Session {
    const TYPE: &'static str = "session";
    type Command = SessionCommand;
    type Event = SessionEvent;
    type Error = DomainError;
    type Services = Services;

    async fn handle(
        &mut self,
        command: SessionCommand,
        services: &Services,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        let now = services.now();
        match command {
            SessionCommand::Start {
                session_id,
                user_id,
                surface,
                transport,
                active,
                account,
                remember_me,
                refresh_token_hash,
                auth_time,
                expires_at,
                client_ip,
                user_agent,
            } => {
                if self.id.is_some() {
                    return Err(DomainError::SessionAlreadyStarted);
                }
                let event = SessionEvent::SessionStarted {
                    session_id,
                    user_id,
                    surface,
                    transport: Some(transport),
                    active,
                    account,
                    remember_me,
                    refresh_token_hash,
                    auth_time,
                    expires_at,
                    client_ip,
                    user_agent,
                    started_at: now,
                };
                sink.write(event, self).await;
            }
            SessionCommand::Refresh {
                presented_hash,
                successor_hash,
                reuse_grace,
                user_cutoff,
            } => {
                let (id, auth_time) = self.require_live(now)?;
                if user_cutoff.is_some_and(|cutoff| cutoff.revokes(id, auth_time)) {
                    return Err(DomainError::SessionRevoked);
                }
                if presented_hash == self.current_hash {
                    let event = SessionEvent::RefreshTokenRotated {
                        previous_hash: presented_hash,
                        refresh_token_hash: successor_hash,
                        at: now,
                    };
                    sink.write(event, self).await;
                } else if self.previous_hashes.contains(&presented_hash) {
                    // Only the immediate predecessor, re-presented shortly
                    // after its rotation, gets its successor again.
                    let within_grace = reuse_grace > Duration::zero()
                        && self.previous_hashes.last() == Some(&presented_hash)
                        && successor_hash == self.current_hash
                        && self.rotated_at.is_some_and(|at| now - at <= reuse_grace);
                    if !within_grace {
                        let event = SessionEvent::SessionEnded {
                            reason: EndReason::RefreshTokenReused,
                            at: now,
                        };
                        sink.write(event, self).await;
                    }
                } else {
                    return Err(DomainError::InvalidRefreshToken);
                }
            }
            SessionCommand::Extend { expires_at } => {
                self.require_live(now)?;
                if self.expires_at.is_some_and(|current| expires_at > current) {
                    let event = SessionEvent::SessionExtended {
                        expires_at,
                        at: now,
                    };
                    sink.write(event, self).await;
                }
            }
            SessionCommand::SelectAccount { account } => {
                self.require_live(now)?;
                if self.account.map(|(current, _)| current) != Some(account) || !self.active {
                    let event = SessionEvent::AccountSelected { account, at: now };
                    sink.write(event, self).await;
                }
            }
            SessionCommand::End { reason } => {
                if self.id.is_none() {
                    return Err(DomainError::SessionNotFound);
                }
                // Ending an ended session changes nothing: logout is idempotent.
                if self.ended.is_none() {
                    sink.write(SessionEvent::SessionEnded { reason, at: now }, self)
                        .await;
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: SessionEvent) {
        match event {
            SessionEvent::SessionStarted {
                session_id,
                user_id,
                surface,
                transport,
                active,
                account,
                refresh_token_hash,
                auth_time,
                expires_at,
                started_at,
                ..
            } => {
                self.account = account.map(|account| (account, started_at));
                self.id = Some(session_id);
                self.user_id = Some(user_id);
                self.surface = surface;
                self.transport = transport;
                self.active = active;
                self.auth_time = Some(auth_time);
                self.expires_at = Some(expires_at);
                self.current_hash = refresh_token_hash;
            }
            SessionEvent::SessionExtended { expires_at, .. } => {
                self.expires_at = Some(expires_at);
            }
            SessionEvent::RefreshTokenRotated {
                previous_hash,
                refresh_token_hash,
                at,
            } => {
                self.previous_hashes.push(previous_hash);
                self.current_hash = refresh_token_hash;
                self.rotated_at = Some(at);
            }
            SessionEvent::AccountSelected { account, at } => {
                self.account = Some((account, at));
                self.active = true;
            }
            SessionEvent::SessionEnded { reason, .. } => {
                self.ended = Some(reason);
            }
        }
    }
}

impl crate::CommandName for SessionCommand {
    fn name(&self) -> &'static str {
        self.into()
    }
}
