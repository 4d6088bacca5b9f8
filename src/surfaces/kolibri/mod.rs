//! The Kolibri surface (`../shared/seeds/000_*.txt`, Kolibri 0.19.5 as the
//! reference): `/api/auth/*`. Ids are 32 lowercase hex digits; errors are
//! `[{"id": <Kolibri error id>, "metadata": {"field", "message"}}]`; every
//! path also answers with a trailing slash.
//!
//! Signed-in clients carry the `kolibri` cookie (an opaque session
//! secret) and send `X-CSRFToken` (the `kolibri_csrftoken` cookie, bound
//! to their session) on unsafe methods, as Django REST framework's session
//! authentication requires.

mod available;
mod classrooms;
mod dataset_actions;
mod deleted;
mod doc;
mod facilities;
mod first_password;
mod list_cache;
mod pages;
mod placements;
mod root;
mod session;
mod users;
mod visitor;

pub use list_cache::ListCache;
use visitor::well_formed_csrf;
pub use visitor::Visitor;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use std::sync::Arc;

use crate::http::{ApiError, ErrorShape};
use crate::service::sessions::cookie::{self as cookie_sessions, CookiePrincipal};
use crate::{App, Config, Error};

/// The name recorded on the sessions this surface starts.
pub const SURFACE: &str = "kolibri";

/// The session cookie.
pub const SESSION_COOKIE: &str = "kolibri";
/// The CSRF cookie.
pub const CSRF_COOKIE: &str = "kolibri_csrftoken";
/// The CSRF header.
pub const CSRF_HEADER: &str = "x-csrftoken";
/// The anonymous visitor's cookie.
pub const VISITOR_COOKIE: &str = "visitor_id";

/// The Kolibri error shape (a type marker for [`ApiError`] and the
/// extractors).
#[derive(Debug)]
pub struct Kolibri;

/// The Kolibri surface, as registered in [`crate::surfaces::all`], with its
/// cache of facility-user lists.
#[derive(Debug)]
pub struct KolibriSurface {
    answers: Arc<ListCache>,
}

impl KolibriSurface {
    /// The surface with a list cache of `EVENTAUTH_LIST_CACHE` answers.
    pub fn new(config: &Config) -> Self {
        Self {
            answers: Arc::new(ListCache::new(config.list_cache)),
        }
    }

    /// Its list cache (benchmarks measure with and without it).
    pub fn list_cache_handle(&self) -> Arc<ListCache> {
        self.answers.clone()
    }
}

