//! Logging: JSON lines (or pretty for humans: the default on a terminal),
//! filtered by `RUST_LOG`.
//!
//! Nothing secret is ever logged: request logs carry method, path, status
//! and request id only (no query strings, no headers, no bodies).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Safe to call more than once (tests).
pub fn init(format: &str, to_stderr: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(move || -> Box<dyn std::io::Write> {
            if to_stderr {
                Box::new(std::io::stderr())
            } else {
                Box::new(std::io::stdout())
            }
        });
    let pretty = match format {
        "pretty" => true,
        "json" => false,
        _ if to_stderr => std::io::IsTerminal::is_terminal(&std::io::stderr()),
        _ => std::io::IsTerminal::is_terminal(&std::io::stdout()),
    };
    let result = if pretty {
        builder.try_init()
    } else {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    };
    // Already installed (a second app in the same test process): keep it.
    drop(result);
}
