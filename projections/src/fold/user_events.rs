//! Taking user events into the fold: registrations create rows, later
//! events on those rows change them as the per-event SQL would.

use aggregates::UserEvent;
use cqrs_es::DomainEvent;
use uuid::Uuid;

use super::{Fold, NewFacilityUser, NewUser};
use crate::RecordedEvent;

impl Fold {
    /// Takes a user event when it creates a row or changes one in the fold;
    /// gives it back otherwise.
    pub(crate) fn user(
        &mut self,
        event: &RecordedEvent,
        user_id: Uuid,
        payload: UserEvent,
    ) -> Option<UserEvent> {
        let version = event.sequence;
        match payload {
            UserEvent::UserRegistered {
                email,
                first_name,
                last_name,
                roles,
                registered_at,
                ..
            } => {
                // A second registration of a row already here changes
                // nothing (as `ON CONFLICT DO NOTHING` would not).
                if self.user_at.contains_key(&user_id) {
                    return None;
                }
                // Its row exists from the flush on: looked for again after one.
                self.absent.remove(&user_id);
                self.user_at.insert(user_id, self.users.len());
                self.users.push(NewUser {
                    user_id,
                    email: email.into_inner(),
                    first_name: first_name.into_inner(),
                    last_name: last_name.into_inner(),
                    roles,
                    email_verified: false,
                    disabled: false,
                    locked_until: None,
                    sessions_valid_after: None,
                    sessions_kept: None,
                    tutorial_completed_at: None,
                    profile: Default::default(),
                    categories: Vec::new(),
                    subscription_plan: None,
                    subscription_status: "none".to_string(),
                    subscription_valid_until: None,
                    created_at: registered_at,
                    updated_at: registered_at,
                    version,
                    loaded: None,
                });
                None
            }
            UserEvent::FacilityUserRegistered {
                facility,
                username,
                full_name,
                demographics,
                registered_at,
                ..
            } => {
                if self.facility_user_at.contains_key(&user_id) {
                    return None;
                }
                self.facility_user_at
                    .insert(user_id, self.facility_users.len());
                self.facility_users.push(NewFacilityUser {
                    user_id,
                    facility_id: facility,
                    username: username.into_inner(),
                    full_name: full_name.into_inner(),
                    gender: demographics.gender,
                    birth_year: demographics.birth_year,
                    id_number: demographics.id_number.map(|n| n.into_inner()),
                    date_joined: registered_at,
                    is_superuser: false,
                    sessions_valid_after: None,
                    sessions_kept: None,
                    version,
                });
                None
            }
            payload => {
                if let Some(&at) = self.user_at.get(&user_id) {
                    self.change_user(at, version, payload)
                } else if let Some(&at) = self.facility_user_at.get(&user_id) {
                    self.change_facility_user(at, version, payload)
                } else if let UserEvent::CommunityJoined { community_id, at } = payload {
                    // No `users` row (`load_users` found none): the
                    // membership all the same.
                    self.join(community_id, user_id, at);
                    None
                } else {
                    Some(payload)
                }
            }
        }
    }