impl crate::surfaces::Surface for KolibriSurface {
    fn name(&self) -> &'static str {
        SURFACE
    }

    fn tag(&self) -> (&'static str, &'static str) {
        (
            "kolibri",
            "The Kolibri 0.19.5 surface (`/api/auth/*`; also with a trailing slash)",
        )
    }

    /// Its pages and everything under `/api/auth` (what nothing serves
    /// there gets Django's 404 page, as from Kolibri).
    fn owns(&self, path: &str) -> bool {
        pages::is_page(path) || path == "/api/auth" || path.starts_with("/api/auth/")
    }

    fn routes(&self, app: &App) -> OpenApiRouter<App> {
        let mut routes = router(app.clone())
            .layer(axum::Extension(self.answers.clone()))
            .merge(pages::router());
        doc::security_schemes(routes.get_openapi_mut());
        routes
    }

    /// Every path also answers with a trailing slash, as Kolibri's
    /// (Django's) do. tower-http's `NormalizePath` would trim every
    /// surface's paths; this trims only Kolibri's.
    fn rewrite(&self, request: &mut Request) {
        trim_trailing_slash(request);
    }

    /// Django's own 404 page (Kolibri has no template of its own): what
    /// Kolibri answers for a path no view serves. A view's "no such
    /// object" is the JSON `NOT_FOUND` its handler renders.
    fn not_found(&self) -> Response {
        let page = "\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Not Found</title>\n</head>\n<body>\n  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n</body>\n</html>\n";
        (StatusCode::NOT_FOUND, axum::response::Html(page)).into_response()
    }

    fn method_not_allowed<'a>(
        &'a self,
        app: &'a App,
        request: &'a axum::http::request::Parts,
    ) -> futures::future::BoxFuture<'a, Response> {
        Box::pin(async move {
            let refused = method_not_allowed(&request.method);
            if request.uri.path().starts_with("/api/auth/session") {
                // Kolibri's session views set the CSRF cookie on every answer.
                let secure = crate::http::cookies::SecureCookies::of(request, app).0;
                with_csrf_cookie(app, &request.headers, secure, refused).await
            } else {
                refused
            }
        })
    }

    fn panicked(&self) -> Response {
        Kolibri::render(&Error::Internal(anyhow::anyhow!("panic")))
    }

    fn credential_headers(&self) -> &'static [&'static str] {
        &[CSRF_HEADER]
    }

    fn listeners(&self) -> Vec<Arc<dyn crate::consumers::feed::FeedListener>> {
        vec![self.answers.clone()]
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// An error rendered the Kolibri way.
pub type KolibriError = ApiError<Kolibri>;

impl ErrorShape for Kolibri {
    fn render(error: &Error) -> Response {
        let status = error.status();
        // A body that does not parse: Django REST framework's ParseError,
        // `{"detail": …}` (its 400 handler finds no field errors in it).
        if let Error::Invalid {
            code: "MALFORMED_JSON" | "INVALID_BODY" | "UNSUPPORTED_CONTENT_TYPE",
            message,
            ..
        } = error
        {
            let body = json!({ "detail": format!("JSON parse error - {message}") });
            return (StatusCode::BAD_REQUEST, Json(body)).into_response();
        }
        let (id, field) = match error {
            Error::Invalid { code, field, .. } => (kolibri_id(code), *field),
            Error::InvalidCredentials => ("INVALID_CREDENTIALS", None),
            Error::Unauthenticated => ("NOT_AUTHENTICATED", None),
            Error::Forbidden | Error::Disabled => ("PERMISSION_DENIED", None),
            Error::NotFound => ("NOT_FOUND", None),
            Error::TooManyAttempts { .. } => ("THROTTLED", None),
            _ => ("ERROR", None),
        };
        // Kolibri's metadata: `{field, message}` for 400s, `{}` for
        // INVALID_CREDENTIALS, `{view}` for 403 and 404.
        let metadata = match error {
            Error::Invalid { .. } => {
                let mut metadata = json!({ "message": error.public_message() });
                if let Some(field) = field {
                    metadata["field"] = json!(field);
                }
                metadata
            }
            Error::InvalidCredentials => json!({}),
            Error::Unauthenticated | Error::Forbidden | Error::Disabled | Error::NotFound => {
                json!({ "view": VIEW.try_with(|view| *view).unwrap_or("Kolibri") })
            }
            _ => json!({ "message": error.public_message() }),
        };
        let status = match error {
            // Kolibri (Django REST framework with session auth) answers
            // 403 to requests without a session.
            Error::Unauthenticated => StatusCode::FORBIDDEN,
            _ => status,
        };
        let body = json!([{ "id": id, "metadata": metadata }]);
        (status, Json(body)).into_response()
    }
}

/// Kolibri's error id for one of our 400 codes (Kolibri's own ids pass
/// through; the rest become `INVALID`).
fn kolibri_id(code: &'static str) -> &'static str {
    match code {
        "USERNAME_ALREADY_EXISTS"
        | "MISSING_PASSWORD"
        | "PASSWORD_NOT_SPECIFIED"
        | "PASSWORD_TOO_LONG"
        | "NOT_FOUND"
        | "DOES_NOT_EXIST"
        | "MAX_LENGTH"
        | "INVALID_CHOICE"
        | "UNIQUE"
        | "INCORRECT_TYPE"
        | "INVALID_CREDENTIALS"
        | "NULL"
        | "REQUIRED"
        | "BLANK"
        | "INVALID" => code,
        _ => "INVALID",
    }
}

/// Django REST framework's "no such object" for a primary key sent in
/// `field` (the value as sent, shortened).
pub(super) fn does_not_exist(field: &'static str, sent: &str) -> KolibriError {
    let shown: String = sent.chars().take(64).collect();
    Error::invalid_field(
        field,
        "DOES_NOT_EXIST",
        format!("Invalid pk \"{shown}\" - object does not exist."),
    )
    .into()
}

/// Kolibri's ids: 32 lowercase hex digits.
pub fn hex_id(id: Uuid) -> String {
    id.simple().to_string()
}

/// The Kolibri routes, documented.
fn router(app: App) -> OpenApiRouter<App> {
    // Kolibri's SessionViewSet is `ensure_csrf_cookie`: every answer on it
    // (errors included) carries the CSRF cookie.
    let sessions = OpenApiRouter::new()
        .routes(routes!(session::login))
        .routes(routes!(session::keep_alive, session::logout))
        .layer(axum::middleware::from_fn_with_state(
            app,
            ensure_csrf_cookie,
        ));
    OpenApiRouter::new()
        .routes(routes!(available::username_available))
        .routes(routes!(first_password::set_first_password))
        .routes(routes!(root::api_root))
        .routes(routes!(deleted::list, deleted::purge_many))
        .routes(routes!(deleted::read, deleted::purge))
        .routes(routes!(deleted::restore))
        .merge(sessions)
        .routes(routes!(users::list, users::create, users::delete_many))
        .routes(routes!(users::read, users::update, users::delete))
        .routes(routes!(users::signup))
        .routes(routes!(facilities::list))
        .routes(routes!(facilities::read))
        .routes(routes!(facilities::datasets))
        .routes(routes!(facilities::change_dataset))
        .routes(routes!(dataset_actions::reset))
        .routes(routes!(dataset_actions::save_login_settings))
        .routes(routes!(facilities::usernames))
        .routes(routes!(
            classrooms::kolibri_classrooms,
            classrooms::kolibri_create_classroom
        ))
        .routes(routes!(
            classrooms::kolibri_classroom,
            classrooms::kolibri_put_classroom,
            classrooms::kolibri_patch_classroom,
            classrooms::kolibri_delete_classroom
        ))
        .routes(routes!(
            classrooms::kolibri_learner_groups,
            classrooms::kolibri_create_learner_group
        ))
        .routes(routes!(
            classrooms::kolibri_learner_group,
            classrooms::kolibri_put_learner_group,
            classrooms::kolibri_patch_learner_group,
            classrooms::kolibri_delete_learner_group
        ))
        .routes(routes!(
            placements::roles,
            placements::give_roles,
            placements::take_roles
        ))
        .routes(routes!(placements::role, placements::take_role))
        .routes(routes!(
            placements::memberships,
            placements::join,
            placements::leave_many
        ))
        .routes(routes!(placements::membership, placements::leave))
        .layer(axum::middleware::from_fn(name_view))
}

tokio::task_local! {
    /// The Django REST framework view name of the request being answered
    /// (what Kolibri puts in 403 and 404 metadata).
    static VIEW: &'static str;
}

/// The view name Kolibri's 403 and 404 answers carry for a path.
fn view_of(path: &str) -> &'static str {
    let rest = path.trim_start_matches("/api/auth/");
    let (resource, detail) = match rest.split_once('/') {
        Some((resource, id)) => (resource, !id.is_empty()),
        None => (rest, false),
    };
    // Extra actions carry their own names (Django REST framework's
    // `pretty_name` of the action).
    if rest.starts_with("deletedfacilityuser/restore") {
        return "Restore";
    }
    if rest.ends_with("/resetsettings") {
        return "Resetsettings";
    }
    if rest.ends_with("/save-facility-login-settings") {
        return "Save facility login settings";
    }
    match (resource, detail) {
        ("session", false) => "Session List",
        ("session", true) => "Session Instance",
        ("facilityuser", false) => "Facility User List",
        ("facilityuser", true) => "Facility User Instance",
        ("signup", _) => "Sign Up List",
        ("usernameavailable", _) => "Username Available",
        ("setnonspecifiedpassword", _) => "Set Non Specified Password",
        ("deletedfacilityuser", false) => "Deleted Facility User List",
        ("deletedfacilityuser", true) => "Deleted Facility User Instance",
        ("facility", false) => "Facility List",
        ("facility", true) => "Facility Instance",
        ("facilitydataset", false) => "Facility Dataset List",
        ("facilitydataset", true) => "Facility Dataset Instance",
        ("facilityusername", false) => "Facility Username List",
        ("facilityusername", true) => "Facility Username Instance",
        ("classroom", false) => "Classroom List",
        ("classroom", true) => "Classroom Instance",
        ("learnergroup", false) => "Learner Group List",
        ("learnergroup", true) => "Learner Group Instance",
        ("membership", false) => "Membership List",
        ("membership", true) => "Membership Instance",
        ("role", false) => "Role List",
        ("role", true) => "Role Instance",
        _ => "Kolibri",
    }
}

/// Names the view for the errors rendered while answering.
async fn name_view(request: Request, next: axum::middleware::Next) -> Response {
    let view = view_of(request.uri().path());
    VIEW.scope(view, next.run(request)).await
}

/// Sets `kolibri_csrftoken` on a response that does not set it already:
/// the session's token for a signed-in client, else the client's own
/// (when well-formed), else a new one.
async fn ensure_csrf_cookie(
    State(app): State<App>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let headers = request.headers().clone();
    let (parts, body) = request.into_parts();
    let secure = crate::http::cookies::SecureCookies::of(&parts, &app).0;
    let response = next.run(Request::from_parts(parts, body)).await;
    with_csrf_cookie(&app, &headers, secure, response).await
}

/// Adds the CSRF cookie a session answer carries, unless it has one.
async fn with_csrf_cookie(
    app: &App,
    request: &axum::http::HeaderMap,
    secure: bool,
    mut response: Response,
) -> Response {
    let prefix = format!("{CSRF_COOKIE}=");
    let already = response
        .headers()
        .get_all(axum::http::header::SET_COOKIE)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.starts_with(&prefix)));
    if already {
        return response;
    }
    let jar = CookieJar::from_headers(request);
    let principal = match jar.get(SESSION_COOKIE) {
        Some(cookie) => cookie_sessions::resolve(app, cookie.value(), Some(SURFACE))
            .await
            .ok()
            .flatten(),
        None => None,
    };
    let token = csrf_token_for(
        app,
        principal.as_ref(),
        jar.get(CSRF_COOKIE).map(|c| c.value()),
    );
    if let Ok(value) = csrf_cookie(secure, token).to_string().parse() {
        response
            .headers_mut()
            .append(axum::http::header::SET_COOKIE, value);
    }
    response
}

