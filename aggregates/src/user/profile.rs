//! What a user shows of themselves and how they are indexed: profile edits
//! (names, the fields of [`crate::profile::Profile`], the picture), the
//! tutorial, and the categories recomputed from all of it.
//!
//! The field types and the diff and category rules live in
//! [`crate::profile`], shared with the projection; this file only decides
//! when they are recorded.

use chrono::{DateTime, Utc};

use super::{Decision, User, UserEvent};
use crate::profile::{categories, CategoryInputs, ProfileChanges};

impl User {
    pub(super) fn handle_complete_tutorial(&self, now: DateTime<Utc>) -> Decision {
        self.require_registered()?;
        if self.tutorial_completed_at.is_some() {
            return Ok(None);
        }
        Ok(Some(UserEvent::TutorialCompleted { at: now }))
    }

    pub(super) fn handle_update_profile(
        &self,
        changes: ProfileChanges,
        now: DateTime<Utc>,
    ) -> Decision {
        self.require_registered()?;
        let changes = changes.diff(&self.first_name, &self.last_name, &self.profile);
        if changes.is_empty() {
            return Ok(None);
        }
        Ok(Some(UserEvent::ProfileUpdated {
            changes: Box::new(changes),
            at: now,
        }))
    }

    /// The community names come with the command because the aggregate
    /// keeps only the communities' ids; the read model knows their names.
    pub(super) fn handle_index_categories(
        &self,
        community_names: &[String],
        now: DateTime<Utc>,
    ) -> Decision {
        self.require_registered()?;
        let inputs = CategoryInputs {
            profile: &self.profile,
            email_verified: self.email_verified,
            tutorial_completed: self.tutorial_completed_at.is_some(),
            subscription: &self.subscription,
            communities: community_names,
        };
        let categories = categories(inputs, now);
        if categories == self.categories {
            return Ok(None);
        }
        Ok(Some(UserEvent::CategoriesIndexed {
            categories,
            at: now,
        }))
    }
}
