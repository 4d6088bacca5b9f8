//! A Kolibri client for the tests (a browser with its own cookies and the
//! CSRF header) and a world of two facilities and their people.

use std::sync::Arc;

use aggregates::{OrganizationKind, RoleKind};
use eventauth::service::facility_users::{self, Fields};
use eventauth::service::{collections, facilities, RequestContext};
use reqwest::cookie::{CookieStore, Jar};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::TestApp;

/// A browser: its own cookies, sends the CSRF header when asked.
pub(crate) struct Browser {
    pub(crate) client: reqwest::Client,
    pub(crate) jar: Arc<Jar>,
    pub(crate) base: String,
}

/// One answer: status, body (`null` when empty), the cookies it set.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
    pub(crate) set_cookies: Vec<String>,
}

impl Answer {
    pub(crate) fn cookie(&self, name: &str) -> Option<&String> {
        self.set_cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
    }
    pub(crate) fn error_ids(&self) -> Vec<String> {
        self.body
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| e["id"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Browser {
    pub(crate) fn new(app: &TestApp) -> Self {
        let jar = Arc::new(Jar::default());
        Self {
            client: reqwest::Client::builder()
                .cookie_provider(jar.clone())
                // Pages answer with redirects: the test looks at each.
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            jar,
            base: app.address.clone(),
        }
    }

    /// A browser signed in as `username` (of the default facility).
    pub(crate) async fn signed_in(app: &TestApp, username: &str, password: &str) -> Self {
        let browser = Self::new(app);
        browser.login(username, password, None).await;
        browser
    }

    pub(crate) fn cookie(&self, name: &str) -> Option<String> {
        let url = self.base.parse().expect("url");
        let header = self.jar.cookies(&url)?;
        header
            .to_str()
            .ok()?
            .split("; ")
            .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
            .map(str::to_string)
    }

    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        csrf: bool,
    ) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        if csrf {
            if let Some(token) = self.cookie("kolibri_csrftoken") {
                request = request.header("X-CSRFToken", token);
            }
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let set_cookies = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        let text = response.text().await.expect("body");
        // Kolibri answers some refusals with Django's HTML pages.
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Answer {
            status,
            body,
            set_cookies,
        }
    }

    pub(crate) async fn login(
        &self,
        username: &str,
        password: &str,
        facility: Option<Uuid>,
    ) -> Answer {
        let mut body = json!({ "username": username, "password": password });
        if let Some(facility) = facility {
            body["facility"] = json!(hex(facility));
        }
        self.send(Method::POST, "/api/auth/session/", Some(body), false)
            .await
    }

    /// Who the session says the browser is (`""`: anonymous).
    pub(crate) async fn signed_in_as(&self) -> String {
        let session = self
            .send(Method::PUT, "/api/auth/session/current", None, true)
            .await;
        session.body["username"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub(crate) async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None, false).await
    }

    /// Where a page sends the browser (status and `Location`), and the
    /// cookies it set.
    pub(crate) async fn visit(&self, path: &str) -> (StatusCode, String, Vec<String>) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request");
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let cookies = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        (response.status(), location, cookies)
    }
}

pub(crate) fn hex(id: Uuid) -> String {
    id.simple().to_string()
}

/// Two facilities and their people:
/// - Home (nonformal, the default): superuser `root`, admin `boss`,
///   coach `teach`, learners `ada` (Ada Lovelace), `bob` (in classroom
///   Blue), `carl`; `nopass` without a password.
/// - School (formal: passwordless learners, no sign-up): learner `kid`
///   (no password), coach `mentor` (password), learner `gina`.
pub(crate) struct World {
    pub(crate) home: Uuid,
    pub(crate) school: Uuid,
    pub(crate) blue: Uuid,
    pub(crate) ids: std::collections::HashMap<&'static str, Uuid>,
}

impl World {
    pub(crate) fn id(&self, name: &str) -> Uuid {
        self.ids[name]
    }
}

pub(crate) async fn world(app: &TestApp) -> World {
    let ctx = RequestContext::system();
    let app_state = &app.app;
    let facility = |name: &'static str, preset: &'static str| async move {
        facilities::create(
            app_state,
            OrganizationKind::Facility,
            name,
            None,
            Some(facilities::preset(preset).expect("preset")),
            &RequestContext::system(),
        )
        .await
        .expect("facility")
    };
    let home = facility("Home", "nonformal").await;
    let school = facility("School", "formal").await;
    let blue = facilities::create(
        app_state,
        OrganizationKind::Classroom,
        "Blue",
        Some(home),
        None,
        &ctx,
    )
    .await
    .expect("classroom");
    let people: [(&str, &str, Uuid, &str); 10] = [
        ("root", "Root User", home, "rootpass"),
        ("boss", "Big Boss", home, "bosspass"),
        ("teach", "Tea Cher", home, "teachpass"),
        ("ada", "Ada Lovelace", home, "adapass"),
        ("bob", "Bob Builder", home, "bobpass"),
        ("carl", "Carl Sagan", home, "carlpass"),
        ("nopass", "No Pass", home, facility_users::NOT_SPECIFIED),
        ("kid", "Kid Kiddo", school, facility_users::NOT_SPECIFIED),
        ("mentor", "Men Tor", school, "mentorpass"),
        ("gina", "Gina G", school, "ginapass"),
    ];
    let mut ids = std::collections::HashMap::new();
    for (username, full_name, facility, password) in people {
        let input = Fields {
            username: Some(username.to_string()),
            password: Some(password.to_string()),
            full_name: Some(full_name.to_string()),
            ..Default::default()
        };
        // `nopass` in a facility that requires passwords: registered the
        // way Kolibri gets such users (created while passwordless was on).
        let id = if username == "nopass" {
            facility_users::register(
                app_state,
                facility_users::FacilityRegistration {
                    facility,
                    username: eventauth::input::Username::parse(username, "u").expect("valid"),
                    full_name: full_name.to_string(),
                    password: None,
                    demographics: Default::default(),
                },
                &ctx,
            )
            .await
            .expect("registered")
        } else {
            facility_users::create(app_state, facility, input, &ctx)
                .await
                .expect("created")
        };
        ids.insert(username, id);
    }
    collections::make_superuser(app_state, ids["root"], &ctx)
        .await
        .expect("superuser");
    collections::assign_role(app_state, ids["boss"], home, RoleKind::Admin, &ctx)
        .await
        .expect("admin");
    collections::assign_role(app_state, ids["teach"], home, RoleKind::Coach, &ctx)
        .await
        .expect("coach");
    collections::assign_role(app_state, ids["mentor"], school, RoleKind::Coach, &ctx)
        .await
        .expect("coach");
    collections::enroll(app_state, ids["bob"], blue, &ctx)
        .await
        .expect("member");
    World {
        home,
        school,
        blue,
        ids,
    }
}

pub(crate) const SESSION_KEYS: [&str; 10] = [
    "app_context",
    "can_manage_content",
    "facility_id",
    "full_facility_import",
    "full_name",
    "id",
    "kind",
    "server_time",
    "user_id",
    "username",
];

pub(crate) fn keys(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    keys
}
