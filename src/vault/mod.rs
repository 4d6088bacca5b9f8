//! The vault: personal data in the log, encrypted with keys of the people
//! it belongs to, and erased by destroying those keys (crypto-shredding).
//!
//! It is the one codec at the store boundary. On the way in (the store's
//! append, its snapshots) every personal value (`{"plain": …}`, see
//! `aggregates::Personal`) is sealed with AES-256-GCM under its subject's
//! data key, the event's place and the field bound as associated data:
//! `{"enc": "<subject>|<field>|<nonce and ciphertext>"}`. On the way out (the
//! store's loads, the global reader through [`projections::Codec`]) it is
//! opened again, or becomes `{"erased": true}` when the key was destroyed.
//! Aggregates and projections see clear values and know nothing of keys.
//!
//! Subjects: `user:<id>` (a person's account data, their sessions, the IPs
//! of requests they made) and `identifier:<claim id>` (what is recorded
//! about an identifier before or without an account: failed logins). Data
//! keys are random, stored wrapped by the master key ([`master`]) in
//! `data_keys` ([`keys`]), unwrapped keys cached (bounded, and dropped when
//! the feed sees a subject erased). One value's sealing and opening is in
//! [`seal`]; finding personal values in JSON in [`tagged`].

mod keys;
pub mod master;
mod seal;
pub mod tagged;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use aes_gcm::aead::{KeyInit, OsRng};
use aes_gcm::Aes256Gcm;
use projections::{Db, Parts, RecordedEvent};
use serde_json::value::RawValue;
use serde_json::Value;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::Config;
use master::{MasterKeys, Source};
use seal::{open_in_text, open_one, seal_one, subjects_in, Sealed};

/// The subject of a user's personal data.
pub fn user(id: Uuid) -> String {
    user_subject_of(&id.to_string())
}

/// The subject of a user's personal data, from the id as stored.
pub fn user_subject_of(id: &str) -> String {
    format!("user:{id}")
}

/// The subject of what is recorded about an identifier (its claim id).
pub fn identifier(claim_id: &str) -> String {
    format!("identifier:{claim_id}")
}

/// A subject's data key as this instance holds it.
#[derive(Clone)]
enum Key {
    Live(Arc<Aes256Gcm>),
    Erased,
}

/// Unwrapped keys kept in memory (a few hundred bytes each).
const CACHED_KEYS: u64 = 20_000;
/// How long an unwrapped key stays cached: the bound on how long another
/// instance may still use a key destroyed elsewhere, for subjects the feed
/// does not name (a user's own key is dropped as soon as the feed sees
/// `UserErased`).
const CACHE_TTL: Duration = Duration::from_secs(300);

/// The codec of one store.
pub struct Vault {
    db: Db,
    masters: MasterKeys,
    cache: moka::sync::Cache<String, Key>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("master", &self.masters.current_id())
            .finish_non_exhaustive()
    }
}

/// Why sealing or opening failed.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The key table could not be read or written.
    #[error("data keys: {0}")]
    Store(#[from] sqlx::Error),
    /// A value or key did not decrypt: damaged, or not ours.
    #[error("{0}")]
    Crypto(String),
}

impl From<VaultError> for sqlx::Error {
    fn from(error: VaultError) -> Self {
        match error {
            VaultError::Store(error) => error,
            crypto => sqlx::Error::Decode(Box::new(crypto)),
        }
    }
}

impl From<VaultError> for crate::Error {
    fn from(error: VaultError) -> Self {
        match error {
            VaultError::Store(error) => error.into(),
            crypto => crate::Error::Internal(anyhow::Error::new(crypto)),
        }
    }
}

