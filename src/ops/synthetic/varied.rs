//! Users whose lives go through every kind of event the read models fold.

use aggregates::{
    EndReason, PasswordHash, Personal, SessionCutoff, SessionEvent, TokenHash, UserEvent,
};
use chrono::{TimeDelta, Utc};
use projections::Db;
use uuid::Uuid;

use super::{insert, row, Row};

/// Every kind of event the read models fold, for `users` email users and
/// `users` facility users, appended in one transaction: profile, tutorial,
/// verification, categories, subscriptions, roles, lockout, rehash,
/// password change with a kept session, a login that raced it, disable and
/// enable, memberships (applied event by event, in the middle of a life),
/// a session started after that, facility edits, the superuser role,
/// deletion. For tests that compare a batch folded in memory with the same
/// events applied one at a time.
pub async fn append_varied(db: &Db, users: usize) -> Result<(), sqlx::Error> {
    let mut rows = Vec::new();
    for i in 0..users {
        rows.extend(varied_email_user(i));
        rows.extend(varied_facility_user(i));
    }
    insert(db, rows).await
}

fn varied_email_user(i: usize) -> Vec<Row> {
    use aggregates::{ProfileChanges, ProfileImage};
    let user = Uuid::new_v4();
    let t = |s: i64| Utc::now() - TimeDelta::days(2) + TimeDelta::seconds(s);
    let hash = PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA");
    let token = TokenHash::new(format!("{:064x}", i + 1));
    let mut sequence = 0;
    let mut rows = Vec::new();
    let mut user_event = |rows: &mut Vec<Row>, event: UserEvent| {
        sequence += 1;
        rows.push(row("user", user, sequence, &event));
    };
    let session = |id: Uuid, auth: i64| SessionEvent::SessionStarted {
        session_id: id,
        user_id: user,
        surface: "ild".to_string(),
        transport: Some(aggregates::Transport::Bearer),
        active: true,
        account: None,
        remember_me: true,
        refresh_token_hash: token.clone(),
        auth_time: t(auth),
        expires_at: t(auth) + TimeDelta::days(30),
        client_ip: Personal::new(Some("192.0.2.8".to_string())),
        user_agent: Personal::new(None),
        started_at: t(auth + 1),
    };
    let (s1, s2, s3) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    user_event(
        &mut rows,
        UserEvent::UserRegistered {
            user_id: user,
            email: Personal::new(format!("varied{i}@example.com")),
            first_name: Personal::new(format!("Varied{i}")),
            last_name: Personal::new("Person".to_string()),
            password_hash: hash.clone(),
            roles: vec!["user".to_string()],
            registered_at: t(0),
        },
    );
    user_event(
        &mut rows,
        UserEvent::ProfileUpdated {
            changes: Box::new(ProfileChanges {
                first_name: Some(Personal::new(format!("Renamed{i}"))),
                nickname: Some(Some(Personal::new("nick".to_string()))),
                bio: Some(Some(Personal::new("bio".to_string()))),
                image: Some(Some(ProfileImage {
                    key: format!("{:064x}.png", i),
                    content_type: "image/png".to_string(),
                    width: 64,
                    height: 64,
                    bytes: 1_000,
                })),
                ..Default::default()
            }),
            at: t(1),
        },
    );
    rows.push(row("session", s1, 1, &session(s1, 2)));
    rows.push(row(
        "session",
        s1,
        2,
        &SessionEvent::RefreshTokenRotated {
            previous_hash: token.clone(),
            refresh_token_hash: token.clone(),
            at: t(4),
        },
    ));
    rows.push(row(
        "session",
        s1,
        3,
        &SessionEvent::SessionExtended {
            expires_at: t(5) + TimeDelta::days(31),
            at: t(5),
        },
    ));
    for event in [
        UserEvent::TutorialCompleted { at: t(6) },
        UserEvent::EmailVerified { at: t(7) },
        UserEvent::CategoriesIndexed {
            categories: vec!["a".to_string(), "b".to_string()],
            at: t(8),
        },
        UserEvent::SubscriptionGranted {
            plan: "pro".to_string(),
            valid_until: t(8) + TimeDelta::days(30),
            at: t(8),
        },
        UserEvent::SubscriptionCanceled {
            immediately: false,
            valid_until: t(8) + TimeDelta::days(30),
            at: t(9),
        },
        UserEvent::RoleGranted {
            role: "editor".to_string(),
            at: t(9),
        },
        UserEvent::RoleRevoked {
            role: "user".to_string(),
            at: t(10),
        },
        UserEvent::UserLockedOut {
            until: t(11) + TimeDelta::minutes(15),
            failed_attempts: 5,
            at: t(11),
        },
        UserEvent::PasswordRehashed {
            password_hash: hash.clone(),
            at: t(12),
        },
        UserEvent::ProfileUpdated {
            changes: Box::new(ProfileChanges {
                nickname: Some(None),
                language: Some(Some("de".to_string())),
                ..Default::default()
            }),
            at: t(13),
        },
        // Keeps the session it was changed from.
        UserEvent::PasswordChanged {
            password_hash: hash.clone(),
            cutoff: SessionCutoff {
                after: t(20),
                except: Some(s1),
            },
            at: t(20),
        },
    ] {
        user_event(&mut rows, event);
    }
    // A login that authenticated before the change, written after it.
    rows.push(row("session", s2, 1, &session(s2, 15)));
    user_event(
        &mut rows,
        UserEvent::UserDisabled {
            cutoff: SessionCutoff {
                after: t(30),
                except: None,
            },
            at: t(30),
        },
    );
    user_event(&mut rows, UserEvent::UserEnabled { at: t(31) });
    rows.push(row(
        "session",
        s1,
        4,
        &SessionEvent::SessionEnded {
            reason: EndReason::Logout,
            at: t(32),
        },
    ));
    user_event(
        &mut rows,
        UserEvent::CommunityJoined {
            community_id: Uuid::from_u128(7),
            at: t(33),
        },
    );
    // Applied event by event: the fold is written out in the middle of the
    // batch, and the user's later events must find their row again.
    user_event(
        &mut rows,
        UserEvent::CollectionJoined {
            collection: Uuid::from_u128(8),
            at: t(33),
        },
    );
    // Authenticated before the disabling, written after the membership
    // (its owner no longer in a batch's fold), then logged out: still
    // revoked, at the cutoff.
    rows.push(row("session", s3, 1, &session(s3, 25)));
    rows.push(row(
        "session",
        s3,
        2,
        &SessionEvent::SessionEnded {
            reason: EndReason::Logout,
            at: t(33),
        },
    ));
    user_event(
        &mut rows,
        UserEvent::ProfileUpdated {
            changes: Box::new(ProfileChanges {
                timezone: Some(Some("Europe/Berlin".to_string())),
                ..Default::default()
            }),
            at: t(34),
        },
    );
    user_event(
        &mut rows,
        UserEvent::SubscriptionExtended {
            valid_until: t(35) + TimeDelta::days(60),
            at: t(35),
        },
    );
    rows
}

