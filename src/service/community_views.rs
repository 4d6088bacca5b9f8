//! Communities as profiles show them, from memory: a profile answer names
//! its user's communities by id (from the user's state or memberships) and
//! takes each one's name, description and member count from here; only
//! those not held are read, in one query.
//!
//! Reading them all every time was the dearest statement of a profile
//! update (a member of a hundred communities: a hundred rows of a table
//! whose counters every join rewrites). A view goes when an event changes
//! it — the community's own (renamed, deleted), a join, a member purged —
//! as this instance commits it or its security feed reads it (the
//! effects). A read waits until the read models hold what was invalidated
//! (this instance's commits and the feed's batches that changed
//! communities), and a read that raced an invalidation of a community is
//! not kept for it. Held views are trusted at most [`RECHECK`] anyway.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use projections::Cursor;
use uuid::Uuid;

use super::communities::CommunityView;
use crate::consumers::feed::FeedListener;
use crate::{App, Error};

/// How long a held view is trusted.
pub const RECHECK: Duration = Duration::from_secs(60);

/// Most views held (negative ones included: ids that are no live
/// community).
const CAPACITY: u64 = 100_000;

/// This instance's community views.
#[derive(Debug)]
pub struct CommunityViews {
    /// `None`: no live community has this id (deleted, or another kind).
    views: moka::sync::Cache<Uuid, Held>,
    /// Communities last read live: what a join asks. A join ends the view
    /// of its community (the count moved), not this: only the community's
    /// own events do (renamed, deleted).
    live: moka::sync::Cache<Uuid, ()>,
    /// Ids being read, each with whether it was invalidated meanwhile.
    reading: Mutex<HashMap<Uuid, Reading>>,
    /// The end of the last fed batch that changed a community: reads wait
    /// for the read models to pass it.
    changed_until: Mutex<Cursor>,
}

/// A view as held: `None` when no live community has the id.
type Held = Option<Arc<CommunityView>>;

#[derive(Debug, Default)]
struct Reading {
    reads: usize,
    invalidated: bool,
    /// The community itself changed (renamed, deleted), not only its count.
    community_changed: bool,
}

impl Default for CommunityViews {
    fn default() -> Self {
        Self {
            views: moka::sync::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(RECHECK)
                .build(),
            live: moka::sync::Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(RECHECK)
                .build(),
            reading: Mutex::new(HashMap::new()),
            changed_until: Mutex::new(Cursor::START),
        }
    }
}

impl CommunityViews {
    /// The live communities among `ids`, in their order.
    pub async fn of(&self, app: &App, ids: &[Uuid]) -> Result<Vec<CommunityView>, Error> {
        let mut held = HashMap::with_capacity(ids.len());
        let mut missing = Vec::new();
        for id in ids {
            match self.views.get(id) {
                Some(view) => {
                    held.insert(*id, view);
                }
                None => missing.push(*id),
            }
        }
        if !missing.is_empty() {
            held.extend(self.read(app, &missing).await?);
        }
        Ok(ids
            .iter()
            .filter_map(|id| held.get(id).cloned().flatten())
            .map(|view| view.as_ref().clone())
            .collect())
    }

    /// Whether `id` was a live community when last read and nothing but
    /// joins happened to it since (no read: `false` when not known).
    pub fn holds_live(&self, id: Uuid) -> bool {
        self.live.contains_key(&id)
    }

    /// Reads `ids` from the read models (once they hold every change this
    /// instance has heard of) and keeps what no invalidation raced.
    async fn read(&self, app: &App, ids: &[Uuid]) -> Result<Vec<(Uuid, Held)>, Error> {
        self.begin(ids);
        let read = async {
            let changed = *lock(&self.changed_until);
            let db = app.read_models_past(changed).await;
            projections::organizations::of_kind(db, ids, "community").await
        }
        .await;
        let views = read.map(|rows| {
            let mut found: HashMap<Uuid, Arc<CommunityView>> = rows
                .into_iter()
                .map(|row| (row.organization_id, Arc::new(row.into())))
                .collect();
            ids.iter()
                .map(|id| (*id, found.remove(id)))
                .collect::<Vec<_>>()
        });
        self.finish(ids, views.as_deref().ok());
        Ok(views?)
    }

    fn begin(&self, ids: &[Uuid]) {
        let mut reading = lock(&self.reading);
        for id in ids {
            reading.entry(*id).or_default().reads += 1;
        }
    }

    /// Ends the reads of `ids`, keeping `views` (a successful read's) for
    /// the ids not invalidated while any read of them ran, and the
    /// liveness of those whose community did not change meanwhile (joins
    /// do not make a live community any less live).
    fn finish(&self, ids: &[Uuid], views: Option<&[(Uuid, Held)]>) {
        let mut reading = lock(&self.reading);
        if let Some(views) = views {
            for (id, view) in views {
                let Some(raced) = reading.get(id) else {
                    continue;
                };
                if view.is_some() && !raced.community_changed {
                    self.live.insert(*id, ());
                }
                if !raced.invalidated {
                    self.views.insert(*id, view.clone());
                }
            }
        }
        for id in ids {
            if let Some(entry) = reading.get_mut(id) {
                entry.reads -= 1;
                if entry.reads == 0 {
                    reading.remove(id);
                }
            }
        }
    }

    /// Drops the view of `id` (and, when the community itself changed, its
    /// liveness), under the lock reads finish under: a read in flight is
    /// not kept.
    fn invalidate(&self, id: Uuid, community_changed: bool) {
        let mut reading = lock(&self.reading);
        self.views.invalidate(&id);
        if community_changed {
            self.live.invalidate(&id);
        }
        if let Some(entry) = reading.get_mut(&id) {
            entry.invalidated = true;
            entry.community_changed |= community_changed;
        }
    }
}

impl FeedListener for CommunityViews {
    fn organization_changed(&self, organization: Uuid) {
        self.invalidate(organization, true);
    }

    fn members_changed(&self, organization: Option<Uuid>) {
        match organization {
            Some(id) => self.invalidate(id, false),
            None => {
                let mut reading = lock(&self.reading);
                self.views.invalidate_all();
                for entry in reading.values_mut() {
                    entry.invalidated = true;
                }
            }
        }
    }

    fn organizations_changed_until(&self, cursor: Cursor) {
        let mut until = lock(&self.changed_until);
        if cursor > *until {
            *until = cursor;
        }
    }
}

/// A lock whose holder cannot leave its data half-changed (plain inserts
/// and counters): a panic elsewhere does not poison it for good.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