impl Vault {
    /// The vault of `db` with the configured master key, checked against
    /// the store: a key that did not wrap the store's data keys, or none
    /// where the store has them, stops start-up (never a silent fallback
    /// to storing personal data in the clear).
    pub async fn open(db: &Db, config: &Config) -> anyhow::Result<Arc<Self>> {
        let (current, source, previous) = MasterKeys::configured(config)?;
        let registered = keys::has_master(db).await?;
        let current = match (current, &source) {
            (Some(key), _) => key,
            (None, Source::Missing(path)) if !registered => {
                let key = MasterKeys::generate(path)?;
                tracing::warn!(
                    path = %path.display(),
                    master_key = key.id(),
                    "GENERATED A NEW MASTER KEY into the data directory. Every person's data \
                     in the log is encrypted under it: back this file up and keep it apart \
                     from database backups; without it that data is unreadable. Instances \
                     sharing a database must share it (EVENTAUTH_MASTER_KEY or \
                     EVENTAUTH_MASTER_KEY_FILE)."
                );
                key
            }
            (None, _) => anyhow::bail!(
                "no master key: set EVENTAUTH_MASTER_KEY or EVENTAUTH_MASTER_KEY_FILE \
                 (this store's data keys are wrapped by one, and {} is missing)",
                config.data_dir.join("master.key").display()
            ),
        };
        let masters = MasterKeys::new(current, previous);
        let store_master = keys::store_master(db, masters.current_id()).await?;
        if !masters.accepts(&store_master) {
            anyhow::bail!(
                "wrong master key: this store's data keys are wrapped by master key {store_master}, \
                 and the configured key is {} (set EVENTAUTH_MASTER_KEY to the store's key, or \
                 name it in EVENTAUTH_MASTER_KEY_PREVIOUS during a rotation)",
                masters.current_id()
            );
        }
        for id in keys::masters_in_use(db).await? {
            if !masters.accepts(&id) {
                anyhow::bail!(
                    "wrong master key: some data keys are wrapped by master key {id}, which \
                     is not configured (EVENTAUTH_MASTER_KEY, EVENTAUTH_MASTER_KEY_PREVIOUS)"
                );
            }
        }
        if store_master != masters.current_id() {
            tracing::warn!(
                store = %store_master,
                current = masters.current_id(),
                "the master key is being rotated: run `eventauth rotate-master-key` to re-wrap \
                 every data key with the new one"
            );
        }
        Ok(Arc::new(Self {
            db: db.clone(),
            masters,
            cache: moka::sync::Cache::builder()
                .max_capacity(CACHED_KEYS)
                .time_to_live(CACHE_TTL)
                .build(),
        }))
    }

    /// Seals every personal value in `value` (an event's payload or a
    /// snapshot of a stream that holds personal data) under `subject`'s
    /// key; `aad` names where it is stored.
    pub async fn seal(
        &self,
        subject: &str,
        aad: &str,
        value: &mut Value,
    ) -> Result<(), VaultError> {
        if !holds(value, "plain") {
            return Ok(());
        }
        let key = self.key_for_sealing(subject).await?;
        tagged::each(value, &mut |path, tagged| {
            *tagged = seal_one(&key, subject, aad, path, tagged)?;
            Ok(())
        })
    }

    /// Seals the personal entries of a metadata map (`keys`, each a
    /// serialized tagged value) under `subject`'s key; without a subject
    /// they are dropped (nobody's key could erase them).
    pub async fn seal_metadata(
        &self,
        subject: Option<&str>,
        aad: &str,
        personal: &[&str],
        map: &mut HashMap<String, String>,
    ) -> Result<(), VaultError> {
        let Some(subject) = subject else {
            map.retain(|name, _| !personal.contains(&name.as_str()));
            return Ok(());
        };
        if !personal.iter().any(|name| map.contains_key(*name)) {
            return Ok(());
        }
        let key = self.key_for_sealing(subject).await?;
        for name in personal {
            let Some(text) = map.get_mut(*name) else {
                continue;
            };
            let Ok(value) = serde_json::from_str::<Value>(text) else {
                continue;
            };
            let sealed = seal_one(&key, subject, aad, &format!("#{name}"), &value)?;
            *text = sealed.to_string();
        }
        Ok(())
    }