fn varied_facility_user(i: usize) -> Vec<Row> {
    use aggregates::{Demographics, FacilityUserChanges};
    let user = Uuid::new_v4();
    let t = |s: i64| Utc::now() - TimeDelta::days(2) + TimeDelta::seconds(s);
    let hash = PasswordHash::new("pbkdf2_sha256$260000$c2FsdA$aGFzaA==");
    let mut sequence = 0;
    let mut rows = Vec::new();
    let mut user_event = |rows: &mut Vec<Row>, event: UserEvent| {
        sequence += 1;
        rows.push(row("user", user, sequence, &event));
    };
    let session = Uuid::new_v4();
    user_event(
        &mut rows,
        UserEvent::FacilityUserRegistered {
            user_id: user,
            facility: Uuid::from_u128(9),
            username: Personal::new(format!("learner{i}")),
            full_name: Personal::new(format!("Learner {i}")),
            password_hash: Some(hash.clone()),
            demographics: Demographics::default(),
            registered_at: t(0),
        },
    );
    for event in [
        UserEvent::FacilityUserUpdated {
            changes: Box::new(FacilityUserChanges {
                full_name: Some(Personal::new(format!("Learner {i} Renamed"))),
                gender: Some("FEMALE".to_string()),
                ..Default::default()
            }),
            at: t(1),
        },
        UserEvent::RoleGranted {
            role: aggregates::SUPERUSER_ROLE.to_string(),
            at: t(2),
        },
    ] {
        user_event(&mut rows, event);
    }
    rows.push(row(
        "session",
        session,
        1,
        &SessionEvent::SessionStarted {
            session_id: session,
            user_id: user,
            surface: "kolibri".to_string(),
            transport: Some(aggregates::Transport::Cookie),
            active: true,
            account: None,
            remember_me: false,
            refresh_token_hash: TokenHash::new(format!("{:064x}", i + 7)),
            auth_time: t(3),
            expires_at: t(3) + TimeDelta::minutes(20),
            client_ip: Personal::new(None),
            user_agent: Personal::new(None),
            started_at: t(3),
        },
    ));
    for event in [
        UserEvent::PasswordChanged {
            password_hash: hash.clone(),
            cutoff: SessionCutoff {
                after: t(5),
                except: None,
            },
            at: t(5),
        },
        UserEvent::RoleRevoked {
            role: aggregates::SUPERUSER_ROLE.to_string(),
            at: t(6),
        },
        UserEvent::PasswordRehashed {
            password_hash: hash.clone(),
            at: t(7),
        },
        UserEvent::CollectionJoined {
            collection: Uuid::from_u128(10),
            at: t(8),
        },
        UserEvent::FacilityUserUpdated {
            changes: Box::new(FacilityUserChanges {
                birth_year: Some("2001".to_string()),
                ..Default::default()
            }),
            at: t(9),
        },
    ] {
        user_event(&mut rows, event);
    }
    if i % 2 == 0 {
        user_event(
            &mut rows,
            UserEvent::UserDeleted {
                cutoff: SessionCutoff {
                    after: t(10),
                    except: None,
                },
                at: t(10),
            },
        );
    }
    rows
}
