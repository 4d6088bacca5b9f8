//! `GET /api/auth/`: Django REST framework's API root of Kolibri's auth
//! router, the viewsets it registers with their absolute URLs.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::Json;
use serde_json::{json, Value};

use crate::App;

/// The viewsets Kolibri 0.19.5's `DefaultRouter` lists at its root.
const LISTED: &[&str] = &["facilityuser", "deletedfacilityuser", "membership", "role"];

/// The scheme and host the client used, as Django builds absolute URLs.
pub struct Origin(String);

impl FromRequestParts<App> for Origin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let scheme = if crate::http::cookies::request_over_https(parts, app) {
            "https"
        } else {
            "http"
        };
        // A host header is echoed only when it looks like one.
        let host = parts
            .headers
            .get(axum::http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .filter(|h| {
                !h.is_empty()
                    && h.len() <= 255
                    && h.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
            })
            .unwrap_or("localhost");
        Ok(Self(format!("{scheme}://{host}")))
    }
}

/// The API root: `{"facilityuser": "http://host/api/auth/facilityuser/", …}`.
#[utoipa::path(get, path = "/api/auth", tag = "kolibri", operation_id = "kolibri_api_root",
    responses((status = 200, description = "The auth router's viewsets and their URLs",
        body = std::collections::BTreeMap<String, String>)))]
pub async fn api_root(State(_app): State<App>, Origin(origin): Origin) -> Json<Value> {
    let mut root = serde_json::Map::new();
    for name in LISTED {
        root.insert(
            name.to_string(),
            json!(format!("{origin}/api/auth/{name}/")),
        );
    }
    Json(Value::Object(root))
}
