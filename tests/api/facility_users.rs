//! Kolibri facility users, below the HTTP surface (which comes next):
//! usernames unique per facility regardless of case, users without a
//! password, the read model and its per-facility count.

use aggregates::{Demographics, OrganizationKind};
use eventauth::input::{Password, Username};
use eventauth::service::accounts::Credential;
use eventauth::service::facility_users::{available, register, FacilityRegistration};
use eventauth::service::{facilities, RequestContext};
use eventauth::Error;

use crate::helpers::{spawn_app, Backend, TestApp};

async fn facility(app: &TestApp, name: &str) -> uuid::Uuid {
    facilities::create(
        &app.app,
        OrganizationKind::Facility,
        name,
        None,
        None,
        &RequestContext::system(),
    )
    .await
    .expect("facility created")
}

fn learner(facility: uuid::Uuid, username: &str, password: Option<&str>) -> FacilityRegistration {
    FacilityRegistration {
        facility,
        username: Username::parse(username, "username").expect("valid username"),
        full_name: format!("{username} Learner"),
        password: password.map(|p| {
            Credential::Plain(Password::new_password(p.to_string(), "password").expect("valid"))
        }),
        demographics: Demographics {
            gender: Some("FEMALE".to_string()),
            birth_year: Some("2012".to_string()),
            id_number: None,
        },
    }
}

on_both_backends!(usernames_are_unique_per_facility_regardless_of_case);
async fn usernames_are_unique_per_facility_regardless_of_case(backend: Backend) {
    let app = spawn_app(backend).await;
    let ctx = RequestContext::system();
    let school = facility(&app, "Village School").await;
    let other = facility(&app, "Town School").await;
    let ada = Username::parse("ada", "username").expect("valid");

    assert!(available(&app.app, school, &ada).await.expect("lookup"));
    register(
        &app.app,
        learner(school, "Ada", Some("correct horse")),
        &ctx,
    )
    .await
    .expect("registered");
    assert!(!available(&app.app, school, &ada).await.expect("lookup"));
    let taken = register(&app.app, learner(school, "ADA", None), &ctx).await;
    match taken {
        Err(Error::Invalid { code, field, .. }) => {
            // As Kolibri's serializer says it (from `validate`).
            assert_eq!(
                (code, field),
                ("USERNAME_ALREADY_EXISTS", Some("non_field_errors"))
            );
        }
        other => panic!("a second Ada was not refused: {other:?}"),
    }
    // Another facility has its own usernames; a learner without a password.
    assert!(available(&app.app, other, &ada).await.expect("lookup"));
    register(&app.app, learner(other, "ada", None), &ctx)
        .await
        .expect("registered in the other facility");
    // No such facility (a community is not one either).
    let nowhere = uuid::Uuid::now_v7();
    assert!(matches!(
        register(&app.app, learner(nowhere, "bob", None), &ctx).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        available(&app.app, nowhere, &ada).await,
        Err(Error::NotFound)
    ));

    // The read model and the counts the projection keeps.
    let rows = app
        .strings_with(
            "SELECT username FROM facility_users WHERE facility_id = $1",
            &[school.into()],
        )
        .await;
    assert_eq!(rows, ["Ada"]);
    for id in [school, other] {
        let count = app
            .count_with(
                "SELECT n FROM counts WHERE name = $1",
                &[format!("facility_users:{id}").into()],
            )
            .await;
        assert_eq!(count, 1, "count of {id}");
    }
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE event_type = 'FacilityUserRegistered'")
            .await,
        2,
        "the refused registrations wrote a user"
    );
    crate::helpers::assert_recorded_with_metadata(&app, "FacilityUserRegistered", "user:").await;
    // Only one of the two has a password hash in its event.
    let payloads = app
        .strings(
            "SELECT CAST(payload AS text) FROM events WHERE event_type = 'FacilityUserRegistered'",
        )
        .await;
    assert_eq!(
        payloads.iter().filter(|p| p.contains("$argon2id$")).count(),
        1
    );
}

on_both_backends!(a_facility_user_logs_in_by_username_in_their_facility_only);
async fn a_facility_user_logs_in_by_username_in_their_facility_only(backend: Backend) {
    use eventauth::service::sessions::{login, Identifier, Login};
    let app = spawn_app(backend).await;
    let ctx = RequestContext::system();
    let school = facility(&app, "Village School").await;
    let other = facility(&app, "Town School").await;
    register(
        &app.app,
        learner(school, "Ada", Some("correct horse")),
        &ctx,
    )
    .await
    .expect("registered");
    register(&app.app, learner(school, "nopass", None), &ctx)
        .await
        .expect("registered");
    let attempt = |facility: uuid::Uuid, username: &str, password: &str| Login {
        identifier: Identifier::Username {
            facility,
            username: Username::parse(username, "username").expect("valid"),
        },
        password: Password::presented(password.to_string(), "password").expect("valid"),
        remember_me: false,
        surface: "kolibri",
    };
    let logged_in = login(&app.app, attempt(school, "ADA", "correct horse"), &ctx)
        .await
        .expect("logged in, whatever the case of the username");
    assert!(!logged_in.issued.access.token.is_empty());
    for (facility, username, password) in [
        (school, "ada", "wrong horse"),
        (other, "ada", "correct horse"),
        (school, "nopass", "anything at all"),
        (school, "nobody", "correct horse"),
    ] {
        let refused = login(&app.app, attempt(facility, username, password), &ctx).await;
        assert!(
            matches!(refused, Err(Error::InvalidCredentials)),
            "{username} in {facility}: {refused:?}"
        );
    }
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE event_type = 'SessionStarted'")
            .await,
        1
    );

    // Ending all their sessions shows in the read model, as for email users.
    let live = "SELECT count(*) FROM sessions WHERE ended_at IS NULL";
    assert_eq!(app.count(live).await, 1);
    app.app
        .store
        .execute::<aggregates::User>(
            &logged_in.user.id.to_string(),
            aggregates::UserCommand::RevokeSessions { keep_session: None },
            &ctx.metadata(),
        )
        .await
        .expect("revoked");
    assert_eq!(
        app.count(live).await,
        0,
        "the facility user's session still live"
    );
}
