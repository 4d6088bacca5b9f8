//! Store outages at the edge. A request that failed because the database
//! connection was lost or could not be had is answered 503 with
//! `Retry-After` (see [`crate::Error::Unavailable`]); a safe one (GET,
//! HEAD) is first tried once more, since a restarting PostgreSQL kills the
//! pooled connections of requests in flight while the pool, testing each
//! connection before handing it out, gives the retry a fresh one. Unsafe
//! requests are not repeated here: whether their write committed before
//! the connection died is not known at this layer.

use axum::body::Body;
use axum::extract::Request;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

/// Marks a response as "the store was unavailable".
#[derive(Debug, Clone, Copy)]
pub struct StoreUnavailable;

/// Runs a safe request a second time when the first failed on the store.
pub async fn retry_safe_requests(request: Request, next: Next) -> Response {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return next.run(request).await;
    }
    // GET and HEAD bodies carry nothing any handler reads.
    let (parts, _) = request.into_parts();
    let response = next
        .clone()
        .run(Request::from_parts(parts.clone(), Body::empty()))
        .await;
    if response.extensions().get::<StoreUnavailable>().is_none() {
        return response;
    }
    metrics::counter!("eventauth_store_retries_total").increment(1);
    next.run(Request::from_parts(parts, Body::empty())).await
}
