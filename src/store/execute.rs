//! Executing commands: load, handle, commit, and on a concurrency conflict
//! reload and retry a bounded number of times.

use std::time::Duration;

use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::EventStoreAggregateContext;
use cqrs_es::{Aggregate, AggregateError};

use super::append::Appended;
use super::{internal, Loaded, Metadata, Store, Stored, Written, SNAPSHOT_EVERY};
use crate::Error;

/// How often a command is retried after a concurrency conflict.
const MAX_ATTEMPTS: usize = 8;

/// What a command wrote.
#[derive(Debug)]
pub struct Committed<A: Aggregate> {
    /// The events, in order (empty when the command changed nothing).
    pub events: Vec<A::Event>,
    /// The stream position of the last event written, if any.
    pub written: Option<Written>,
    /// The aggregate as the command left it (what a reload would give).
    pub state: A,
}

impl Store {
    /// Runs `command` against the current state without writing anything:
    /// the rejection a real run would give, decided before expensive work
    /// (e.g. "this email is taken" before hashing a password).
    pub async fn check<A: Stored + Clone>(
        &self,
        state: &A,
        command: A::Command,
    ) -> Result<Vec<A::Event>, Error> {
        let sink = EventSink::default();
        state.clone().handle(command, &self.services, &sink).await?;
        Ok(sink.collect().await)
    }

    /// Executes a command on an aggregate whose id was generated just now
    /// (UUIDv7), skipping the load of its certainly empty stream. Should the
    /// stream exist after all, the commit conflicts and the retry loads it.
    pub async fn create<A: Stored>(
        &self,
        id: &str,
        command: A::Command,
        metadata: &Metadata,
    ) -> Result<Committed<A>, Error>
    where
        A::Command: Clone,
    {
        let empty = Loaded {
            state: A::default(),
            version: 0,
            snapshot: 0,
        };
        self.metered(id, command, metadata, Some(empty)).await
    }

    /// Executes a command on state the caller has just loaded (and decided
    /// with), saving the load; a conflict means it changed meanwhile, and
    /// the retry loads it afresh.
    pub async fn execute_on<A: Stored>(
        &self,
        id: &str,
        loaded: Loaded<A>,
        command: A::Command,
        metadata: &Metadata,
    ) -> Result<Committed<A>, Error>
    where
        A::Command: Clone,
    {
        self.metered(id, command, metadata, Some(loaded)).await
    }

    /// Executes a command: load, handle, commit; retried on conflicts.
    pub async fn execute<A: Stored>(
        &self,
        id: &str,
        command: A::Command,
        metadata: &Metadata,
    ) -> Result<Committed<A>, Error>
    where
        A::Command: Clone,
    {
        self.metered(id, command, metadata, None).await
    }

    /// Runs a command and counts its outcome.
    async fn metered<A: Stored>(
        &self,
        id: &str,
        command: A::Command,
        metadata: &Metadata,
        first: Option<Loaded<A>>,
    ) -> Result<Committed<A>, Error>
    where
        A::Command: Clone,
    {
        let name = aggregates::CommandName::name(&command);
        let result = self.run(id, command, metadata, first).await;
        crate::observe::command(A::TYPE, name, outcome(&result));
        result
    }

