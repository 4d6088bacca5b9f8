//! Who is calling the Kolibri surface: the signed-in session behind the
//! `kolibri` cookie, if any, with Django REST framework's CSRF rules.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::Method;
use axum_extra::extract::cookie::CookieJar;
use subtle::ConstantTimeEq;

use super::{csrf_token, KolibriError, CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE, SURFACE};
use crate::access::Actor;
use crate::http::cookies::SecureCookies;
use crate::http::extract::Ctx;
use crate::service::sessions::cookie::{self as cookie_sessions, CookiePrincipal};
use crate::service::RequestContext;
use crate::{App, Error};

/// Who is calling: the signed-in session behind the `kolibri` cookie, if
/// any, and the request's context. A signed-in client's unsafe request
/// (POST, PUT, PATCH, DELETE) must carry `X-CSRFToken` equal to its
/// session's CSRF token, else 403 `PERMISSION_DENIED` (Django REST
/// framework's session authentication; anonymous requests are exempt).
pub struct Visitor {
    /// The signed-in session.
    pub principal: Option<CookiePrincipal>,
    /// The request's context.
    pub ctx: RequestContext,
    /// The CSRF cookie the client sent.
    pub(super) csrf_cookie: Option<String>,
    /// The CSRF header the client sent.
    csrf_header: Option<String>,
    /// Whether cookies set in answer are `Secure`.
    pub(super) secure: bool,
}

impl std::fmt::Debug for Visitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The CSRF values are secrets of the session.
        f.debug_struct("Visitor")
            .field("principal", &self.principal)
            .field("ctx", &self.ctx)
            .finish_non_exhaustive()
    }
}

impl Visitor {
    /// The signed-in actor, from live state; `None` when anonymous.
    pub async fn actor(&self, app: &App) -> Result<Option<Actor>, Error> {
        match &self.principal {
            Some(principal) => crate::access::actor(app, principal.user_id, principal.session_id)
                .await
                .map(Some),
            None => Ok(None),
        }
    }

    /// Django's `csrf_protect` for an anonymous client (sign-up): the
    /// header must repeat the cookie. Signed-in clients were checked
    /// against their session already.
    pub fn require_csrf(&self) -> Result<(), Error> {
        if self.principal.is_some() {
            return Ok(());
        }
        match (&self.csrf_cookie, &self.csrf_header) {
            (Some(cookie), Some(header))
                if well_formed_csrf(cookie) && constant_time_eq(cookie, header) =>
            {
                Ok(())
            }
            _ => Err(Error::Forbidden),
        }
    }
}

pub(super) fn well_formed_csrf(token: &str) -> bool {
    (32..=64).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

impl FromRequestParts<App> for Visitor {
    type Rejection = KolibriError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let Ctx(ctx) = Ctx::from_request_parts(parts, app)
            .await
            .unwrap_or_else(|never| match never {});
        let jar = CookieJar::from_headers(&parts.headers);
        let principal = match jar.get(SESSION_COOKIE) {
            Some(session) => cookie_sessions::resolve(app, session.value(), Some(SURFACE)).await?,
            None => None,
        };
        let csrf_header = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let unsafe_method = !matches!(
            parts.method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
        );
        if let (Some(principal), true) = (&principal, unsafe_method) {
            let expected = csrf_token(app, principal.session_id);
            let presented = csrf_header.as_deref().unwrap_or_default();
            if !constant_time_eq(&expected, presented) {
                return Err(Error::Forbidden.into());
            }
        }
        Ok(Self {
            principal,
            ctx,
            csrf_cookie: jar.get(CSRF_COOKIE).map(|c| c.value().to_string()),
            csrf_header,
            secure: SecureCookies::of(parts, app).0,
        })
    }
}
