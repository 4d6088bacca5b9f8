//! Kolibri's two auth pages a browser navigates to (not API calls):
//! `GET /<lang>/logout/` ends the session and sends the browser to
//! `/<lang>/redirectuser/`, which sends it on to the landing page of the
//! signed-in user's role (as Kolibri 0.19.5's `logout_view` and
//! `RootURLRedirectView` do; docs/kolibri-reference.md §7–9).
//!
//! Every language Kolibri serves has its own prefix, matched exactly; an
//! unprefixed `/logout/` is sent to the default language's. Without a
//! trailing slash the page is answered too (Kolibri sends a 301 first).

use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum_extra::extract::cookie::{Cookie, CookieJar};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;

use super::{Visitor, SESSION_COOKIE};
use crate::access::{Actor, Scope, ADMINISTRATOR};
use crate::service::sessions::cookie as cookie_sessions;
use crate::App;

/// The language codes Kolibri 0.19.5 serves pages under (its
/// `KOLIBRI_SUPPORTED_LANGUAGES`).
pub const LANGUAGES: &[&str] = &[
    "ar", "bg-bg", "bn-bd", "de", "el", "en", "es-419", "es-es", "fa", "ff-cm", "fr-fr", "gu-in",
    "ha", "hi-in", "ht", "id", "it", "ka", "km", "ko", "mr", "my", "ny", "pa", "pt-br", "pt-mz",
    "sw-tz", "te", "uk", "ur-pk", "vi", "yo", "zh-hans",
];

/// The pages (names as in the path).
const PAGES: &[&str] = &["logout", "redirectuser"];

/// Whether `path` (without its trailing slash) is one of the pages, with or
/// without a language prefix.
pub fn is_page(path: &str) -> bool {
    let path = path.trim_end_matches('/');
    let mut segments = path.trim_start_matches('/').splitn(2, '/');
    match (segments.next(), segments.next()) {
        (Some(page), None) => PAGES.contains(&page),
        (Some(lang), Some(page)) => LANGUAGES.contains(&lang) && PAGES.contains(&page),
        _ => false,
    }
}

/// The routes: each page under every language, and unprefixed.
pub fn router() -> OpenApiRouter<App> {
    let mut router = OpenApiRouter::new()
        .route("/logout", get(unprefixed_logout))
        .route("/redirectuser", get(unprefixed_redirect));
    for lang in LANGUAGES {
        router = router
            .route(&format!("/{lang}/logout"), get(logout))
            .route(&format!("/{lang}/redirectuser"), get(redirect_user));
    }
    router
}

/// The language of a prefixed page path.
fn language_of(request_path: &str) -> &'static str {
    let first = request_path.trim_start_matches('/').split('/').next();
    LANGUAGES
        .iter()
        .find(|lang| Some(**lang) == first)
        .copied()
        .unwrap_or("en")
}

/// The language for an unprefixed page: the first of the browser's
/// `Accept-Language` Kolibri serves (exactly, or by its primary subtag),
/// else English.
fn preferred_language(headers: &HeaderMap) -> &'static str {
    let accepted = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    for tag in accepted.split(',') {
        let tag = tag
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if tag.is_empty() || tag == "*" {
            continue;
        }
        if let Some(lang) = LANGUAGES.iter().find(|lang| **lang == tag) {
            return lang;
        }
        let primary = tag.split('-').next().unwrap_or_default();
        if let Some(lang) = LANGUAGES
            .iter()
            .find(|lang| lang.split('-').next() == Some(primary))
        {
            return lang;
        }
    }
    "en"
}

fn found(location: String) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

/// `/<lang>/logout/`: ends the cookie's session (on every instance) and
/// clears the cookie, then 302 to `/<lang>/redirectuser/`.
async fn logout(
    State(app): State<App>,
    visitor: Visitor,
    jar: CookieJar,
    request: Request,
) -> Response {
    let lang = language_of(request.uri().path());
    if let Some(principal) = &visitor.principal {
        if let Err(error) = cookie_sessions::end(&app, principal, &visitor.ctx).await {
            return super::KolibriError::from(error).into_response();
        }
    }
    let jar = match jar.get(SESSION_COOKIE) {
        Some(_) => jar.remove(Cookie::build(SESSION_COOKIE).path("/")),
        None => jar,
    };
    (jar, found(format!("/{lang}/redirectuser/"))).into_response()
}

/// `/logout/`: 302 to the browser's language's logout page (the session
/// ends there).
async fn unprefixed_logout(headers: HeaderMap, request: Request) -> Response {
    let query = request
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    found(format!("/{}/logout/{query}", preferred_language(&headers)))
}