    /// An event on a `users` row of the fold, as `users::apply` does it.
    fn change_user(&mut self, at: usize, version: i64, payload: UserEvent) -> Option<UserEvent> {
        let user = &mut self.users[at];
        if user.loaded.is_some()
            && !super::load::TAKEN_ON_LOADED.contains(&payload.event_type().as_str())
        {
            return Some(payload);
        }
        // Every statement of `users::apply` is guarded by the version.
        let fresh = user.version < version;
        let mut cutoff = None;
        match &payload {
            UserEvent::CommunityJoined { community_id, at } => {
                // The version moves; the membership is inserted once,
                // whatever the version.
                let (community_id, at, user_id) = (*community_id, *at, user.user_id);
                if fresh {
                    user.version = version;
                }
                self.join(community_id, user_id, at);
                return None;
            }
            UserEvent::UserLockedOut { until, .. } => {
                if fresh {
                    user.locked_until = Some(*until);
                }
            }
            UserEvent::PasswordRehashed { .. }
            | UserEvent::EmailVerificationIssued { .. }
            | UserEvent::PasswordResetIssued { .. } => {}
            UserEvent::UserDisabled { cutoff: c, at } => {
                if fresh {
                    user.disabled = true;
                    cutoff = Some((*c, *at));
                }
            }
            UserEvent::PasswordChanged { cutoff: c, at, .. }
            | UserEvent::PasswordReset { cutoff: c, at, .. }
            | UserEvent::SessionsRevoked { cutoff: c, at } => {
                if fresh {
                    cutoff = Some((*c, *at));
                }
            }
            UserEvent::UserEnabled { at } => {
                if fresh {
                    user.disabled = false;
                    user.updated_at = *at;
                }
            }
            // The global administrator role also marks a facility user;
            // this is a `users` row, so it has none.
            UserEvent::RoleGranted { role, at } | UserEvent::RoleRevoked { role, at } => {
                if fresh {
                    user.roles.retain(|r| r != role);
                    if matches!(payload, UserEvent::RoleGranted { .. }) {
                        user.roles.push(role.clone());
                    }
                    user.updated_at = *at;
                }
            }
            UserEvent::TutorialCompleted { at } => {
                if fresh {
                    user.tutorial_completed_at = Some(*at);
                    user.updated_at = *at;
                }
            }
            UserEvent::ProfileUpdated { changes, at } => {
                if fresh {
                    let [first_name, last_name, profile @ ..] =
                        crate::users::profile_columns(changes);
                    if first_name.0 {
                        user.first_name = first_name.1.unwrap_or_default();
                    }
                    if last_name.0 {
                        user.last_name = last_name.1.unwrap_or_default();
                    }
                    for (column, (changed, value)) in user.profile.iter_mut().zip(profile) {
                        if changed {
                            *column = value;
                        }
                    }
                    user.updated_at = *at;
                }
            }
            UserEvent::SubscriptionGranted { at, .. }
            | UserEvent::SubscriptionExtended { at, .. }
            | UserEvent::SubscriptionCanceled { at, .. }
            | UserEvent::SubscriptionRecalculated { at, .. } => {
                // No state: nothing to write (taken, as `users::apply` does).
                let state = crate::users::subscription_state(&payload)?;
                if fresh {
                    if state.plan.is_some() {
                        user.subscription_plan = state.plan;
                    }
                    user.subscription_status = state.status.as_str().to_string();
                    user.subscription_valid_until = state.valid_until;
                    user.updated_at = *at;
                }
            }
            UserEvent::CategoriesIndexed { categories, at } => {
                if fresh {
                    user.categories = categories.clone();
                    user.updated_at = *at;
                }
            }
            UserEvent::EmailVerified { at } => {
                if fresh {
                    user.email_verified = true;
                    user.updated_at = *at;
                }
            }
            // Memberships, roles in collections, deletion, facility
            // fields: per-event SQL.
            _ => return Some(payload),
        }
        if fresh {
            user.version = version;
        }
        if let Some((c, at)) = cutoff {
            user.sessions_valid_after = Some(c.after);
            user.sessions_kept = c.except;
            user.updated_at = at;
            let user_id = user.user_id;
            self.cut_sessions(user_id, &c, at);
        }
        None
    }

    /// An event on a `facility_users` row of the fold, as `users::apply`
    /// does it (its `users` statements find no row for a facility user).
    fn change_facility_user(
        &mut self,
        at: usize,
        version: i64,
        payload: UserEvent,
    ) -> Option<UserEvent> {
        let user = &mut self.facility_users[at];
        let fresh = user.version < version;
        match &payload {
            UserEvent::CommunityJoined { community_id, at } => {
                let (community_id, at, user_id) = (*community_id, *at, user.user_id);
                self.join(community_id, user_id, at);
            }
            UserEvent::PasswordRehashed { .. }
            | UserEvent::EmailVerificationIssued { .. }
            | UserEvent::PasswordResetIssued { .. } => {}
            UserEvent::RoleGranted { role, .. } | UserEvent::RoleRevoked { role, .. } => {
                // Not guarded by the version (`facility_users::set_superuser`).
                if role == aggregates::SUPERUSER_ROLE {
                    user.is_superuser = matches!(payload, UserEvent::RoleGranted { .. });
                }
            }
            UserEvent::FacilityUserUpdated { changes, .. } => {
                if fresh {
                    if let Some(username) = &changes.username {
                        user.username = username.expose().clone();
                    }
                    if let Some(full_name) = &changes.full_name {
                        user.full_name = full_name.expose().clone();
                    }
                    if let Some(gender) = &changes.gender {
                        user.gender = Some(gender.clone());
                    }
                    if let Some(birth_year) = &changes.birth_year {
                        user.birth_year = Some(birth_year.clone());
                    }
                    if let Some(id_number) = &changes.id_number {
                        user.id_number = Some(id_number.expose().clone());
                    }
                    user.version = version;
                }
            }
            UserEvent::UserDisabled { cutoff, at }
            | UserEvent::PasswordChanged { cutoff, at, .. }
            | UserEvent::PasswordReset { cutoff, at, .. }
            | UserEvent::SessionsRevoked { cutoff, at } => {
                if fresh {
                    user.sessions_valid_after = Some(cutoff.after);
                    user.sessions_kept = cutoff.except;
                    user.version = version;
                    let user_id = user.user_id;
                    self.cut_sessions(user_id, cutoff, *at);
                }
            }
            _ => return Some(payload),
        }
        None
    }
}
