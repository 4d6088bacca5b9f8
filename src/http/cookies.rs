//! Whether the cookies of a response are `Secure`: the one rule for every
//! cookie the service sets, on every surface.
//!
//! `auto` (the default) marks them `Secure` when the request came over
//! HTTPS — directly, or as a trusted proxy says with `X-Forwarded-Proto:
//! https` — and not over plain HTTP, where a browser would neither keep
//! nor send them (Kolibri runs on school LANs at `http://192.168.…`).
//! `EVENTAUTH_COOKIE_SECURE=true|false` forces it.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;

use crate::config::CookieSecure;
use crate::App;

/// Whether this request's cookies are `Secure`. Never rejects.
#[derive(Debug, Clone, Copy)]
pub struct SecureCookies(pub bool);

/// The rule: `Secure` when forced, or (auto) when the request came over
/// HTTPS.
pub fn secure(policy: CookieSecure, over_https: bool) -> bool {
    match policy {
        CookieSecure::True => true,
        CookieSecure::False => false,
        CookieSecure::Auto => over_https,
    }
}

/// Whether a request came over HTTPS: its own scheme, or the
/// `X-Forwarded-Proto` of a trusted proxy (from anyone else the header
/// proves nothing).
pub fn over_https(
    scheme_https: bool,
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &[ipnet::IpNet],
) -> bool {
    if scheme_https {
        return true;
    }
    let from_trusted = peer.is_some_and(|peer| trusted.iter().any(|net| net.contains(&peer)));
    from_trusted
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            // Where proxies append, the last value is the one the trusted
            // proxy wrote (earlier ones may come from the client).
            .and_then(|v| v.split(',').next_back())
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// Whether the request of these parts came over HTTPS ([`over_https`]).
pub fn request_over_https(parts: &Parts, app: &App) -> bool {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let https = parts.uri.scheme() == Some(&axum::http::uri::Scheme::HTTPS);
    over_https(https, peer, &parts.headers, &app.config.trusted_proxies)
}

impl SecureCookies {
    /// The rule applied to a request's parts.
    pub fn of(parts: &Parts, app: &App) -> Self {
        Self(secure(
            app.config.cookie_secure,
            request_over_https(parts, app),
        ))
    }
}

impl FromRequestParts<App> for SecureCookies {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        Ok(Self::of(parts, app))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proto(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-proto", value.parse().expect("header"));
        headers
    }

    #[test]
    fn https_is_believed_from_trusted_proxies_only() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        let proxy: IpAddr = "10.0.0.2".parse().expect("ip");
        let stranger: IpAddr = "198.51.100.9".parse().expect("ip");
        assert!(over_https(false, Some(proxy), &proto("https"), &trusted));
        assert!(over_https(
            false,
            Some(proxy),
            &proto("http, HTTPS"),
            &trusted
        ));
        // A value the client put before the proxy's proves nothing.
        assert!(!over_https(
            false,
            Some(proxy),
            &proto("https, http"),
            &trusted
        ));
        assert!(!over_https(false, Some(proxy), &proto("http"), &trusted));
        assert!(!over_https(
            false,
            Some(stranger),
            &proto("https"),
            &trusted
        ));
        assert!(!over_https(false, None, &proto("https"), &trusted));
        assert!(!over_https(false, Some(proxy), &HeaderMap::new(), &trusted));
        assert!(over_https(true, Some(stranger), &HeaderMap::new(), &[]));
    }

    #[test]
    fn auto_follows_the_request_and_the_setting_forces_it() {
        assert!(secure(CookieSecure::Auto, true));
        assert!(!secure(CookieSecure::Auto, false));
        assert!(secure(CookieSecure::True, false));
        assert!(!secure(CookieSecure::False, true));
    }
}
