//! Extractors and error rendering every surface shares, parametrized by the
//! surface's [`ErrorShape`] so that rejections come out in its shape.

use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;

use super::REQUEST_ID;
use crate::service::sessions::{authenticate, Principal};
use crate::service::RequestContext;
use crate::{App, Error};

/// How a surface renders the service's errors (its wire's error shape).
pub trait ErrorShape: Send + Sync + 'static {
    /// The body (and status) for `error` in this surface's shape.
    fn render(error: &Error) -> Response;
}

/// A service error on its way out through surface `S`.
pub struct ApiError<S>(pub Error, PhantomData<S>);

impl<S> std::fmt::Debug for ApiError<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<S> From<Error> for ApiError<S> {
    fn from(error: Error) -> Self {
        Self(error, PhantomData)
    }
}

impl<S: ErrorShape> IntoResponse for ApiError<S> {
    fn into_response(self) -> Response {
        let error = self.0.outage_aware();
        if let Error::Internal(cause) = &error {
            // Logged once, with its chain; the client sees a generic message.
            tracing::error!(error = format!("{cause:#}"), "request failed");
        }
        let mut response = S::render(&error);
        if let Error::Unavailable {
            outage: crate::error::Outage::ConnectionLost,
            ..
        } = error
        {
            // Safe requests whose connection broke are tried once more (one
            // that found no connection in time would only wait again).
            response
                .extensions_mut()
                .insert(super::outage::StoreUnavailable);
        }
        if let Some(seconds) = error.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

/// A JSON body, its rejections rendered by surface `S`.
#[derive(Debug)]
pub struct Body<T, S>(pub T, pub PhantomData<S>);

impl<T, S> FromRequest<App> for Body<T, S>
where
    T: DeserializeOwned,
    S: ErrorShape,
{
    type Rejection = ApiError<S>;

    async fn from_request(request: Request, app: &App) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, app).await {
            Ok(Json(value)) => Ok(Self(value, PhantomData)),
            Err(rejection) => Err(json_error(&rejection).into()),
        }
    }
}

/// Says what is wrong with a JSON body without echoing its values (a
/// mistyped password must not come back in an error message).
fn json_error(rejection: &JsonRejection) -> Error {
    match rejection {
        JsonRejection::BytesRejection(bytes) if bytes.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Error::PayloadTooLarge
        }
        JsonRejection::MissingJsonContentType(_) => Error::invalid(
            "UNSUPPORTED_CONTENT_TYPE",
            "Expected a JSON body with Content-Type: application/json",
        ),
        JsonRejection::JsonSyntaxError(_) => {
            Error::invalid("MALFORMED_JSON", "The body is not valid JSON")
        }
        JsonRejection::JsonDataError(error) => {
            let detail = missing_field(error)
                .map(|field| format!("missing field `{field}`"))
                .unwrap_or_else(|| "a field has the wrong type".to_string());
            Error::invalid("INVALID_BODY", format!("Invalid request body: {detail}"))
        }
        _ => Error::invalid("INVALID_BODY", "The request body could not be read"),
    }
}

/// The field serde reports missing, if that is the error. Only serde's own
/// message prefix is trusted: other messages may quote client values.
fn missing_field(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(json) = current.downcast_ref::<serde_json::Error>() {
            let text = json.to_string();
            let name = text.strip_prefix("missing field `")?.split('`').next()?;
            return Some(name.to_string());
        }
        source = current.source();
    }
    None
}

/// `Debug` for a request body that lists only its non-secret fields, so a
/// stray `{:?}` can never print a password.
#[macro_export]
macro_rules! redacted_debug {
    ($type:ty { $($field:ident),* }) => {
        impl std::fmt::Debug for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($type))
                    $(.field(stringify!($field), &self.$field))*
                    .finish_non_exhaustive()
            }
        }
    };
}

/// The authenticated caller (bearer access token), rejected in `S`'s shape.
#[derive(Debug)]
pub struct Auth<S>(pub Principal, pub PhantomData<S>);

impl<S: ErrorShape> FromRequestParts<App> for Auth<S> {
    type Rejection = ApiError<S>;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| {
                value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
            })
            .ok_or(Error::Unauthenticated)?;
        Ok(Self(authenticate(app, token.trim())?, PhantomData))
    }
}

/// The authenticated caller (bearer access token) as an
/// [`crate::access::Actor`], built from their live state; rejected in `S`'s
/// shape. For requests whose use case asks for permissions.
#[derive(Debug)]
pub struct Acting<S>(pub crate::access::Actor, pub PhantomData<S>);

impl<S: ErrorShape> FromRequestParts<App> for Acting<S> {
    type Rejection = ApiError<S>;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let Auth(principal, _) = Auth::<S>::from_request_parts(parts, app).await?;
        let actor = crate::access::actor(app, principal.user_id, principal.session_id).await?;
        Ok(Self(actor, PhantomData))
    }
}

/// The request's context (id, client IP, user agent). Never rejects.
#[derive(Debug)]
pub struct Ctx(pub RequestContext);

/// The client's address: the peer, unless the peer is a trusted proxy; then
/// the right-most `X-Forwarded-For` entry that is not a trusted proxy
/// itself (entries further left were written by the client and prove
/// nothing).
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in hops.iter().rev() {
        let Ok(ip) = hop.parse::<IpAddr>() else {
            // Garbage in the chain: stop at the last address we could trust.
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// Longest user agent recorded.
const MAX_USER_AGENT: usize = 512;

impl FromRequestParts<App> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let request_id = parts
            .headers
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(128).collect())
            .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let client_ip =
            peer.map(|peer| client_ip(peer, &parts.headers, &app.config.trusted_proxies));
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(MAX_USER_AGENT).collect());
        Ok(Self(RequestContext {
            request_id,
            client_ip,
            user_agent,
            actor: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", xff.parse().expect("header"));
        headers
    }

    fn nets(list: &[&str]) -> Vec<ipnet::IpNet> {
        list.iter().map(|n| n.parse().expect("net")).collect()
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        let peer: IpAddr = "198.51.100.9".parse().expect("ip");
        assert_eq!(
            client_ip(peer, &headers("1.2.3.4"), &nets(&["10.0.0.0/8"])),
            peer
        );
        assert_eq!(client_ip(peer, &headers("1.2.3.4"), &[]), peer);
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_hop_is_the_client() {
        let peer: IpAddr = "10.0.0.2".parse().expect("ip");
        let trusted = nets(&["10.0.0.0/8"]);
        // The client claims 6.6.6.6; the first proxy saw 203.0.113.5.
        let client = client_ip(peer, &headers("6.6.6.6, 203.0.113.5, 10.0.0.1"), &trusted);
        assert_eq!(client, "203.0.113.5".parse::<IpAddr>().expect("ip"));
    }

    #[test]
    fn a_garbage_hop_stops_the_walk() {
        let peer: IpAddr = "10.0.0.2".parse().expect("ip");
        let client = client_ip(
            peer,
            &headers("203.0.113.5, nonsense"),
            &nets(&["10.0.0.0/8"]),
        );
        assert_eq!(client, peer);
    }
}
