//! The master key: it wraps every person's data key, and nothing else.
//!
//! It comes from configuration (`EVENTAUTH_MASTER_KEY`, or a file), or,
//! for a store that holds no data keys yet, is generated into the data
//! directory (the embedded default needs no setting). Earlier keys
//! (`EVENTAUTH_MASTER_KEY_PREVIOUS`) are accepted for unwrapping while a
//! rotation re-wraps the key table. A key is known by its id, a hash of
//! the key itself, stored beside every wrapped data key: a wrong key is
//! recognised before anything is decrypted with it.

use std::io::Write;
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{bail, Context};
use base64::Engine;
use secrecy::ExposeSecret;
use sha2::Digest;
use zeroize::Zeroizing;

use crate::Config;

/// A data key in the clear (wiped when dropped).
pub type DataKey = Zeroizing<[u8; 32]>;

/// One master key.
pub struct MasterKey {
    id: String,
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl MasterKey {
    /// A master key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        let digest = sha2::Sha256::new()
            .chain_update(b"eventauth master key id\0")
            .chain_update(bytes)
            .finalize();
        Self {
            id: hex::encode(&digest[..8]),
            cipher: Aes256Gcm::new(bytes.into()),
        }
    }

    /// A master key from its text (base64, URL-safe base64 or hex).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let key = decode(text)?;
        Ok(Self::from_bytes(&key))
    }

    /// Its id (a hash of the key: safe to store and to log).
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The key in `text`: 32 bytes in hex or in (URL-safe) base64.
fn decode(text: &str) -> anyhow::Result<DataKey> {
    let text = text.trim();
    let bytes = Zeroizing::new(
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text)?
        } else {
            let engines = [
                &base64::engine::general_purpose::STANDARD,
                &base64::engine::general_purpose::STANDARD_NO_PAD,
                &base64::engine::general_purpose::URL_SAFE,
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            ];
            match engines.iter().find_map(|engine| engine.decode(text).ok()) {
                Some(bytes) => bytes,
                None => bail!("a master key is 32 bytes in base64 or hex"),
            }
        },
    );
    let mut key = Zeroizing::new([0u8; 32]);
    if bytes.len() != 32 {
        bail!("a master key is 32 bytes (this one is {})", bytes.len());
    }
    key.copy_from_slice(&bytes);
    Ok(key)
}

/// The master key in use and the ones still accepted.
#[derive(Debug)]
pub struct MasterKeys {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

/// Where the current master key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `EVENTAUTH_MASTER_KEY` or `EVENTAUTH_MASTER_KEY_FILE`.
    Configured,
    /// `<data dir>/master.key`, there before.
    DataDir(PathBuf),
    /// Not configured and not in the data directory: to be generated there
    /// (only on a store without data keys).
    Missing(PathBuf),
}

impl MasterKeys {
    /// The keys configured: the current one (or where it should be) and
    /// the previous ones.
    pub fn configured(
        config: &Config,
    ) -> anyhow::Result<(Option<MasterKey>, Source, Vec<MasterKey>)> {
        let previous = match &config.master_key_previous {
            Some(list) => list
                .expose_secret()
                .split(',')
                .filter(|text| !text.trim().is_empty())
                .map(MasterKey::parse)
                .collect::<anyhow::Result<Vec<_>>>()
                .context("EVENTAUTH_MASTER_KEY_PREVIOUS")?,
            None => Vec::new(),
        };
        if let Some(text) = &config.master_key {
            let key = MasterKey::parse(text.expose_secret()).context("EVENTAUTH_MASTER_KEY")?;
            return Ok((Some(key), Source::Configured, previous));
        }
        if let Some(path) = &config.master_key_file {
            let key = read_file(path)?;
            return Ok((Some(key), Source::Configured, previous));
        }
        let path = config.data_dir.join("master.key");
        if path.exists() {
            let key = read_file(&path)?;
            return Ok((Some(key), Source::DataDir(path), previous));
        }
        Ok((None, Source::Missing(path), previous))
    }

    /// The keys in use.
    pub fn new(current: MasterKey, previous: Vec<MasterKey>) -> Self {
        Self { current, previous }
    }

