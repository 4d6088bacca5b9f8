//! The API surfaces: each one folder that owns everything of its wire —
//! routes, wire types, error shape, 404/405 and panic answers, request
//! hooks (trailing slashes), cookies and CSRF, its caches — and translates
//! it to the shared use cases ([`crate::service`]) and back.
//!
//! A surface registers itself by implementing [`Surface`] and taking one
//! line in [`all`]. Nothing outside this folder names a surface; the core
//! (use cases, sessions, access, store, log consumers, `aggregates`,
//! `projections`) never imports one (`tests/layering.rs` fails if it does).
//!
//! Adding a surface:
//! 1. a folder `src/surfaces/<name>/` with a `mod.rs` implementing
//!    [`Surface`] and an [`ErrorShape`](crate::http::ErrorShape) for its
//!    errors;
//! 2. its line in [`all`];
//! 3. its permission rules, if new, in [`crate::access::rules`] (with
//!    their rows in the table test), never in a handler;
//! 4. tests in `tests/api/<name>*.rs`, run on both backends.

pub mod backstack;
pub mod doc;
pub mod doubtfire;
pub mod ild;
pub mod kolibri;
pub mod openarchiver;
pub mod v1_login;

use std::sync::Arc;

use axum::extract::Request;
use axum::response::Response;
use futures::future::BoxFuture;
use utoipa_axum::router::OpenApiRouter;

use crate::consumers::feed::FeedListener;
use crate::{App, Config};

/// One API surface, as the shared router sees it.
pub trait Surface: Send + Sync + std::fmt::Debug {
    /// Its name (recorded on the sessions it starts).
    fn name(&self) -> &'static str;

    /// Its OpenAPI tag: (name, description).
    fn tag(&self) -> (&'static str, &'static str);

    /// Whether `path` is this surface's: its 404s and 405s then come out in
    /// this surface's shape.
    fn owns(&self, path: &str) -> bool;

    /// Its routes, documented.
    fn routes(&self, app: &App) -> OpenApiRouter<App>;

    /// Rewrites a request of this surface before routing (trailing
    /// slashes, say).
    fn rewrite(&self, _request: &mut Request) {}

    /// The answer to a path of this surface that nothing serves.
    fn not_found(&self) -> Response;

    /// The answer to a method a path of this surface does not serve.
    fn method_not_allowed<'a>(
        &'a self,
        app: &'a App,
        request: &'a axum::http::request::Parts,
    ) -> BoxFuture<'a, Response>;

    /// The answer after a handler panicked (the native surface's shape is
    /// used, since a panic has no path at hand).
    fn panicked(&self) -> Response;

    /// Request headers of this surface that carry credentials (lower
    /// case): never logged, allowed cross-origin.
    fn credential_headers(&self) -> &'static [&'static str] {
        &[]
    }

    /// Path prefixes whose rest is a secret (a mailed token): masked in
    /// logs.
    fn secret_paths(&self) -> &'static [&'static str] {
        &[]
    }

    /// The caches of this surface the security feed must keep fresh.
    fn listeners(&self) -> Vec<Arc<dyn FeedListener>> {
        Vec::new()
    }

    /// For code that knows the surface's type (benchmarks tuning a cache).
    fn as_any(&self) -> &dyn std::any::Any;
}

/// Every surface served. The first is the native one: its shape answers
/// paths no surface owns. Adding a surface is one line here.
pub fn all(config: &Config) -> Vec<Arc<dyn Surface>> {
    vec![
        Arc::new(ild::IldSurface),
        // Before Kolibri, which owns the rest of `/api/auth`.
        Arc::new(doubtfire::DoubtfireSurface),
        Arc::new(kolibri::KolibriSurface::new(config)),
        // Before Open Archiver, which owns the rest of `/v1`.
        Arc::new(v1_login::V1LoginSurface),
        Arc::new(backstack::BackstackSurface),
        Arc::new(openarchiver::OpenArchiverSurface),
    ]
}
