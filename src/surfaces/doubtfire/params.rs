//! What a Doubtfire request carries: its parameters (query string, and a
//! JSON or form body, merged as Grape merges them) and its credentials
//! (the token and the username, from headers or parameters).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, HeaderMap};
use serde_json::Value;

use super::DfError;
use crate::http::extract::Ctx;
use crate::service::RequestContext;
use crate::{App, Error};

/// A request's parameters and context.
pub struct Params {
    values: HashMap<String, Value>,
    /// The request's headers.
    pub headers: HeaderMap,
    /// The request's context.
    pub ctx: RequestContext,
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Parameters hold passwords and tokens: names only.
        f.debug_struct("Params")
            .field("names", &self.values.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl FromRequest<App> for Params {
    type Rejection = DfError;

    async fn from_request(request: Request, app: &App) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let Ctx(ctx) = Ctx::from_request_parts(&mut parts, app)
            .await
            .unwrap_or_else(|never| match never {});
        let mut values = HashMap::new();
        if let Some(query) = parts.uri.query() {
            for (name, value) in serde_urlencoded::from_str::<Vec<(String, String)>>(query)
                .map_err(|_| Error::invalid("INVALID_QUERY", "The query string is malformed"))?
            {
                values.insert(name, Value::String(value));
            }
        }
        let request = Request::from_parts(parts, body);
        let headers = request.headers().clone();
        let bytes = Bytes::from_request(request, app)
            .await
            .map_err(|_| Error::PayloadTooLarge)?;
        if !bytes.is_empty() {
            let kind = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let essence = kind
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            match essence.as_str() {
                "application/json" => match serde_json::from_slice::<Value>(&bytes) {
                    Ok(Value::Object(object)) => values.extend(object),
                    Ok(_) => {}
                    Err(_) => {
                        return Err(
                            Error::invalid("MALFORMED_JSON", "The body is not valid JSON").into(),
                        )
                    }
                },
                "application/x-www-form-urlencoded" => {
                    let pairs = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
                        .map_err(|_| {
                            Error::invalid("INVALID_BODY", "The form body is malformed")
                        })?;
                    values.extend(pairs.into_iter().map(|(k, v)| (k, Value::String(v))));
                }
                _ => {
                    let message = format!("The provided content-type '{kind}' is not supported.");
                    return Err(Error::Invalid {
                        code: "UNSUPPORTED_CONTENT_TYPE",
                        message,
                        field: None,
                    }
                    .into());
                }
            }
        }
        Ok(Self {
            values,
            headers,
            ctx,
        })
    }
}

impl Params {
    /// A parameter as text (numbers and booleans as written); JSON `null`
    /// counts as absent.
    pub fn text(&self, name: &str) -> Option<String> {
        match self.values.get(name)? {
            Value::String(text) => Some(text.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// Whether the parameter was sent (even empty, even `null`).
    pub fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// A Grape `Boolean` parameter: absent → `false`; `true`/`false`,
    /// `1`/`0` (any case) → itself; anything else → 400 "`name` is invalid".
    pub fn flag(&self, name: &str) -> Result<bool, Error> {
        match self.values.get(name) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(value) => {
                let text = match value {
                    Value::String(s) => s.to_ascii_lowercase(),
                    other => other.to_string(),
                };
                match text.as_str() {
                    "true" | "1" => Ok(true),
                    "false" | "0" | "" => Ok(false),
                    _ => Err(invalid(format!("{name} is invalid"))),
                }
            }
        }
    }

    /// 400 naming every required parameter that is missing, as Grape
    /// does ("username is missing, password is missing").
    pub fn require(&self, names: &[&str]) -> Result<(), Error> {
        let missing: Vec<String> = names
            .iter()
            .filter(|name| !self.has(name))
            .map(|name| format!("{name} is missing"))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(invalid(missing.join(", ")))
        }
    }

    /// The token: an `Auth-Token` header in any case, `_` or `-`, else
    /// the parameters `authToken`, `auth_token`, `Auth_Token`, `Auth-Token`.
    pub fn token(&self) -> Option<String> {
        header_named(&self.headers, "auth-token")
            .or_else(|| {
                ["authToken", "auth_token", "Auth_Token", "Auth-Token"]
                    .iter()
                    .find_map(|name| self.text(name))
            })
            .filter(|token| !token.is_empty())
    }

    /// The username: a `Username` header in any case, else the parameters
    /// `username`, `Username`.
    pub fn username(&self) -> Option<String> {
        header_named(&self.headers, "username")
            .or_else(|| {
                ["username", "Username"]
                    .iter()
                    .find_map(|name| self.text(name))
            })
            .filter(|username| !username.is_empty())
    }
}

/// A 400 with Doubtfire's text.
pub fn invalid(message: impl Into<String>) -> Error {
    Error::Invalid {
        code: "INVALID_PARAMETER",
        message: message.into(),
        field: None,
    }
}

/// A header matched case-insensitively with `_` and `-` alike (proxies
/// and Doubtfire's older client send `Auth_Token`).
pub fn header_named(headers: &HeaderMap, wanted: &str) -> Option<String> {
    headers.iter().find_map(|(name, value)| {
        let same = name.as_str().len() == wanted.len()
            && name
                .as_str()
                .bytes()
                .zip(wanted.bytes())
                .all(|(a, b)| a.to_ascii_lowercase() == b || (a == b'_' && b == b'-'));
        same.then(|| value.to_str().ok().map(str::to_string))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_match_in_any_case_with_underscores_or_dashes() {
        for name in [
            "Auth-Token",
            "auth-token",
            "Auth_Token",
            "auth_token",
            "AUTH-TOKEN",
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).expect("valid name"),
                "t0ken".parse().expect("valid value"),
            );
            assert_eq!(
                header_named(&headers, "auth-token").as_deref(),
                Some("t0ken"),
                "{name}"
            );
        }
        let mut other = HeaderMap::new();
        other.insert("auth-tokens", "x".parse().expect("valid value"));
        assert_eq!(header_named(&other, "auth-token"), None);
    }
}
