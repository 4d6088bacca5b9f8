//! The statements of the roles administrators defined (Open Archiver's
//! custom roles), by slug, cached: what an actor holding one may do is
//! decided on every request without a query.
//!
//! The book is read from the `policy_roles` read model together with the
//! projector's position before the read; it is trusted only while that
//! position is past every role event the security feed has seen
//! ([`FeedListener::policies_changed_until`]). A change made anywhere thus
//! takes effect here on the first request after the feed and the read
//! model have both passed it — which is what a writer's read-your-writes
//! waits for.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use projections::Cursor;
use serde_json::Value;

use super::policies::{self, Statement};
use crate::consumers::feed::FeedListener;
use crate::{App, Error};

/// Slug → statements.
pub type Book = HashMap<String, Arc<[Statement]>>;

/// This instance's book of defined roles.
#[derive(Debug)]
pub struct DefinedRoles {
    /// The book and the projector's position it was read at.
    kept: Mutex<Option<(Cursor, Arc<Book>)>>,
    /// The end of the last fed batch that held a role event.
    changed: Mutex<Cursor>,
}

impl Default for DefinedRoles {
    fn default() -> Self {
        Self {
            kept: Mutex::new(None),
            changed: Mutex::new(Cursor::START),
        }
    }
}

impl DefinedRoles {
    /// The defined roles' statements by slug.
    pub async fn book(&self, app: &App) -> Result<Arc<Book>, Error> {
        let changed = *self.changed.lock().map_err(poisoned)?;
        if let Some((read_at, book)) = self.kept.lock().map_err(poisoned)?.as_ref() {
            if *read_at >= changed {
                return Ok(book.clone());
            }
        }
        let read_at = *app.projected.borrow();
        let rows = projections::policy_roles::all(app.read_models().await).await?;
        let book: Arc<Book> = Arc::new(
            rows.into_iter()
                .map(|row| {
                    let value = serde_json::from_str(&row.policies).unwrap_or(Value::Null);
                    // Stored statements were checked when written.
                    let statements = policies::parse(&value).unwrap_or_default();
                    (row.slug, statements.into())
                })
                .collect(),
        );
        let mut kept = self.kept.lock().map_err(poisoned)?;
        if kept.as_ref().is_none_or(|(at, _)| *at <= read_at) {
            *kept = Some((read_at, book.clone()));
        }
        Ok(book)
    }
}

fn poisoned<T>(_: std::sync::PoisonError<T>) -> Error {
    Error::Internal(anyhow::anyhow!("defined roles lock poisoned"))
}

impl FeedListener for DefinedRoles {
    fn policies_changed_until(&self, cursor: Cursor) {
        if let Ok(mut changed) = self.changed.lock() {
            if cursor > *changed {
                *changed = cursor;
            }
        }
    }
}
