//! Where profile pictures live: a content-addressed blob store.
//!
//! Keys are `<sha256 hex of the bytes>.<extension>`, so a key names exactly
//! one content, a stored blob never changes (cache it forever), and storing
//! the same picture twice stores it once. Blobs are written before the event
//! that references them is committed, so an acknowledged profile never
//! points at a missing picture; a blob whose command then failed stays
//! unreferenced (harmless; the key is unguessable without the bytes).
//!
//! [`DirBlobs`] (a directory) is the default; an object store (S3 and the
//! like) replaces it by implementing [`BlobStore`].

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use bytes::Bytes;
use sha2::{Digest, Sha256};

/// Stores and serves immutable blobs by key.
#[async_trait::async_trait]
pub trait BlobStore: Send + Sync + fmt::Debug {
    /// Stores `bytes` under `key` durably (a no-op when present: keys name
    /// contents).
    async fn put(&self, key: &BlobKey, bytes: Bytes) -> anyhow::Result<()>;
    /// The blob, or `None`.
    async fn get(&self, key: &BlobKey) -> anyhow::Result<Option<Bytes>>;
    /// Removes the blob (a no-op when absent): its person was erased.
    async fn delete(&self, key: &BlobKey) -> anyhow::Result<()>;
}

/// A validated key: 64 lowercase hex digits, a dot, `png` or `jpg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobKey(String);

impl BlobKey {
    /// The key of `bytes` with extension `ext`.
    pub fn of(bytes: &[u8], ext: &'static str) -> Self {
        Self(format!("{}.{ext}", hex::encode(Sha256::digest(bytes))))
    }

    /// Parses a key from a URL; `None` for anything else.
    pub fn parse(raw: &str) -> Option<Self> {
        let (hash, ext) = raw.split_once('.')?;
        let hex_ok = hash.len() == 64
            && hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        (hex_ok && matches!(ext, "png" | "jpg")).then(|| Self(raw.to_string()))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The content hash (the `ETag`).
    pub fn hash(&self) -> &str {
        self.0.split('.').next().unwrap_or_default()
    }

    /// The media type its extension stands for.
    pub fn content_type(&self) -> &'static str {
        if self.0.ends_with(".png") {
            "image/png"
        } else {
            "image/jpeg"
        }
    }
}

/// Blobs as files under a directory: `<root>/<first two hex>/<key>`.
#[derive(Debug, Clone)]
pub struct DirBlobs {
    root: PathBuf,
}

impl DirBlobs {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path(&self, key: &BlobKey) -> PathBuf {
        self.root.join(&key.as_str()[..2]).join(key.as_str())
    }
}

#[async_trait::async_trait]
impl BlobStore for DirBlobs {
    async fn put(&self, key: &BlobKey, bytes: Bytes) -> anyhow::Result<()> {
        let path = self.path(key);
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || write_durably(&root, &path, &bytes))
            .await
            .context("blob writer panicked")?
    }

    async fn get(&self, key: &BlobKey) -> anyhow::Result<Option<Bytes>> {
        match tokio::fs::read(self.path(key)).await {
            Ok(bytes) => Ok(Some(Bytes::from(bytes))),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error).context("reading a blob"),
        }
    }

    async fn delete(&self, key: &BlobKey) -> anyhow::Result<()> {
        match tokio::fs::remove_file(self.path(key)).await {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                Err(error).context("removing a blob")
            }
            _ => Ok(()),
        }
    }
}

/// Writes to a temporary file, syncs it, renames it into place and syncs
/// the directory: a blob is either whole or absent, also after a crash.
fn write_durably(root: &Path, path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    if path.exists() {
        return Ok(());
    }
    let dir = path.parent().unwrap_or(root);
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating the blob directory {}", dir.display()))?;
    let temp = dir.join(format!(".tmp-{}", uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result.with_context(|| format!("writing the blob {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_content_hashes_with_a_known_extension() {
        let key = BlobKey::of(b"picture", "png");
        assert_eq!(BlobKey::parse(key.as_str()), Some(key.clone()));
        assert_eq!(key.content_type(), "image/png");
        assert_eq!(key.hash().len(), 64);
        for bad in [
            "../../etc/passwd",
            "abc.png",
            &key.as_str().replace(".png", ".svg"),
            &key.as_str().to_uppercase(),
        ] {
            assert_eq!(BlobKey::parse(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn a_stored_blob_comes_back_and_a_missing_one_is_none() {
        let root = std::env::temp_dir().join(format!("blobs-{}", uuid::Uuid::new_v4()));
        let store = DirBlobs::new(&root);
        let key = BlobKey::of(b"picture", "png");
        assert_eq!(store.get(&key).await.expect("get"), None);
        store
            .put(&key, Bytes::from_static(b"picture"))
            .await
            .expect("put");
        store
            .put(&key, Bytes::from_static(b"picture"))
            .await
            .expect("put again");
        assert_eq!(
            store.get(&key).await.expect("get").as_deref(),
            Some(&b"picture"[..])
        );
        let _ = std::fs::remove_dir_all(root);
    }
}