    async fn run<A: Stored>(
        &self,
        id: &str,
        command: A::Command,
        metadata: &Metadata,
        mut first: Option<Loaded<A>>,
    ) -> Result<Committed<A>, Error>
    where
        A::Command: Clone,
    {
        // Commands on one aggregate run one at a time in this instance.
        let _queued = self.cache.lock::<A>(id).lock().await;
        for attempt in 1..=MAX_ATTEMPTS {
            // The first attempt may start from state already in hand (an
            // empty stream, what the caller loaded, or the cache); retries
            // load.
            let (loaded, cached) = match first.take() {
                Some(loaded) => (loaded, false),
                None => match self.cache.get::<A>(id).filter(|_| attempt == 1) {
                    Some(loaded) => (loaded, true),
                    None => (self.load::<A>(id).await?, false),
                },
            };
            let snapshot = loaded.snapshot;
            let mut context = EventStoreAggregateContext {
                aggregate_id: id.to_string(),
                aggregate: loaded.state,
                current_sequence: loaded.version,
                current_snapshot: None,
            };
            let sink = EventSink::default();
            let handled = context
                .aggregate
                .handle(command.clone(), &self.services, &sink)
                .await;
            let events = sink.collect().await;
            if cached && (handled.is_err() || events.is_empty()) {
                // A refusal or "nothing to do" writes nothing, so no
                // conflict would reveal a stale state: decided again on
                // the stream as stored.
                self.cache.forget::<A>(id);
                continue;
            }
            handled?;
            // `handle` applied the events to the state already; the store
            // (events as the source of truth) does not read it.
            let state = std::mem::take(&mut context.aggregate);
            if events.is_empty() {
                self.cache.put(
                    id,
                    Loaded {
                        state: state.clone(),
                        version: loaded.version,
                        snapshot,
                    },
                );
                return Ok(Committed {
                    events,
                    written: None,
                    state,
                });
            }
            let payloads = storable(&events)?;
            let subject = A::data_subject(id, &state);
            let appended = self
                .append::<A>(id, context, &events, metadata, subject.as_deref())
                .await;
            match appended {
                Ok((sequence, cursor)) => {
                    let mut snapshot = snapshot;
                    if sequence.saturating_sub(snapshot) >= SNAPSHOT_EVERY
                        && self
                            .save_snapshot(id, sequence, &state, subject.as_deref())
                            .await
                    {
                        snapshot = sequence;
                    }
                    self.cache.put(
                        id,
                        Loaded {
                            state: state.clone(),
                            version: sequence,
                            snapshot,
                        },
                    );
                    let appended = events
                        .iter()
                        .zip(payloads)
                        .enumerate()
                        .map(|(at, (event, payload))| Appended {
                            sequence: (sequence + 1 + at - events.len()) as i64,
                            event_type: cqrs_es::DomainEvent::event_type(event),
                            payload,
                        })
                        .collect();
                    let written = Written {
                        aggregate_type: A::TYPE,
                        aggregate_id: id.to_string(),
                        sequence,
                        cursor,
                        events: appended,
                    };
                    if let Some(hook) = self.on_commit.get() {
                        hook(&written);
                    }
                    return Ok(Committed {
                        events,
                        written: Some(written),
                        state,
                    });
                }
                Err(AggregateError::AggregateConflict) => {
                    // Another instance wrote first: what is cached is stale.
                    self.cache.forget::<A>(id);
                    tracing::debug!(aggregate = A::TYPE, attempt, "conflict; retrying command");
                    let jitter = rand::random::<u64>() % (4 * attempt as u64 + 1);
                    tokio::time::sleep(Duration::from_millis(2 * attempt as u64 + jitter)).await;
                }
                Err(error) => {
                    // Whether it landed is unknown: load next time.
                    self.cache.forget::<A>(id);
                    return Err(internal(error));
                }
            }
        }
        Err(Error::Conflict)
    }
}

/// Refuses events holding U+0000 as bad input: PostgreSQL's `jsonb`
/// cannot store it, so the append would fail with a 500 (after earlier
/// steps of the request committed); refused on both backends alike. The
/// edge refuses control characters in every text field it knows; this is
/// the backstop for the ones it does not (free-form JSON such as policy
/// conditions).
///
/// The events' JSON text is what it returns (the command's own effects read
/// it).
fn storable<E: serde::Serialize>(events: &[E]) -> Result<Vec<String>, Error> {
    let mut payloads = Vec::with_capacity(events.len());
    for event in events {
        // Serialized text, not a value tree: one allocation per event on
        // the write path. U+0000 can only appear escaped as `\u0000`; an
        // even run of backslashes before it is an escaped backslash.
        let json = serde_json::to_string(event)
            .map_err(|e| Error::Internal(anyhow::anyhow!("event not serializable: {e}")))?;
        let holds_nul = json
            .match_indices("u0000")
            .any(|(at, _)| json[..at].bytes().rev().take_while(|b| *b == b'\\').count() % 2 == 1);
        if holds_nul {
            return Err(Error::invalid(
                "CONTROL_CHARACTER",
                "Text must not contain NUL characters",
            ));
        }
        payloads.push(json);
    }
    Ok(payloads)
}

/// The outcome label of a command, for metrics.
fn outcome<A: Aggregate>(result: &Result<Committed<A>, Error>) -> &'static str {
    match result {
        Ok(committed) if committed.written.is_some() => "ok",
        Ok(_) => "unchanged",
        Err(Error::Conflict) => "conflict",
        Err(Error::Internal(_)) => "error",
        Err(_) => "rejected",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_a_real_nul_is_refused() {
        assert!(super::storable(&["a\u{0}b"]).is_err());
        assert!(super::storable(&["a\\u0000b", "u0000", "plain"]).is_ok());
        assert!(super::storable(&["a\\\u{0}"]).is_err());
    }
}
