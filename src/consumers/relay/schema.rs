//! The public schema of events on NATS: what `data` of each CloudEvent
//! holds. Built field by field from the typed events, never by copying a
//! payload, so nothing secret (password hashes, token hashes) and no
//! personal data (emails, names, IPs) can slip out. Version 1; documented
//! in docs/nats.md.

use aggregates::{
    ClaimEvent, IdentifierClaim, Installation, InstallationEvent, LoginFailures,
    LoginFailuresEvent, Numbering, NumberingEvent, OneTime, OneTimeEvent, Organization,
    OrganizationEvent, PolicyRole, PolicyRoleEvent, Session, SessionEvent, User, UserEvent,
};
use cqrs_es::Aggregate;
use projections::RecordedEvent;
use serde_json::{json, Value};

/// The version of the public `data` schema.
pub const SCHEMA_VERSION: u32 = 1;

/// `data` for one event; `None` for an event this build cannot read.
pub fn public_data(event: &RecordedEvent) -> Option<Value> {
    let id = &event.aggregate_id;
    Some(match event.aggregate_type.as_str() {
        User::TYPE => match event.decode::<UserEvent>().ok()? {
            UserEvent::UserRegistered {
                roles,
                registered_at,
                ..
            } => {
                json!({ "userId": id, "roles": roles, "registeredAt": registered_at })
            }
            UserEvent::FacilityUserRegistered {
                facility,
                registered_at,
                ..
            } => {
                json!({ "userId": id, "facilityId": facility, "registeredAt": registered_at })
            }
            UserEvent::UserLockedOut { until, at, .. } => {
                json!({ "userId": id, "until": until, "at": at })
            }
            UserEvent::PasswordChanged { cutoff, at, .. } => json!({
                "userId": id, "sessionsValidAfter": cutoff.after, "keptSession": cutoff.except, "at": at
            }),
            UserEvent::PasswordRehashed { at, .. } => json!({ "userId": id, "at": at }),
            UserEvent::SessionsRevoked { cutoff, at } => json!({
                "userId": id, "sessionsValidAfter": cutoff.after, "keptSession": cutoff.except, "at": at
            }),
            UserEvent::EmailVerificationIssued { expires_at, at, .. }
            | UserEvent::PasswordResetIssued { expires_at, at, .. } => {
                json!({ "userId": id, "expiresAt": expires_at, "at": at })
            }
            UserEvent::EmailVerified { at } | UserEvent::TutorialCompleted { at } => {
                json!({ "userId": id, "at": at })
            }
            UserEvent::UserDisabled { cutoff, at } => json!({
                "userId": id, "sessionsValidAfter": cutoff.after, "keptSession": cutoff.except, "at": at
            }),
            UserEvent::UserEnabled { at } => json!({ "userId": id, "at": at }),
            UserEvent::RoleGranted { role, at } | UserEvent::RoleRevoked { role, at } => {
                json!({ "userId": id, "role": role, "at": at })
            }
            UserEvent::CommunityJoined { community_id, at } => {
                json!({ "userId": id, "communityId": community_id, "at": at })
            }
            // Which fields changed, never their values (personal data); the
            // picture's key is not personal (content-addressed, served only
            // to signed-in users).
            UserEvent::ProfileUpdated { changes, at } => {
                let mut data = json!({ "userId": id, "changed": changes.names(), "at": at });
                if let Some(image) = &changes.image {
                    data["profileImage"] = json!(image.as_ref().map(|i| &i.key));
                }
                data
            }
            UserEvent::SubscriptionGranted {
                plan,
                valid_until,
                at,
            } => json!({ "userId": id, "plan": plan, "validUntil": valid_until, "at": at }),
            UserEvent::SubscriptionExtended { valid_until, at } => {
                json!({ "userId": id, "validUntil": valid_until, "at": at })
            }
            UserEvent::SubscriptionCanceled {
                immediately,
                valid_until,
                at,
            } => json!({
                "userId": id, "immediately": immediately, "validUntil": valid_until, "at": at
            }),
            UserEvent::SubscriptionRecalculated { state, at } => json!({
                "userId": id, "plan": state.plan, "status": state.status.as_str(),
                "validUntil": state.valid_until, "at": at
            }),
            UserEvent::CategoriesIndexed { categories, at } => {
                json!({ "userId": id, "categories": categories, "at": at })
            }
            UserEvent::PasswordReset { cutoff, at, .. } => json!({
                "userId": id, "sessionsValidAfter": cutoff.after, "keptSession": cutoff.except, "at": at
            }),
            UserEvent::CollectionRoleAssigned { role, at }
            | UserEvent::CollectionRoleRemoved { role, at } => json!({
                "userId": id, "roleId": role.id, "collectionId": role.collection,
                "kind": role.kind.kolibri(), "at": at
            }),
            UserEvent::CollectionJoined { collection, at }
            | UserEvent::CollectionLeft { collection, at } => {
                json!({ "userId": id, "collectionId": collection, "at": at })
            }
            UserEvent::AccountJoined { account, roles, at } => {
                json!({ "userId": id, "accountId": account, "roles": roles, "at": at })
            }
            UserEvent::AccountLeft { account, at } => {
                json!({ "userId": id, "accountId": account, "at": at })
            }
            UserEvent::NumberAssigned { number, at } => {
                json!({ "userId": id, "number": number, "at": at })
            }
            // The issuer names the provider; the subject is personal.
            UserEvent::IdentityLinked { identity, at } => {
                json!({ "userId": id, "issuer": identity.issuer, "at": at })
            }
            // Which fields changed, never their values.
            UserEvent::FacilityUserUpdated { changes, at } => {
                json!({ "userId": id, "changed": changes.fields(), "at": at })
            }
            UserEvent::UserDeleted { cutoff, at } => json!({
                "userId": id, "sessionsValidAfter": cutoff.after, "at": at
            }),
            // Consumers delete what they keep of the user (docs/nats.md).
            UserEvent::UserErased { cutoff, at } => {
                json!({ "userId": id, "sessionsValidAfter": cutoff.after, "at": at })
            }
            UserEvent::UserRestored { at } | UserEvent::UserPurged { at } => {
                json!({ "userId": id, "at": at })
            }
        },
        Session::TYPE => match event.decode::<SessionEvent>().ok()? {
            SessionEvent::SessionStarted {
                session_id,
                user_id,
                surface,
                transport,
                active,
                account,
                remember_me,
                auth_time,
                expires_at,
                started_at,
                ..
            } => json!({
                "sessionId": session_id, "userId": user_id, "surface": surface,
                "transport": aggregates::Transport::of_started(transport, &surface).as_str(),
                "active": active, "accountId": account,
                "rememberMe": remember_me, "authTime": auth_time, "expiresAt": expires_at,
                "startedAt": started_at
            }),
            SessionEvent::AccountSelected { account, at } => {
                json!({ "sessionId": id, "accountId": account, "at": at })
            }
            SessionEvent::RefreshTokenRotated { at, .. } => json!({ "sessionId": id, "at": at }),
            SessionEvent::SessionExtended { expires_at, at } => {
                json!({ "sessionId": id, "expiresAt": expires_at, "at": at })
            }
            SessionEvent::SessionEnded { reason, at } => {
                json!({ "sessionId": id, "reason": reason.as_str(), "at": at })
            }
        },
        IdentifierClaim::TYPE => match event.decode::<ClaimEvent>().ok()? {
            ClaimEvent::IdentifierClaimed {
                user_id,
                kind,
                previous_owner,
                at,
            } => json!({
                "claimId": id, "userId": user_id, "kind": kind, "previousOwner": previous_owner, "at": at
            }),
        },
        Organization::TYPE => match event.decode::<OrganizationEvent>().ok()? {
            OrganizationEvent::OrganizationCreated {
                kind,
                name,
                description,
                parent,
                settings,
                at,
                ..
            } => json!({
                "organizationId": id, "kind": kind.as_str(), "name": name,
                "description": description, "parentId": parent, "settings": settings,
                "createdAt": at
            }),
            OrganizationEvent::FacilitySettingsChanged { settings, at } => {
                json!({ "organizationId": id, "settings": settings, "at": at })
            }
            OrganizationEvent::OrganizationRenamed { name, at } => {
                json!({ "organizationId": id, "name": name, "at": at })
            }
            OrganizationEvent::OrganizationDeleted { at } => {
                json!({ "organizationId": id, "at": at })
            }
        },
        PolicyRole::TYPE => match event.decode::<PolicyRoleEvent>().ok()? {
            PolicyRoleEvent::PolicyRoleCreated {
                name,
                slug,
                policies,
                at,
                ..
            } => {
                json!({ "roleId": id, "name": name, "slug": slug, "policies": policies, "createdAt": at })
            }
            PolicyRoleEvent::PolicyRoleUpdated {
                name,
                slug,
                policies,
                at,
            } => {
                json!({ "roleId": id, "name": name, "slug": slug, "policies": policies, "at": at })
            }
            PolicyRoleEvent::PolicyRoleDeleted { at } => json!({ "roleId": id, "at": at }),
        },
        Installation::TYPE => match event.decode::<InstallationEvent>().ok()? {
            InstallationEvent::SetupClaimed { admin, at } => json!({ "adminId": admin, "at": at }),
        },
        Numbering::TYPE => match event.decode::<NumberingEvent>().ok()? {
            NumberingEvent::NumbersReserved { first, last, at } => {
                json!({ "sequence": id, "first": first, "last": last, "at": at })
            }
        },
        // The stream id is a keyed hash of the value: nothing to hide.
        OneTime::TYPE => match event.decode::<OneTimeEvent>().ok()? {
            OneTimeEvent::OneTimeValueUsed {
                purpose,
                valid_until,
                at,
            } => json!({ "purpose": purpose, "validUntil": valid_until, "at": at }),
        },
        LoginFailures::TYPE => match event.decode::<LoginFailuresEvent>().ok()? {
            LoginFailuresEvent::LoginFailed { at, .. } => json!({ "at": at }),
            LoginFailuresEvent::LoginLockedOut { until, at } => json!({ "until": until, "at": at }),
        },
        _ => return None,
    })
}

/// The CloudEvents 1.0 envelope of one event.
pub fn envelope(event: &RecordedEvent, data: Value) -> Value {
    json!({
        "specversion": "1.0",
        "id": event.event_id,
        "source": "urn:eventauth",
        "type": format!("eventauth.{}.{}.v{}", event.aggregate_type, event.event_type, SCHEMA_VERSION),
        "subject": event.aggregate_id,
        "time": event.recorded_at,
        "datacontenttype": "application/json",
        "data": data,
        // Where a consumer may resume from: the global-order pair, which is
        // monotonic in delivery order (the bare position is not).
        "eventauthcursor": format!("{}.{}", event.cursor.tx, event.cursor.pos),
        "eventauthsequence": event.sequence,
    })
}

/// The cursor an envelope carries.
pub fn cursor_of(envelope: &Value) -> Option<projections::Cursor> {
    let (tx, pos) = envelope["eventauthcursor"].as_str()?.split_once('.')?;
    Some(projections::Cursor {
        tx: tx.parse().ok()?,
        pos: pos.parse().ok()?,
    })
}
