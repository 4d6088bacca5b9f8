//! Roles held for one collection, and facility-user edits, as they live on
//! the [`crate::User`] aggregate (the kinds and fields are Kolibri's, where
//! facilities come from).
//!
//! A role is held for one collection (facility, classroom): `admin`,
//! `coach` or `classroom assignable coach`, Kolibri's role kinds. They map
//! onto the design's Role concept as roles *scoped to a collection*; the
//! device-wide Kolibri superuser is the global `admin` role (the operator of
//! the whole service), so one administrator concept serves every surface.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Personal;

/// The global role that makes a user a Kolibri superuser.
pub const SUPERUSER_ROLE: &str = "admin";

/// Kolibri's role kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleKind {
    /// Administers the collection (a facility).
    Admin,
    /// Coaches the collection.
    Coach,
    /// A facility coach that may be assigned to classrooms.
    AssignableCoach,
}

impl RoleKind {
    /// Kolibri's name of the kind (`classroom assignable coach` has spaces).
    pub fn kolibri(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Coach => "coach",
            Self::AssignableCoach => "classroom assignable coach",
        }
    }

    /// The kind a Kolibri name (or our snake-case name) stands for.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "admin" => Some(Self::Admin),
            "coach" => Some(Self::Coach),
            "classroom assignable coach" | "assignable_coach" => Some(Self::AssignableCoach),
            _ => None,
        }
    }
}

/// One role held for one collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionRole {
    /// The role's own id (Kolibri gives roles ids).
    pub id: Uuid,
    /// The collection.
    pub collection: Uuid,
    /// The kind.
    pub kind: RoleKind,
}

/// The id of `user`'s membership of `collection`: derived from the pair
/// (Kolibri gives memberships ids, derived from the pair too), so a
/// membership needs no event of its own to be named.
pub fn membership_id(collection: Uuid, user: Uuid) -> Uuid {
    Uuid::new_v5(&collection, user.as_bytes())
}

/// Changes to a facility user's account fields, only those that differ.
/// `None`: untouched. Demographic codes are checked at the edge.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FacilityUserChanges {
    /// New username (its claim is taken before the command).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<Personal<String>>,
    /// New full name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<Personal<String>>,
    /// New gender code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    /// New birth year or code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_year: Option<String>,
    /// New identification number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_number: Option<Personal<String>>,
}

impl FacilityUserChanges {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The names of the fields that change (for audit and NATS, which never
    /// carry the values).
    pub fn fields(&self) -> Vec<&'static str> {
        let mut fields = Vec::new();
        let present = [
            ("username", self.username.is_some()),
            ("full_name", self.full_name.is_some()),
            ("gender", self.gender.is_some()),
            ("birth_year", self.birth_year.is_some()),
            ("id_number", self.id_number.is_some()),
        ];
        for (name, is_present) in present {
            if is_present {
                fields.push(name);
            }
        }
        fields
    }
}