    /// Opens every sealed value in `value`, stored at `aad`.
    pub async fn open_value(&self, aad: &str, value: &mut Value) -> Result<(), VaultError> {
        let mut subjects = HashSet::new();
        let _ = tagged::each::<()>(value, &mut |_, tagged| {
            if let Some(sealed) = tagged::sealed(tagged).and_then(Sealed::parse) {
                subjects.insert(sealed.subject.to_string());
            }
            Ok(())
        });
        if subjects.is_empty() {
            return Ok(());
        }
        let keys = self.keys_for_opening(subjects, Remember::Yes).await?;
        tagged::each(value, &mut |_, tagged| open_one(&keys, aad, tagged))
    }

    /// Opens a stored JSON text (a payload or snapshot as loaded) into
    /// text again; `None` when it holds nothing sealed.
    pub async fn open_text(&self, aad: &str, text: &str) -> Result<Option<String>, VaultError> {
        let mut subjects = HashSet::new();
        subjects_in(text, &mut subjects)?;
        if subjects.is_empty() {
            return Ok(None);
        }
        let keys = self.keys_for_opening(subjects, Remember::Yes).await?;
        open_in_text(&keys, aad, text)
    }

    /// Destroys the keys of `subjects`: every value sealed under them reads
    /// as erased from now on, on every instance once its cache lets go.
    pub async fn erase(&self, subjects: &[String]) -> Result<(), VaultError> {
        keys::erase(&self.db, subjects).await?;
        for subject in subjects {
            self.cache.insert(subject.clone(), Key::Erased);
        }
        Ok(())
    }

    /// The id of the master key new data keys are wrapped with.
    pub fn master_key_id(&self) -> &str {
        self.masters.current_id()
    }

    /// Drops a subject's key from this instance's cache (another instance
    /// erased it).
    pub fn forget(&self, subject: &str) {
        self.cache.invalidate(subject);
    }

    /// Re-wraps every data key with the current master key, then makes it
    /// the store's; returns how many were re-wrapped. Safe while instances
    /// serve (each row is swapped whole; instances accept both keys).
    pub async fn rotate(&self) -> anyhow::Result<u64> {
        let current = self.masters.current_id().to_string();
        let mut done = 0;
        loop {
            let rows = keys::wrapped_by_others(&self.db, &current, 500).await?;
            if rows.is_empty() {
                break;
            }
            let mut batch = Vec::with_capacity(rows.len());
            for (subject, wrapped, master) in rows {
                let (Some(wrapped), Some(master)) = (wrapped, master) else {
                    continue;
                };
                let key = self.masters.unwrap(&subject, &master, &wrapped)?;
                let rewrapped = self.masters.wrap(&subject, &key)?;
                batch.push((subject, master, rewrapped));
            }
            keys::rewrap(&self.db, &batch, &current).await?;
            done += batch.len() as u64;
        }
        keys::set_store_master(&self.db, &current).await?;
        Ok(done)
    }

    /// Makes sure the keys of `subjects` exist and are cached, in a few
    /// statements however many (a bulk import seals thousands of new
    /// people's values at once).
    pub async fn prepare(&self, subjects: &[String]) -> Result<(), VaultError> {
        let unknown: Vec<String> = subjects
            .iter()
            .filter(|subject| !self.cache.contains_key(subject.as_str()))
            .cloned()
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let found = self.fetch(unknown.clone()).await?;
        let mut fresh = Vec::new();
        for subject in unknown.into_iter().filter(|s| !found.contains_key(s)) {
            let mut key = Zeroizing::new([0u8; 32]);
            rand::RngCore::fill_bytes(&mut OsRng, key.as_mut_slice());
            let wrapped = self
                .masters
                .wrap(&subject, &key)
                .map_err(|e| VaultError::Crypto(e.to_string()))?;
            fresh.push((subject, wrapped));
        }
        if fresh.is_empty() {
            return Ok(());
        }
        keys::insert_many(&self.db, &fresh, self.masters.current_id()).await?;
        // Read back: another instance may have made some first.
        self.fetch(fresh.into_iter().map(|(subject, _)| subject).collect())
            .await?;
        Ok(())
    }