/// The CSRF token a client should hold.
fn csrf_token_for(app: &App, principal: Option<&CookiePrincipal>, cookie: Option<&str>) -> String {
    match (principal, cookie) {
        (Some(principal), _) => csrf_token(app, principal.session_id),
        (None, Some(token)) if well_formed_csrf(token) => token.to_string(),
        _ => hex::encode(rand::random::<[u8; 32]>()),
    }
}

/// The CSRF token of a session: bound to it with a server key, never
/// stored.
fn csrf_token(app: &App, session_id: Uuid) -> String {
    app.tokens.session_mac("csrf", session_id)
}

/// Django's answer to a failed `csrf_protect` check: its HTML 403 page.
pub fn csrf_failure() -> Response {
    let page = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n  <meta http-equiv=\"content-type\" content=\"text/html; charset=utf-8\">\n  <title>403 Forbidden</title>\n</head>\n<body>\n  <h1>Forbidden <span>(403)</span></h1>\n  <p>CSRF verification failed. Request aborted.</p>\n</body>\n</html>\n";
    (StatusCode::FORBIDDEN, axum::response::Html(page)).into_response()
}

/// 405 the way Django REST framework says it.
fn method_not_allowed(method: &Method) -> Response {
    let body = json!({ "detail": format!("Method \"{method}\" not allowed.") });
    (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}

/// Starts the cookie session of verified credentials: the session cookie
/// and a CSRF cookie bound to the new session (rotated at login, as
/// Django does).
async fn sign_in(
    app: &App,
    verified: &crate::service::sessions::Verified,
    visitor: &Visitor,
    jar: CookieJar,
) -> Result<CookieJar, Error> {
    let started = cookie_sessions::start(app, verified, SURFACE, &visitor.ctx).await?;
    Ok(jar
        .add(session_cookie(visitor.secure, started.secret))
        .add(csrf_cookie(
            visitor.secure,
            csrf_token(app, started.session_id),
        )))
}

/// The `kolibri` session cookie: HttpOnly, a browser-session cookie (no
/// expiry: the server ends the session when idle), as Kolibri sets it;
/// `Secure` as [`crate::http::cookies`] decides.
fn session_cookie(secure: bool, secret: String) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, secret))
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .path("/")
        .build()
}

