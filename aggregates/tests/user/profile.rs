//! What a user shows of themselves: the tutorial, profile edits (only what
//! differs is recorded) and the categories an index derives.

use aggregates::{Personal, UserCommand, UserEvent};
use chrono::Duration;

use crate::helpers::{given_registered, granted, now, registered, user};

// --- Tutorial ---------------------------------------------------------------

#[tokio::test]
async fn the_tutorial_is_completed_once() {
    given_registered()
        .when_async(UserCommand::CompleteTutorial)
        .await
        .then_expect_events(vec![UserEvent::TutorialCompleted { at: now() }]);
    user()
        .given(vec![
            registered(),
            UserEvent::TutorialCompleted {
                at: now() - Duration::days(1),
            },
        ])
        .when_async(UserCommand::CompleteTutorial)
        .await
        .then_expect_events(vec![]);
}

// --- Profile ----------------------------------------------------------------

fn text(value: &str) -> Option<Option<Personal<String>>> {
    Some(Some(Personal::new(value.to_string())))
}

#[tokio::test]
async fn a_profile_update_records_only_what_differs_and_nothing_when_nothing_does() {
    use aggregates::ProfileChanges;
    let changes = ProfileChanges {
        first_name: Some(Personal::new("Ada".to_string())),
        nickname: text("ada"),
        bio: Some(None),
        ..ProfileChanges::default()
    };
    given_registered()
        .when_async(UserCommand::UpdateProfile {
            changes: Box::new(changes.clone()),
        })
        .await
        .then_expect_events(vec![UserEvent::ProfileUpdated {
            changes: Box::new(ProfileChanges {
                nickname: text("ada"),
                ..ProfileChanges::default()
            }),
            at: now(),
        }]);
    user()
        .given(vec![
            registered(),
            UserEvent::ProfileUpdated {
                changes: Box::new(ProfileChanges {
                    nickname: text("ada"),
                    ..ProfileChanges::default()
                }),
                at: now() - Duration::days(1),
            },
        ])
        .when_async(UserCommand::UpdateProfile {
            changes: Box::new(changes),
        })
        .await
        .then_expect_events(vec![]);
}

// --- Categories -------------------------------------------------------------

#[tokio::test]
async fn an_index_records_the_categories_when_they_change() {
    given_registered()
        .when_async(UserCommand::IndexCategories {
            community_names: vec!["Rust Berlin".to_string()],
        })
        .await
        .then_expect_events(vec![UserEvent::CategoriesIndexed {
            categories: vec![
                "community:rust-berlin".to_string(),
                "profile:incomplete".to_string(),
            ],
            at: now(),
        }]);
    user()
        .given(vec![
            registered(),
            granted("pro", 30),
            UserEvent::CategoriesIndexed {
                categories: vec!["profile:incomplete".to_string()],
                at: now() - Duration::hours(1),
            },
        ])
        .when_async(UserCommand::IndexCategories {
            community_names: vec![],
        })
        .await
        .then_expect_events(vec![UserEvent::CategoriesIndexed {
            categories: vec![
                "profile:incomplete".to_string(),
                "subscriber:pro".to_string(),
            ],
            at: now(),
        }]);
    user()
        .given(vec![
            registered(),
            UserEvent::CategoriesIndexed {
                categories: vec!["profile:incomplete".to_string()],
                at: now() - Duration::hours(1),
            },
        ])
        .when_async(UserCommand::IndexCategories {
            community_names: vec![],
        })
        .await
        .then_expect_events(vec![]);
}
