//! System roles: one rank per user, from their global grants — the
//! service administrator is an Admin, a holder of `convenor` a Convenor,
//! of `tutor` a Tutor, anyone else a Student (Doubtfire's four). What a
//! rank allows beyond the rules is a lifetime choice of the surface that
//! shows ranks (longer remembered sessions for lower ranks).

use super::{Grant, Scope, ADMINISTRATOR};

/// The global role that makes a Convenor.
pub const CONVENOR: &str = "convenor";
/// The global role that makes a Tutor.
pub const TUTOR: &str = "tutor";

/// A user's rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SystemRole {
    /// Anyone without a higher rank.
    Student,
    /// Holds `tutor`.
    Tutor,
    /// Holds `convenor`.
    Convenor,
    /// The service administrator.
    Admin,
}

impl SystemRole {
    /// The highest rank `grants` give.
    pub fn of(grants: &[Grant]) -> Self {
        let held = |role: &str| {
            grants
                .iter()
                .any(|g| g.scope == Scope::Everywhere && g.role == role)
        };
        if held(ADMINISTRATOR) {
            Self::Admin
        } else if held(CONVENOR) {
            Self::Convenor
        } else if held(TUTOR) {
            Self::Tutor
        } else {
            Self::Student
        }
    }

    /// Its name: `Student`, `Tutor`, `Convenor`, `Admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Student => "Student",
            Self::Tutor => "Tutor",
            Self::Convenor => "Convenor",
            Self::Admin => "Admin",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(roles: &[(&str, Scope)]) -> Vec<Grant> {
        roles
            .iter()
            .map(|(role, scope)| Grant {
                role: role.to_string(),
                scope: *scope,
            })
            .collect()
    }

    /// (grants, rank): the highest global role wins; roles held in a
    /// collection rank nobody.
    #[test]
    fn the_ranks_as_a_table() {
        let facility = Scope::Collection(uuid::Uuid::from_u128(1));
        let table = [
            (grants(&[]), SystemRole::Student),
            (
                grants(&[("editor", Scope::Everywhere)]),
                SystemRole::Student,
            ),
            (grants(&[("tutor", Scope::Everywhere)]), SystemRole::Tutor),
            (
                grants(&[("convenor", Scope::Everywhere)]),
                SystemRole::Convenor,
            ),
            (
                grants(&[
                    ("tutor", Scope::Everywhere),
                    ("convenor", Scope::Everywhere),
                ]),
                SystemRole::Convenor,
            ),
            (
                grants(&[("tutor", Scope::Everywhere), ("admin", Scope::Everywhere)]),
                SystemRole::Admin,
            ),
            (grants(&[("admin", facility)]), SystemRole::Student),
            (grants(&[("tutor", facility)]), SystemRole::Student),
        ];
        for (grants, rank) in table {
            assert_eq!(SystemRole::of(&grants), rank, "{grants:?}");
        }
        assert_eq!(SystemRole::Admin.as_str(), "Admin");
        assert_eq!(SystemRole::Student.as_str(), "Student");
    }
}