    /// The key to seal `subject`'s values with, made when it has none: a
    /// cache miss costs one round trip, whether the key exists or not (a
    /// fresh key is wrapped for the attempt and dropped if one exists).
    async fn key_for_sealing(&self, subject: &str) -> Result<Key, VaultError> {
        if let Some(key) = self.cache.get(subject) {
            return Ok(key);
        }
        let mut fresh = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut OsRng, fresh.as_mut_slice());
        let wrapped = self
            .masters
            .wrap(subject, &fresh)
            .map_err(|e| VaultError::Crypto(e.to_string()))?;
        let row = keys::insert(&self.db, subject, &wrapped, self.masters.current_id()).await?;
        let key = self.unwrap_row(row)?;
        self.cache.insert(subject.to_string(), key.clone());
        Ok(key)
    }

    /// The keys of `subjects` (cached, else read in one query). A subject
    /// without a row is an error: its values were sealed under a key that
    /// this store does not hold.
    async fn keys_for_opening(
        &self,
        subjects: HashSet<String>,
        remember: Remember,
    ) -> Result<HashMap<String, Key>, VaultError> {
        let mut keys = HashMap::with_capacity(subjects.len());
        let mut missing = Vec::new();
        for subject in subjects {
            match self.cache.get(&subject) {
                Some(key) => {
                    keys.insert(subject, key);
                }
                None => missing.push(subject),
            }
        }
        if !missing.is_empty() {
            let found = self.fetch_as(missing.clone(), remember).await?;
            for subject in missing {
                match found.get(&subject) {
                    Some(key) => {
                        keys.insert(subject, key.clone());
                    }
                    None => {
                        return Err(VaultError::Crypto(format!(
                            "no data key for {subject}: the key table does not belong to this log"
                        )))
                    }
                }
            }
        }
        Ok(keys)
    }

    /// Reads, unwraps and caches the keys of `subjects` that have a row.
    async fn fetch(&self, subjects: Vec<String>) -> Result<HashMap<String, Key>, VaultError> {
        self.fetch_as(subjects, Remember::Yes).await
    }

    /// Reads and unwraps the keys of `subjects` that have a row, caching
    /// them when asked.
    async fn fetch_as(
        &self,
        subjects: Vec<String>,
        remember: Remember,
    ) -> Result<HashMap<String, Key>, VaultError> {
        let mut keys = HashMap::new();
        for row in keys::fetch(&self.db, &subjects).await? {
            let subject = row.0.clone();
            let key = self.unwrap_row(row)?;
            if remember == Remember::Yes {
                self.cache.insert(subject.clone(), key.clone());
            }
            keys.insert(subject, key);
        }
        Ok(keys)
    }

    fn unwrap_row(&self, (subject, wrapped, master): keys::Row) -> Result<Key, VaultError> {
        match (wrapped, master) {
            (Some(wrapped), Some(master)) => {
                let key = self
                    .masters
                    .unwrap(&subject, &master, &wrapped)
                    .map_err(|e| VaultError::Crypto(e.to_string()))?;
                Ok(Key::Live(Arc::new(Aes256Gcm::new(key.as_slice().into()))))
            }
            _ => Ok(Key::Erased),
        }
    }
}

/// Whether keys read for opening are kept in the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Remember {
    Yes,
    /// A rebuild: each key serves one stretch of the log once; caching it
    /// would cost time and push out the keys live requests use.
    No,
}

#[async_trait::async_trait]
impl projections::Codec for Vault {
    async fn open(&self, events: &mut [RecordedEvent], parts: Parts) -> Result<(), sqlx::Error> {
        self.open_events(events, parts, Remember::Yes).await
    }
}

