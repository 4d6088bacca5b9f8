//! The ILD Auth surface (`../shared/seeds/001_*.txt`), the native one:
//! `/sign/*` and `/user/*`. Translation only: wire format in, use case,
//! wire format out. Errors are `{"error": <reason>, "message": <text>}`.

pub mod accounts;
pub mod admin;
pub mod personal_data;
pub mod profile;
mod profile_fields;
pub mod sign;
pub mod user;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::{ApiError, ErrorShape};
use crate::service::UserView;
use crate::{App, Error};

/// The name recorded on the sessions this surface starts.
pub const SURFACE: &str = "ild";

/// The ILD error shape (a type marker for [`ApiError`] and the extractors).
#[derive(Debug)]
pub struct Ild;

/// The ILD surface, as registered in [`crate::surfaces::all`].
#[derive(Debug)]
pub struct IldSurface;

impl crate::surfaces::Surface for IldSurface {
    fn name(&self) -> &'static str {
        SURFACE
    }

    fn tag(&self) -> (&'static str, &'static str) {
        (
            "ild",
            "The ILD Auth surface (`/sign/*`, `/user/*`; errors `{\"error\", \"message\"}`)",
        )
    }

    fn owns(&self, path: &str) -> bool {
        ["/sign", "/user", "/admin"].iter().any(|prefix| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    }

    fn routes(&self, _app: &App) -> OpenApiRouter<App> {
        router()
    }

    fn not_found(&self) -> Response {
        Ild::render(&Error::NotFound)
    }

    fn method_not_allowed<'a>(
        &'a self,
        _app: &'a App,
        _request: &'a axum::http::request::Parts,
    ) -> futures::future::BoxFuture<'a, Response> {
        Box::pin(async { method_not_allowed() })
    }

    fn panicked(&self) -> Response {
        Ild::render(&Error::Internal(anyhow::anyhow!("panic")))
    }

    fn credential_headers(&self) -> &'static [&'static str] {
        // The refresh token, when not sent as the cookie.
        &["x-refresh-token"]
    }

    fn secret_paths(&self) -> &'static [&'static str] {
        // A reset link's token.
        &["/sign/reset/"]
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// An error rendered the ILD way.
pub type IldError = ApiError<Ild>;

impl ErrorShape for Ild {
    fn render(error: &Error) -> Response {
        let status = error.status();
        let body = IldErrorBody {
            error: status.canonical_reason().unwrap_or("Error").to_string(),
            message: error.public_message(),
        };
        (status, Json(body)).into_response()
    }
}

/// The ILD routes, documented.
fn router() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(sign::register))
        .routes(routes!(sign::login))
        .routes(routes!(sign::check))
        .routes(routes!(sign::refresh))
        .routes(routes!(sign::logout))
        .routes(routes!(sign::verify))
        .routes(routes!(sign::reset))
        .routes(routes!(sign::reset_with_token))
        .routes(routes!(user::change_password))
        .routes(routes!(user::profile, profile::update_profile))
        .routes(routes!(user::public_profile))
        .routes(routes!(personal_data::export))
        .routes(routes!(personal_data::erase))
        .routes(routes!(profile::profile_image))
        .routes(routes!(admin::index_categories))
        .routes(routes!(admin::recalculate_subscription))
        .routes(routes!(
            admin::grant_subscription,
            admin::extend_subscription,
            admin::cancel_subscription
        ))
        .routes(routes!(user::tutorial))
        .routes(routes!(user::my_sessions, user::end_other_sessions))
        .routes(routes!(user::end_session))
        .routes(routes!(user::join_community))
        .routes(routes!(user::create_community))
        .routes(routes!(accounts::create_account))
        .routes(routes!(accounts::add_member, accounts::remove_member))
        .routes(routes!(user::list_users))
        .routes(routes!(user::get_user))
        .routes(routes!(user::admin_action))
        .routes(routes!(user::grant_role, user::revoke_role))
}

/// The ILD error shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct IldErrorBody {
    /// The HTTP reason phrase, e.g. `Unauthorized`.
    #[schema(example = "Unauthorized")]
    error: String,
    /// What is wrong, for people.
    #[schema(example = "Authentication required")]
    message: String,
}

/// A confirmation.
#[derive(Debug, Serialize, ToSchema)]
pub struct IldMessage {
    /// What happened.
    message: String,
}

impl IldMessage {
    fn new(message: &str) -> Self {
        Self {
            message: message.to_string(),
        }
    }
}

/// 405 in the ILD shape.
fn method_not_allowed() -> Response {
    let body = serde_json::json!({
        "error": "Method Not Allowed",
        "message": "This method is not allowed on this path",
    });
    (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}

/// The user object of the ILD surface (own profile, admin views).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IldUser {
    id: String,
    email: String,
    first_name: String,
    last_name: String,
    roles: Vec<String>,
    email_verified: bool,
    tutorial_completed: bool,
    /// Disabled by an administrator.
    disabled: bool,
    #[serde(flatten)]
    profile: IldProfileFields,
    /// Private: phone number.
    phone: Option<String>,
    /// Private: date of birth, `YYYY-MM-DD`.
    birth_date: Option<String>,
    /// As the last `PATCH /user/{userId}/index` left them.
    categories: Vec<String>,
    subscription: IldSubscription,
    created_at: String,
    updated_at: String,
    /// The communities the user joined (on `GET /user/profile`).
    #[serde(skip_serializing_if = "Option::is_none")]
    communities: Option<Vec<IldCommunity>>,
}

