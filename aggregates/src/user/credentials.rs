//! How a user's credentials and access are decided: registration, login
//! authorization, lockout, passwords, the mailed single-use tokens (email
//! verification, password reset), disabling and deletion.
//!
//! They live together because each answers the same question — may this
//! account authenticate, and with what — and those that end sessions do it
//! by moving the user's [`SessionCutoff`] rather than touching each session.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Decision, SessionCutoff, User, UserEvent};
use crate::{DomainError, PasswordHash, Personal, TokenHash};

/// An outstanding single-use token (email verification or password reset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingToken {
    /// SHA-256 of the token.
    pub token_hash: TokenHash,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was issued.
    #[serde(default)]
    pub issued_at: Option<DateTime<Utc>>,
}

/// A new reset mail waits this long after the previous one (no mail
/// bombing through `POST /sign/reset`).
pub const RESET_MAIL_INTERVAL: chrono::Duration = chrono::Duration::seconds(60);

impl PendingToken {
    /// Checks a presented token against this one at `now`.
    fn check(
        this: Option<&Self>,
        presented: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        match this {
            Some(pending) if pending.token_hash.matches(presented) => {
                if now < pending.expires_at {
                    Ok(())
                } else {
                    Err(DomainError::TokenExpired)
                }
            }
            _ => Err(DomainError::InvalidToken),
        }
    }
}

