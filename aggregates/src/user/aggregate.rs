//! The User aggregate as cqrs-es sees it: each command goes to the decision
//! of its concern (`credentials`, `profile`, `subscription`, `memberships`,
//! `facility`), and every event folds into the state here, in one match, so
//! that replaying a stored stream can be read — and checked by the compiler
//! for a forgotten event — in one place.

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;

use super::{AccountMembership, PendingToken, User, UserCommand, UserEvent};
use crate::profile::Subscription;
use crate::{DomainError, Services};

impl Aggregate for User {
    const TYPE: &'static str = "user";
    type Command = UserCommand;
    type Event = UserEvent;
    type Error = DomainError;
    type Services = Services;

    async fn handle(
        &mut self,
        command: UserCommand,
        services: &Services,
        sink: &EventSink<Self>,
    ) -> Result<(), DomainError> {
        let now = services.now();
        let decided = match command {
            UserCommand::Register {
                user_id,
                email,
                first_name,
                last_name,
                password_hash,
                roles,
            } => self.handle_register(
                user_id,
                email,
                first_name,
                last_name,
                password_hash,
                roles,
                now,
            ),
            UserCommand::RegisterInFacility {
                user_id,
                facility,
                username,
                full_name,
                password_hash,
                demographics,
            } => self.handle_register_in_facility(
                user_id,
                facility,
                username,
                full_name,
                password_hash,
                demographics,
                now,
            ),
            UserCommand::AuthorizeLogin {
                verified_against,
                rehash,
            } => self.handle_authorize_login(&verified_against, rehash, now),
            UserCommand::LockOut {
                until,
                failed_attempts,
            } => self.handle_lock_out(until, failed_attempts, now),
            UserCommand::ChangePassword {
                verified_against,
                new_password_hash,
                keep_session,
            } => {
                self.handle_change_password(&verified_against, new_password_hash, keep_session, now)
            }
            UserCommand::RevokeSessions { keep_session } => {
                self.handle_revoke_sessions(keep_session, now)
            }
            UserCommand::IssueEmailVerification {
                token_hash,
                expires_at,
            } => self.handle_issue_email_verification(token_hash, expires_at, now),
            UserCommand::VerifyEmail { token_hash } => self.handle_verify_email(&token_hash, now),
            UserCommand::IssuePasswordReset {
                token_hash,
                expires_at,
            } => self.handle_issue_password_reset(token_hash, expires_at, now),
            UserCommand::Disable => self.handle_disable(now),
            UserCommand::Enable => self.handle_enable(now),
            UserCommand::GrantRole { role } => self.handle_grant_role(role, now),
            UserCommand::RevokeRole { role } => self.handle_revoke_role(role, now),
            UserCommand::JoinCommunity { community_id } => {
                self.handle_join_community(community_id, now)
            }
            UserCommand::CompleteTutorial => self.handle_complete_tutorial(now),
            UserCommand::UpdateProfile { changes } => self.handle_update_profile(*changes, now),
            UserCommand::GrantSubscription { plan, valid_until } => {
                self.handle_grant_subscription(plan, valid_until, now)
            }
            UserCommand::ExtendSubscription { valid_until } => {
                self.handle_extend_subscription(valid_until, now)
            }
            UserCommand::CancelSubscription { immediately } => {
                self.handle_cancel_subscription(immediately, now)
            }
            UserCommand::RecalculateSubscription => self.handle_recalculate_subscription(now),
            UserCommand::IndexCategories { community_names } => {
                self.handle_index_categories(&community_names, now)
            }
            UserCommand::ResetPassword {
                token_hash,
                new_password_hash,
            } => self.handle_reset_password(&token_hash, new_password_hash, now),
            UserCommand::AssignCollectionRole {
                role_id,
                collection,
                kind,
            } => self.handle_assign_collection_role(role_id, collection, kind, now),
            UserCommand::RemoveCollectionRole { collection, kind } => {
                self.handle_remove_collection_role(collection, kind, now)
            }
            UserCommand::JoinCollection { collection } => {
                self.handle_join_collection(collection, now)
            }
            UserCommand::LeaveCollection { collection } => {
                self.handle_leave_collection(collection, now)
            }
            UserCommand::JoinAccount { account, roles } => {
                self.handle_join_account(account, roles, now)
            }
            UserCommand::LeaveAccount { account } => self.handle_leave_account(account, now),
            UserCommand::AssignNumber { number } => self.handle_assign_number(number, now),
            UserCommand::LinkIdentity { issuer, subject } => {
                self.handle_link_identity(issuer, subject, now)
            }
            UserCommand::UpdateFacilityUser { changes } => {
                self.handle_update_facility_user(*changes, now)
            }
            UserCommand::SetPassword {
                new_password_hash,
                keep_session,
            } => self.handle_set_password(new_password_hash, keep_session, now),
            UserCommand::Delete => self.handle_delete(now),
            UserCommand::Restore => self.handle_restore(now),
            UserCommand::Purge => self.handle_purge(now),
            UserCommand::Erase => self.handle_erase(now),
        }?;
        if let Some(event) = decided {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: UserEvent) {
        match event {
            UserEvent::UserRegistered {
                user_id,
                email,
                first_name,
                last_name,
                password_hash,
                roles,
                registered_at,
            } => {
                self.id = Some(user_id);
                self.email = email;
                self.first_name = first_name;
                self.last_name = last_name;
                self.password_hash = password_hash;
                self.roles = roles;
                self.registered_at = Some(registered_at);
                self.updated_at = Some(registered_at);
            }
            UserEvent::FacilityUserRegistered {
                user_id,
                facility,
                username,
                full_name,
                password_hash,
                demographics,
                registered_at,
            } => {
                self.id = Some(user_id);
                self.facility = Some(facility);
                self.username = username;
                self.full_name = full_name;
                // No password: an empty hash, which nothing verifies against.
                self.password_hash = password_hash.unwrap_or_default();
                self.demographics = demographics;
                self.registered_at = Some(registered_at);
                self.updated_at = Some(registered_at);
            }
            UserEvent::UserLockedOut { until, .. } => {
                self.locked_until = Some(until);
            }
            UserEvent::PasswordChanged {
                password_hash,
                cutoff,
                at,
            } => {
                self.password_hash = password_hash;
                self.cutoff = Some(cutoff);
                self.updated_at = Some(at);
            }
            UserEvent::PasswordRehashed { password_hash, .. } => {
                self.password_hash = password_hash;
            }
            UserEvent::SessionsRevoked { cutoff, at } => {
                self.cutoff = Some(cutoff);
                self.updated_at = Some(at);
            }
            UserEvent::EmailVerificationIssued {
                token_hash,
                expires_at,
                at,
            } => {
                self.pending_verification = Some(PendingToken {
                    token_hash,
                    expires_at,
                    issued_at: Some(at),
                });
            }
            UserEvent::EmailVerified { at } => {
                self.email_verified = true;
                self.pending_verification = None;
                self.updated_at = Some(at);
            }
            UserEvent::PasswordResetIssued {
                token_hash,
                expires_at,
                at,
            } => {
                self.pending_reset = Some(PendingToken {
                    token_hash,
                    expires_at,
                    issued_at: Some(at),
                });
            }
            UserEvent::UserDisabled { cutoff, at } => {
                self.disabled = true;
                self.cutoff = Some(cutoff);
                self.updated_at = Some(at);
            }
            UserEvent::UserEnabled { at } => {
                self.disabled = false;
                self.updated_at = Some(at);
            }
            UserEvent::RoleGranted { role, at } => {
                self.roles.push(role);
                self.updated_at = Some(at);
            }
            UserEvent::RoleRevoked { role, at } => {
                self.roles.retain(|r| *r != role);
                self.updated_at = Some(at);
            }
            UserEvent::CommunityJoined { community_id, at } => {
                self.communities.push(community_id);
                self.updated_at = Some(at);
            }
            UserEvent::TutorialCompleted { at } => {
                self.tutorial_completed_at = Some(at);
                self.updated_at = Some(at);
            }
            UserEvent::ProfileUpdated { changes, at } => {
                let changes = *changes;
                if let Some(first_name) = changes.first_name.clone() {
                    self.first_name = first_name;
                }
                if let Some(last_name) = changes.last_name.clone() {
                    self.last_name = last_name;
                }
                changes.apply_to(&mut self.profile);
                self.updated_at = Some(at);
            }
            UserEvent::SubscriptionGranted {
                plan,
                valid_until,
                at,
            } => {
                self.subscription = Subscription {
                    plan: Some(plan),
                    valid_until: Some(valid_until),
                    canceled: false,
                };
                self.record_subscription(at);
            }
            UserEvent::SubscriptionExtended { valid_until, at } => {
                self.subscription.valid_until = Some(valid_until);
                self.subscription.canceled = false;
                self.record_subscription(at);
            }
            UserEvent::SubscriptionCanceled {
                valid_until, at, ..
            } => {
                self.subscription.canceled = true;
                self.subscription.valid_until = Some(valid_until);
                self.record_subscription(at);
            }
            UserEvent::SubscriptionRecalculated { state, at } => {
                self.subscription_recorded = Some(state);
                self.updated_at = Some(at);
            }
            UserEvent::CollectionRoleAssigned { role, at } => {
                self.collection_roles.push(role);
                self.updated_at = Some(at);
            }
            UserEvent::CollectionRoleRemoved { role, at } => {
                self.collection_roles.retain(|r| r.id != role.id);
                self.updated_at = Some(at);
            }
            UserEvent::CollectionJoined { collection, at } => {
                self.collections.push(collection);
                self.updated_at = Some(at);
            }
            UserEvent::CollectionLeft { collection, at } => {
                self.collections.retain(|c| *c != collection);
                self.updated_at = Some(at);
            }
            UserEvent::AccountJoined { account, roles, at } => {
                self.accounts.retain(|m| m.account != account);
                self.accounts.push(AccountMembership { account, roles });
                self.updated_at = Some(at);
            }
            UserEvent::AccountLeft { account, at } => {
                self.accounts.retain(|m| m.account != account);
                self.updated_at = Some(at);
            }
            UserEvent::NumberAssigned { number, .. } => {
                self.number = Some(number);
            }
            UserEvent::IdentityLinked { identity, at } => {
                self.identities.push(identity);
                self.updated_at = Some(at);
            }
            UserEvent::FacilityUserUpdated { changes, at } => {
                let changes = *changes;
                if let Some(username) = changes.username {
                    self.username = username;
                }
                if let Some(full_name) = changes.full_name {
                    self.full_name = full_name;
                }
                if let Some(gender) = changes.gender {
                    self.demographics.gender = Some(gender);
                }
                if let Some(birth_year) = changes.birth_year {
                    self.demographics.birth_year = Some(birth_year);
                }
                if let Some(id_number) = changes.id_number {
                    self.demographics.id_number = Some(id_number);
                }
                self.updated_at = Some(at);
            }
            UserEvent::UserDeleted { cutoff, at } => {
                self.deleted_at = Some(at);
                self.cutoff = Some(cutoff);
                self.updated_at = Some(at);
            }
            UserEvent::UserRestored { at } => {
                self.deleted_at = None;
                self.updated_at = Some(at);
            }
            UserEvent::UserPurged { at } => {
                self.purged = true;
                self.updated_at = Some(at);
            }
            UserEvent::UserErased { cutoff, at } => self.erase(cutoff, at),
            UserEvent::CategoriesIndexed { categories, at } => {
                self.categories = categories;
                self.updated_at = Some(at);
            }
            UserEvent::PasswordReset {
                password_hash,
                cutoff,
                at,
            } => {
                self.password_hash = password_hash;
                self.cutoff = Some(cutoff);
                self.pending_reset = None;
                self.updated_at = Some(at);
            }
        }
    }
}