/// `?next=`.
#[derive(Debug, Deserialize)]
struct Next {
    next: Option<String>,
}

/// `/<lang>/redirectuser/`: 302 to the landing page of the signed-in
/// user's role, or to sign-in.
async fn redirect_user(
    State(app): State<App>,
    visitor: Visitor,
    Query(next): Query<Next>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let lang = language_of(request.uri().path());
    landing_redirect(&app, &visitor, lang, next.next.as_deref(), &headers).await
}

/// `/redirectuser/`: the same, in the browser's language, in one hop.
async fn unprefixed_redirect(
    State(app): State<App>,
    visitor: Visitor,
    Query(next): Query<Next>,
    headers: HeaderMap,
) -> Response {
    let lang = preferred_language(&headers);
    landing_redirect(&app, &visitor, lang, next.next.as_deref(), &headers).await
}

async fn landing_redirect(
    app: &App,
    visitor: &Visitor,
    lang: &str,
    next: Option<&str>,
    headers: &HeaderMap,
) -> Response {
    let page = match &visitor.principal {
        None => "auth",
        Some(principal) => {
            match crate::access::actor(app, principal.user_id, principal.session_id).await {
                Ok(actor) => landing_page(&actor),
                // A session whose user is gone: signed out, in effect.
                Err(_) => "auth",
            }
        }
    };
    let mut location = format!("/{lang}/{page}/");
    if let Some(next) = next.filter(|next| safe_next(next, headers)) {
        location = format!("{location}?next={next}");
    }
    found(location)
}

/// Where a role lands, the first that applies: the service's administrator
/// (Kolibri's superuser) on the device page, a facility admin on the
/// facility page, a coach on the coach page, anyone else on Learn.
fn landing_page(actor: &Actor) -> &'static str {
    let held = |role: &str| {
        actor
            .grants
            .iter()
            .any(|grant| grant.role == role && matches!(grant.scope, Scope::Collection(_)))
    };
    if actor.holds(ADMINISTRATOR, Scope::Everywhere) {
        "device"
    } else if held("admin") {
        "facility"
    } else if held("coach") || held("assignable_coach") {
        "coach"
    } else {
        "learn"
    }
}

/// A `next` Kolibri follows: a path on this site, or an absolute URL of
/// this host (Django's `url_has_allowed_host_and_scheme`); never `//host`,
/// a scheme of its own, or control characters.
fn safe_next(next: &str, headers: &HeaderMap) -> bool {
    if next.is_empty() || next.chars().any(|c| c.is_control() || c == '\\') {
        return false;
    }
    if next.starts_with('/') {
        return !next.starts_with("//");
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    ["http://", "https://"].iter().any(|scheme| {
        next.strip_prefix(scheme)
            .and_then(|rest| rest.split('/').next())
            .is_some_and(|authority| !host.is_empty() && authority.eq_ignore_ascii_case(host))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_paths_are_recognised_with_languages_kolibri_serves_only() {
        for path in [
            "/en/logout/",
            "/en/logout",
            "/fr-fr/redirectuser/",
            "/logout/",
            "/redirectuser",
        ] {
            assert!(is_page(path), "{path}");
        }
        for path in [
            "/fr/logout/",
            "/EN/logout/",
            "/xx/logout/",
            "/en/learn/",
            "/en/logout/x",
        ] {
            assert!(!is_page(path), "{path}");
        }
    }

    #[test]
    fn the_browsers_language_picks_the_unprefixed_pages_language() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT_LANGUAGE, value.parse().expect("header"));
            preferred_language(&headers)
        };
        assert_eq!(with("fr-FR,fr;q=0.9"), "fr-fr");
        assert_eq!(with("fr"), "fr-fr");
        assert_eq!(with("xx, de;q=0.5"), "de");
        assert_eq!(with("xx"), "en");
        assert_eq!(preferred_language(&HeaderMap::new()), "en");
    }

    #[test]
    fn only_this_sites_paths_and_host_are_followed() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "school.local:8080".parse().expect("host"));
        assert!(safe_next("/en/coach/", &headers));
        assert!(safe_next("http://school.local:8080/en/learn/", &headers));
        assert!(!safe_next("//evil.example/", &headers));
        assert!(!safe_next("https://evil.example/", &headers));
        assert!(!safe_next("javascript:alert(1)", &headers));
        assert!(!safe_next("/\\evil", &headers));
        assert!(!safe_next("", &headers));
    }
}
