//! A downstream subscriber of eventauth's events, to copy and adapt.
//!
//! It creates (or reuses) a durable JetStream pull consumer on the eventauth
//! stream, processes each CloudEvent, and acknowledges it only after
//! processing: after a crash it resumes where it stopped, and JetStream
//! redelivers what was not acknowledged (so processing must be idempotent:
//! key your side effects by the event's `id`).
//!
//! ```sh
//! NATS_URL=nats://127.0.0.1:4222 cargo run --example consumer
//! # options (env): EVENTAUTH_NATS_STREAM (EVENTAUTH), CONSUMER_NAME (example-consumer),
//! #                FILTER (eventauth.>, e.g. eventauth.session.* for sessions only)
//! ```
//!
//! The message format is documented in docs/nats.md.

use async_nats::jetstream::{self, consumer::pull};
use futures::StreamExt;
use serde::Deserialize;

/// The CloudEvents envelope, as far as this consumer needs it.
#[derive(Debug, Deserialize)]
struct CloudEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    subject: String,
    time: String,
    data: serde_json::Value,
    /// Where to resume from, should you keep your own position.
    eventauthcursor: String,
}

#[tokio::main]
async fn main() -> Result<(), async_nats::Error> {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let stream = std::env::var("EVENTAUTH_NATS_STREAM").unwrap_or_else(|_| "EVENTAUTH".into());
    let name = std::env::var("CONSUMER_NAME").unwrap_or_else(|_| "example-consumer".into());
    let filter = std::env::var("FILTER").unwrap_or_else(|_| "eventauth.>".into());

    let js = jetstream::new(async_nats::connect(url).await?);
    let consumer = js
        .get_stream(&stream)
        .await?
        .get_or_create_consumer(
            &name,
            pull::Config {
                durable_name: Some(name.clone()),
                filter_subject: filter,
                ..Default::default()
            },
        )
        .await?;
    let mut messages = consumer.messages().await?;
    while let Some(message) = messages.next().await {
        let message = message?;
        match serde_json::from_slice::<CloudEvent>(&message.payload) {
            Ok(event) => handle(&event),
            // A message we cannot read: log it and move on rather than
            // block the stream behind it.
            Err(error) => eprintln!("skipping an unreadable message: {error}"),
        }
        message.ack().await?;
    }
    Ok(())
}

/// Your logic goes here. This one prints a line per event.
fn handle(event: &CloudEvent) {
    #[allow(clippy::print_stdout)]
    {
        println!(
            "{} {} {} {} (cursor {}) {}",
            event.time, event.kind, event.subject, event.id, event.eventauthcursor, event.data
        );
    }
}