/// The public profile fields (`null`: unset).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IldProfileFields {
    nickname: Option<String>,
    bio: Option<String>,
    location: Option<String>,
    website: Option<String>,
    /// Language tag, e.g. `pt-BR`.
    language: Option<String>,
    /// IANA time zone, e.g. `Europe/Berlin`.
    timezone: Option<String>,
    /// The picture's key (for `GET /user/profile/stream/{key}`).
    profile_image: Option<String>,
    /// The picture's path on this service.
    profile_image_url: Option<String>,
}

impl From<&crate::service::users::ProfileView> for IldProfileFields {
    fn from(p: &crate::service::users::ProfileView) -> Self {
        Self {
            nickname: p.nickname.clone(),
            bio: p.bio.clone(),
            location: p.location.clone(),
            website: p.website.clone(),
            language: p.language.clone(),
            timezone: p.timezone.clone(),
            profile_image: p.image_key.clone(),
            profile_image_url: p
                .image_key
                .as_ref()
                .map(|key| format!("/user/profile/stream/{key}")),
        }
    }
}

/// A subscription as last recorded.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IldSubscription {
    /// Plan slug.
    plan: Option<String>,
    /// `none`, `active`, `canceled` (usable until `validUntil`), `expired`.
    status: String,
    /// When it ends.
    valid_until: Option<String>,
}

impl From<&crate::service::users::SubscriptionView> for IldSubscription {
    fn from(s: &crate::service::users::SubscriptionView) -> Self {
        Self {
            plan: s.plan.clone(),
            status: s.status.clone(),
            valid_until: s.valid_until.map(|t| t.to_rfc3339()),
        }
    }
}

/// A community.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IldCommunity {
    id: String,
    name: String,
    description: Option<String>,
    /// Members.
    members: i64,
    created_at: String,
}

impl From<crate::service::communities::CommunityView> for IldCommunity {
    fn from(c: crate::service::communities::CommunityView) -> Self {
        Self {
            id: c.id.to_string(),
            name: c.name,
            description: c.description,
            members: c.members,
            created_at: c.created_at.to_rfc3339(),
        }
    }
}

/// A user as the profile and admin endpoints show them: with their
/// communities.
pub async fn with_communities(app: &App, user: UserView) -> Result<IldUser, Error> {
    let communities = crate::service::communities::of_user(app, user.id).await?;
    Ok(IldUser::from(user)
        .with_communities(communities.into_iter().map(IldCommunity::from).collect()))
}

/// One user (from the read model) with their communities.
pub async fn find_with_communities(app: &App, user_id: uuid::Uuid) -> Result<IldUser, Error> {
    with_communities(app, crate::service::users::find(app, user_id).await?).await
}

/// An administrative action on the user `raw_id` names; the user's id.
pub async fn admin_act(
    app: &App,
    ctx: &crate::service::RequestContext,
    actor: &crate::access::Actor,
    raw_id: &str,
    action: crate::service::admin::Action,
) -> Result<uuid::Uuid, Error> {
    let user_id = crate::input::parse_id(raw_id, "userId")?;
    crate::service::admin::act(app, actor, user_id, action, ctx).await?;
    Ok(user_id)
}

impl IldUser {
    /// With the user's communities.
    pub fn with_communities(mut self, communities: Vec<IldCommunity>) -> Self {
        self.communities = Some(communities);
        self
    }
}

impl From<UserView> for IldUser {
    fn from(user: UserView) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email,
            first_name: user.first_name,
            last_name: user.last_name,
            roles: user.roles,
            email_verified: user.email_verified,
            tutorial_completed: user.tutorial_completed,
            disabled: user.disabled,
            profile: IldProfileFields::from(&user.profile),
            phone: user.profile.phone.clone(),
            birth_date: user.profile.birth_date.clone(),
            categories: user.categories,
            subscription: IldSubscription::from(&user.subscription),
            created_at: user.created_at.to_rfc3339(),
            updated_at: user.updated_at.to_rfc3339(),
            communities: None,
        }
    }
}

/// The public profile: only what anyone may see.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IldPublicUser {
    id: String,
    first_name: String,
    last_name: String,
    #[serde(flatten)]
    profile: IldProfileFields,
    created_at: String,
}

impl From<UserView> for IldPublicUser {
    fn from(user: UserView) -> Self {
        Self {
            id: user.id.to_string(),
            first_name: user.first_name,
            last_name: user.last_name,
            profile: IldProfileFields::from(&user.profile),
            created_at: user.created_at.to_rfc3339(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_saturated_hash_pool_answers_503_with_retry_after_in_the_ild_shape() {
        let error = IldError::from(Error::Busy {
            retry_after: std::time::Duration::from_secs(1),
        });
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "1");
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .expect("body");
        let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(body["error"], "Service Unavailable");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    #[tokio::test]
    async fn an_internal_error_shows_no_internals() {
        let response =
            IldError::from(Error::Internal(anyhow::anyhow!("db password=hunter2"))).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .expect("body");
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("An unexpected error occurred"));
    }
}