    /// Generates a key into `path` (readable by this user only).
    pub fn generate(path: &Path) -> anyhow::Result<MasterKey> {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut OsRng, key.as_mut_slice());
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let created = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
        };
        let mut file = match created {
            Ok(file) => file,
            // Another instance on the same data directory was first.
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                std::thread::sleep(std::time::Duration::from_millis(50));
                return read_file(path);
            }
            Err(error) => {
                return Err(error).with_context(|| format!("creating {}", path.display()))
            }
        };
        let text = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(key.as_slice()));
        file.write_all(text.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        Ok(MasterKey::from_bytes(&key))
    }

    /// The id of the key that wraps new data keys.
    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    /// Whether data keys wrapped by the key `id` can be unwrapped.
    pub fn accepts(&self, id: &str) -> bool {
        self.find(id).is_some()
    }

    fn find(&self, id: &str) -> Option<&MasterKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|key| key.id == id)
    }

    /// `key` wrapped by the current master key for `subject` (bound as
    /// associated data: a wrapped key moved to another subject's row does
    /// not unwrap).
    pub fn wrap(&self, subject: &str, key: &[u8; 32]) -> anyhow::Result<Vec<u8>> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self
            .current
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: key,
                    aad: aad(subject).as_bytes(),
                },
            )
            .map_err(|_| anyhow::anyhow!("wrapping a data key failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The data key of `subject`, wrapped by the master key `id`.
    pub fn unwrap(&self, subject: &str, id: &str, wrapped: &[u8]) -> anyhow::Result<DataKey> {
        let Some(master) = self.find(id) else {
            bail!(
                "the data key of {subject} is wrapped by master key {id}, which is not configured"
            );
        };
        if wrapped.len() < 12 {
            bail!("the data key of {subject} is damaged");
        }
        let (nonce, sealed) = wrapped.split_at(12);
        let nonce: [u8; 12] = nonce.try_into()?;
        let clear = Zeroizing::new(
            master
                .cipher
                .decrypt(
                    &Nonce::from(nonce),
                    Payload {
                        msg: sealed,
                        aad: aad(subject).as_bytes(),
                    },
                )
                .map_err(|_| {
                    anyhow::anyhow!(
                        "the data key of {subject} does not unwrap with master key {id}"
                    )
                })?,
        );
        let mut key = Zeroizing::new([0u8; 32]);
        if clear.len() != 32 {
            bail!("the data key of {subject} is damaged");
        }
        key.copy_from_slice(&clear);
        Ok(key)
    }
}

fn aad(subject: &str) -> String {
    format!("eventauth data key\0{subject}")
}

fn read_file(path: &Path) -> anyhow::Result<MasterKey> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("reading the master key {}", path.display()))?,
    );
    MasterKey::parse(&text).with_context(|| format!("the master key in {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_reads_from_hex_and_base64_alike_and_is_known_by_its_id() {
        let bytes = [7u8; 32];
        let hex = hex::encode(bytes);
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let ids: Vec<String> = [hex, b64, url]
            .iter()
            .map(|text| MasterKey::parse(text).expect("parses").id)
            .collect();
        assert!(ids.iter().all(|id| id == &ids[0]));
        assert_ne!(MasterKey::from_bytes(&[8u8; 32]).id, ids[0]);
        assert!(MasterKey::parse("c2hvcnQ=").is_err());
        assert!(MasterKey::parse("not a key at all!").is_err());
    }

    #[test]
    fn a_wrapped_key_unwraps_only_with_its_master_and_its_subject() {
        let old = MasterKey::from_bytes(&[1u8; 32]);
        let old_id = old.id.clone();
        let keys = MasterKeys::new(old, vec![]);
        let wrapped = keys.wrap("user:a", &[9u8; 32]).expect("wraps");
        assert_eq!(
            *keys.unwrap("user:a", &old_id, &wrapped).expect("unwraps"),
            [9u8; 32]
        );
        assert!(keys.unwrap("user:b", &old_id, &wrapped).is_err());
        let rotated = MasterKeys::new(
            MasterKey::from_bytes(&[2u8; 32]),
            vec![MasterKey::from_bytes(&[1u8; 32])],
        );
        assert!(rotated.accepts(&old_id));
        assert_eq!(
            *rotated
                .unwrap("user:a", &old_id, &wrapped)
                .expect("unwraps"),
            [9u8; 32]
        );
        let other = MasterKeys::new(MasterKey::from_bytes(&[3u8; 32]), vec![]);
        assert!(!other.accepts(&old_id));
        assert!(other.unwrap("user:a", &old_id, &wrapped).is_err());
    }
}