/// The vault as a rebuild (replay, verify, a version change) reads the
/// log: keys read are not cached.
#[derive(Debug)]
pub struct ForRebuild(Arc<Vault>);

#[async_trait::async_trait]
impl projections::Codec for ForRebuild {
    async fn open(&self, events: &mut [RecordedEvent], parts: Parts) -> Result<(), sqlx::Error> {
        self.0.open_events(events, parts, Remember::No).await
    }
}

impl Vault {
    /// This vault as a rebuild's codec.
    pub fn for_rebuild(self: &Arc<Self>) -> Arc<dyn projections::Codec> {
        Arc::new(ForRebuild(self.clone()))
    }

    async fn open_events(
        &self,
        events: &mut [RecordedEvent],
        parts: Parts,
        remember: Remember,
    ) -> Result<(), sqlx::Error> {
        // Payloads are opened as text (no JSON tree: the projector parses
        // each payload once, as it would a clear one); metadata, read by
        // exports and audits only, entry by entry.
        let mut subjects = HashSet::new();
        let personal = |event: &RecordedEvent| {
            crate::store::PERSONAL_STREAMS.contains(&event.aggregate_type.as_str())
        };
        for event in events.iter() {
            if personal(event) {
                subjects_in(event.payload.get(), &mut subjects)?;
            }
            if parts == Parts::All {
                for text in personal_metadata(event)?.values() {
                    subjects_in(text, &mut subjects)?;
                }
            }
        }
        if subjects.is_empty() {
            return Ok(());
        }
        let keys = self.keys_for_opening(subjects, remember).await?;
        for event in events.iter_mut() {
            let at = position(&event.aggregate_type, &event.aggregate_id, event.sequence);
            if personal(event) {
                if let Some(opened) = open_in_text(&keys, &at, event.payload.get())? {
                    event.payload = RawValue::from_string(opened).map_err(decode)?;
                }
            }
            if parts == Parts::All {
                let personal = personal_metadata(event)?;
                if personal.is_empty() {
                    continue;
                }
                let mut map: serde_json::Map<String, Value> =
                    serde_json::from_str(event.metadata.get()).map_err(decode)?;
                for (name, text) in personal {
                    if let Some(opened) = open_in_text(&keys, &at, &text)? {
                        map.insert(name, Value::String(opened));
                    }
                }
                event.metadata = serde_json::value::to_raw_value(&map).map_err(decode)?;
            }
        }
        Ok(())
    }
}

fn decode(error: serde_json::Error) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(error))
}

/// The personal entries of an event's metadata that hold sealed values.
fn personal_metadata(event: &RecordedEvent) -> Result<HashMap<String, String>, sqlx::Error> {
    if !event.metadata.get().contains("enc") {
        return Ok(HashMap::new());
    }
    let map: HashMap<String, Value> = serde_json::from_str(event.metadata.get()).map_err(decode)?;
    Ok(crate::store::PERSONAL_METADATA
        .iter()
        .filter_map(|name| match map.get(*name) {
            Some(Value::String(text)) if text.contains("\"enc\"") => {
                Some((name.to_string(), text.clone()))
            }
            _ => None,
        })
        .collect())
}

/// Where an event is stored, as bound into its values: `type/id/sequence`.
pub fn position(aggregate_type: &str, aggregate_id: &str, sequence: i64) -> String {
    format!("{aggregate_type}/{aggregate_id}/{sequence}")
}

/// Where a snapshot is stored, as bound into its values.
pub fn snapshot_position(aggregate_type: &str, aggregate_id: &str, sequence: i64) -> String {
    format!("{aggregate_type}/{aggregate_id}/snapshot/{sequence}")
}

/// Whether `value` holds a key `tag` anywhere (a false positive only
/// costs the walk).
fn holds(value: &Value, tag: &str) -> bool {
    match value {
        Value::Object(map) => map
            .iter()
            .any(|(key, child)| key == tag || holds(child, tag)),
        Value::Array(items) => items.iter().any(|child| holds(child, tag)),
        _ => false,
    }
}