/// The `kolibri_csrftoken` cookie (readable by scripts, a year, as
/// Django's); `Secure` by the same rule as the session cookie.
fn csrf_cookie(secure: bool, token: String) -> Cookie<'static> {
    Cookie::build((CSRF_COOKIE, token))
        .secure(secure)
        .same_site(SameSite::Lax)
        .path("/")
        .max_age(cookie::time::Duration::seconds(31_449_600))
        .build()
}

/// The anonymous visitor's `visitor_id` (a UUID4 in hex, kept when the
/// client's is one), a year; `Secure` and `SameSite` as the other cookies.
fn visitor_cookie(secure: bool, jar: &CookieJar) -> Cookie<'static> {
    let id = jar
        .get(VISITOR_COOKIE)
        .and_then(|c| Uuid::try_parse(c.value()).ok())
        .filter(|id| id.get_version_num() == 4)
        .unwrap_or_else(Uuid::new_v4);
    Cookie::build((VISITOR_COOKIE, hex_id(id)))
        .secure(secure)
        .same_site(SameSite::Lax)
        .path("/")
        .max_age(cookie::time::Duration::days(365))
        .build()
}

/// A Kolibri path with a trailing slash is the path without it.
fn trim_trailing_slash(request: &mut Request) {
    let path = request.uri().path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/').to_string();
        let rebuilt = match request.uri().query() {
            Some(query) => format!("{trimmed}?{query}"),
            None => trimmed,
        };
        if let Ok(uri) = rebuilt.parse() {
            *request.uri_mut() = uri;
        }
    }
}
