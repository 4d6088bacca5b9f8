//! Prometheus metrics: the recorder, the HTTP middleware that counts
//! requests by route, and the gauges computed when `/metrics` is scraped
//! (hash-pool places, projector and relay lag).
//!
//! Metric names:
//! - `eventauth_http_requests_total{method,route,status}`,
//!   `eventauth_http_request_duration_seconds{method,route}` (histogram)
//! - `eventauth_commands_total{aggregate,command,outcome}` (outcome: `ok`,
//!   `unchanged`, `rejected`, `conflict`, `error`)
//! - `eventauth_password_hash_free_places`, `eventauth_password_hash_jobs`
//!   (jobs run since start)
//! - `eventauth_projector_lag_events`, `eventauth_projector_lag_seconds`,
//!   `eventauth_relay_lag_events`, `eventauth_relay_lag_seconds`

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::App;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process-wide recorder (installed on first use).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new().set_buckets(&[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]);
            match builder.and_then(|b| b.install_recorder()) {
                Ok(handle) => Some(handle),
                Err(error) => {
                    tracing::warn!(%error, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// Counts and times every request by its route template (never the raw
/// path: ids would make the label set unbounded).
pub async fn track(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |path| path.as_str().to_string());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("eventauth_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("eventauth_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Records a command's outcome.
pub fn command(aggregate: &'static str, command: &str, outcome: &'static str) {
    metrics::counter!(
        "eventauth_commands_total",
        "aggregate" => aggregate,
        "command" => command.to_string(),
        "outcome" => outcome
    )
    .increment(1);
}

/// Renders the metrics, refreshing the gauges first.
pub async fn render(app: &App) -> String {
    metrics::gauge!("eventauth_password_hash_free_places").set(app.passwords.free_places() as f64);
    metrics::gauge!("eventauth_password_hash_jobs").set(app.passwords.jobs_run() as f64);
    let projected = *app.projected.borrow();
    if let Ok((events, seconds)) = app.reader.lag(projected).await {
        metrics::gauge!("eventauth_projector_lag_events").set(events as f64);
        metrics::gauge!("eventauth_projector_lag_seconds").set(seconds);
    }
    if let Some(relayed) = &app.relayed {
        let relayed = *relayed.borrow();
        if let Ok((events, seconds)) = app.reader.lag(relayed).await {
            metrics::gauge!("eventauth_relay_lag_events").set(events as f64);
            metrics::gauge!("eventauth_relay_lag_seconds").set(seconds);
        }
    }
    handle().map(PrometheusHandle::render).unwrap_or_default()
}

/// A log line at most once per interval, for events that come in floods
/// (shed load, refused connections): the first one is logged, the rest of
/// the interval only counted, and the next line says how many it stood for.
#[derive(Debug)]
pub struct Throttled {
    every: std::time::Duration,
    state: std::sync::Mutex<(Option<Instant>, u64)>,
}

impl Throttled {
    /// At most one line per `every`.
    pub fn new(every: std::time::Duration) -> Self {
        Self {
            every,
            state: std::sync::Mutex::new((None, 0)),
        }
    }

    /// `Some(suppressed)` when a line may be written now (with how many
    /// were held back since the last), `None` when this one is only
    /// counted.
    pub fn ready(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (last, suppressed) = &mut *state;
        match last {
            Some(at) if at.elapsed() < self.every => {
                *suppressed += 1;
                None
            }
            _ => {
                *last = Some(Instant::now());
                Some(std::mem::take(suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_gives_one_line_per_interval_counting_the_rest() {
        let throttled = Throttled::new(std::time::Duration::from_millis(50));
        assert_eq!(throttled.ready(), Some(0));
        assert_eq!(throttled.ready(), None);
        assert_eq!(throttled.ready(), None);
        std::thread::sleep(std::time::Duration::from_millis(60));
        assert_eq!(throttled.ready(), Some(2));
    }
}