impl User {
    // The command's six fields as they come, plus the instant: bundling
    // them would only rebuild the command.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn handle_register(
        &self,
        user_id: Uuid,
        email: Personal<String>,
        first_name: Personal<String>,
        last_name: Personal<String>,
        password_hash: PasswordHash,
        roles: Vec<String>,
        now: DateTime<Utc>,
    ) -> Decision {
        if self.is_registered() {
            return Err(DomainError::AlreadyRegistered);
        }
        Ok(Some(UserEvent::UserRegistered {
            user_id,
            email,
            first_name,
            last_name,
            password_hash,
            roles,
            registered_at: now,
        }))
    }

    /// The refusals come in a fixed order, which the tests pin: a disabled
    /// account, then a running lockout (with its end), then a hash replaced
    /// since the password was verified.
    pub(super) fn handle_authorize_login(
        &self,
        verified_against: &PasswordHash,
        rehash: Option<PasswordHash>,
        now: DateTime<Utc>,
    ) -> Decision {
        self.require_registered()?;
        if self.disabled {
            return Err(DomainError::AccountDisabled);
        }
        if let Some(until) = self.locked_until(now) {
            return Err(DomainError::AccountLocked { until });
        }
        self.require_current_hash(verified_against)?;
        Ok(rehash.map(|password_hash| UserEvent::PasswordRehashed {
            password_hash,
            at: now,
        }))
    }

    pub(super) fn handle_lock_out(
        &self,
        until: DateTime<Utc>,
        failed_attempts: u32,
        now: DateTime<Utc>,
    ) -> Decision {
        self.require_registered()?;
        // An equal or longer lock already running: nothing new to record.
        if self
            .locked_until(now)
            .is_some_and(|current| current >= until)
        {
            return Ok(None);
        }
        Ok(Some(UserEvent::UserLockedOut {
            until,
            failed_attempts,
            at: now,
        }))
    }

    pub(super) fn handle_change_password(
        &self,
        verified_against: &PasswordHash,
        new_password_hash: PasswordHash,
        keep_session: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Decision {
        self.require_registered()?;
        self.require_current_hash(verified_against)?;
        Ok(Some(UserEvent::PasswordChanged {
            password_hash: new_password_hash,
            cutoff: SessionCutoff {
                after: now,
                except: keep_session,
            },
            at: now,
        }))
    }

    /// Nothing to check the password against: who may set it (an
    /// administrator, or a facility user on their own account as Kolibri
    /// allows) is decided before the command is built.
    pub(super) fn handle_set_password(
        &self,
        new_password_hash: PasswordHash,
        keep_session: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Decision {
        self.require_registered()?;
        Ok(Some(UserEvent::PasswordChanged {
            password_hash: new_password_hash,
            cutoff: SessionCutoff {
                after: now,
                except: keep_session,
            },
            at: now,
        }))
    }

    pub(super) fn handle_revoke_sessions(
        &self,
        keep_session: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Decision {
        self.require_registered()?;
        Ok(Some(UserEvent::SessionsRevoked {
            cutoff: SessionCutoff {
                after: now,
                except: keep_session,
            },
            at: now,
        }))
    }

    pub(super) fn handle_issue_email_verification(
        &self,
        token_hash: TokenHash,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Decision {
        self.require_registered()?;
        if self.email_verified {
            return Err(DomainError::AlreadyVerified);
        }
        Ok(Some(UserEvent::EmailVerificationIssued {
            token_hash,
            expires_at,
            at: now,
        }))
    }

    pub(super) fn handle_verify_email(
        &self,
        token_hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> Decision {
        self.require_registered()?;
        PendingToken::check(self.pending_verification.as_ref(), token_hash, now)?;
        Ok(Some(UserEvent::EmailVerified { at: now }))
    }

    pub(super) fn handle_issue_password_reset(
        &self,
        token_hash: TokenHash,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Decision {
        self.require_registered()?;
        let recent = self
            .pending_reset
            .as_ref()
            .and_then(|p| p.issued_at)
            .is_some_and(|issued| now < issued + RESET_MAIL_INTERVAL);
        if recent {
            return Err(DomainError::TooSoon);
        }
        Ok(Some(UserEvent::PasswordResetIssued {
            token_hash,
            expires_at,
            at: now,
        }))
    }

    pub(super) fn handle_reset_password(
        &self,
        token_hash: &TokenHash,
        new_password_hash: PasswordHash,
        now: DateTime<Utc>,
    ) -> Decision {
        self.require_registered()?;
        PendingToken::check(self.pending_reset.as_ref(), token_hash, now)?;
        Ok(Some(UserEvent::PasswordReset {
            password_hash: new_password_hash,
            cutoff: SessionCutoff {
                after: now,
                except: None,
            },
            at: now,
        }))
    }

    pub(super) fn handle_disable(&self, now: DateTime<Utc>) -> Decision {
        self.require_registered()?;
        if self.disabled {
            return Ok(None);
        }
        Ok(Some(UserEvent::UserDisabled {
            cutoff: SessionCutoff {
                after: now,
                except: None,
            },
            at: now,
        }))
    }

    pub(super) fn handle_enable(&self, now: DateTime<Utc>) -> Decision {
        self.require_registered()?;
        if !self.disabled {
            return Ok(None);
        }
        Ok(Some(UserEvent::UserEnabled { at: now }))
    }

    /// Deletion is soft (the stream stays), but it ends every session and
    /// frees the user's identifiers (see [`User::holds_identifier`]), so it
    /// is an end of access like disabling rather than a Kolibri matter.
    pub(super) fn handle_delete(&self, now: DateTime<Utc>) -> Decision {
        self.require_registered()?;
        Ok(Some(UserEvent::UserDeleted {
            cutoff: SessionCutoff {
                after: now,
                except: None,
            },
            at: now,
        }))
    }

    /// Only a deleted account that was not purged comes back.
    pub(super) fn handle_restore(&self, now: DateTime<Utc>) -> Decision {
        if !self.is_registered() || self.deleted_at.is_none() || self.purged {
            return Err(DomainError::UserNotFound);
        }
        Ok(Some(UserEvent::UserRestored { at: now }))
    }

    /// Only a deleted account is purged; purging twice records nothing.
    pub(super) fn handle_purge(&self, now: DateTime<Utc>) -> Decision {
        if !self.is_registered() || self.deleted_at.is_none() {
            return Err(DomainError::UserNotFound);
        }
        if self.purged {
            return Ok(None);
        }
        Ok(Some(UserEvent::UserPurged { at: now }))
    }

    /// Any registered account may be erased, deleted or not; erasing
    /// twice records nothing.
    pub(super) fn handle_erase(&self, now: DateTime<Utc>) -> Decision {
        if !self.is_registered() {
            return Err(DomainError::UserNotFound);
        }
        if self.erased {
            return Ok(None);
        }
        Ok(Some(UserEvent::UserErased {
            cutoff: SessionCutoff {
                after: now,
                except: None,
            },
            at: now,
        }))
    }

    /// A command that needed the current password names the hash it was
    /// verified against: when another change replaced that hash meanwhile,
    /// the verification no longer counts.
    fn require_current_hash(&self, verified_against: &PasswordHash) -> Result<(), DomainError> {
        if &self.password_hash == verified_against {
            Ok(())
        } else {
            Err(DomainError::StaleCredentials)
        }
    }
}
