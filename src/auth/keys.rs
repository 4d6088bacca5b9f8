//! Key material shared by every instance: the JWT signing key and the
//! server secret. Generated into the store on first start unless
//! configured; concurrent first starts agree on one (insert-if-absent, then
//! read back the winner).

use anyhow::Context;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::SigningKey;
use hmac::{Hmac, Mac};
use projections::db::sqlite_sql;
use projections::Db;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// One Ed25519 key.
#[derive(Clone)]
pub struct Ed25519Key {
    /// Key id (`kid`): a digest of the public key.
    pub kid: String,
    /// PKCS#8 DER of the private key (what `jsonwebtoken` signs with).
    pub private_der: Vec<u8>,
    /// The raw 32-byte public key (what `jsonwebtoken` verifies with).
    pub public_raw: [u8; 32],
}

impl std::fmt::Debug for Ed25519Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ed25519Key")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Ed25519Key {
    fn from_signing_key(key: &SigningKey) -> anyhow::Result<Self> {
        let public_raw = key.verifying_key().to_bytes();
        Ok(Self {
            kid: hex::encode(&Sha256::digest(public_raw)[..8]),
            private_der: key
                .to_pkcs8_der()
                .context("encoding the key")?
                .as_bytes()
                .to_vec(),
            public_raw,
        })
    }
}

/// The keys an instance works with.
#[derive(Clone)]
pub struct KeyMaterial {
    /// The key new tokens are signed with.
    pub signing: Ed25519Key,
    /// Public keys tokens may still carry (published in the JWKS).
    pub published: Vec<(String, [u8; 32])>,
    /// The server secret sub-keys are derived from.
    master: Vec<u8>,
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("signing", &self.signing)
            .finish_non_exhaustive()
    }
}

impl KeyMaterial {
    /// A 32-byte key for one purpose, derived from the server secret.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.master)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(b"eventauth/");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Loads (or on first start creates) the key material.
    pub async fn load(
        db: &Db,
        configured_key: Option<&SecretString>,
        configured_secret: Option<&SecretString>,
        access_ttl: std::time::Duration,
    ) -> anyhow::Result<Self> {
        let master = match configured_secret {
            Some(secret) => {
                let bytes = secret.expose_secret().as_bytes().to_vec();
                anyhow::ensure!(
                    bytes.len() >= 32,
                    "EVENTAUTH_SECRET must be at least 32 bytes"
                );
                bytes
            }
            None => stored_secret(db).await?,
        };
        let (signing, published) = match configured_key {
            Some(pem) => {
                let key = SigningKey::from_pkcs8_pem(pem.expose_secret())
                    .context("EVENTAUTH_SIGNING_KEY is not an Ed25519 PKCS#8 PEM key")?;
                let key = Ed25519Key::from_signing_key(&key)?;
                let published = vec![(key.kid.clone(), key.public_raw)];
                (key, published)
            }
            None => stored_keys(db, access_ttl).await?,
        };
        Ok(Self {
            signing,
            published,
            master,
        })
    }
}

async fn stored_secret(db: &Db) -> anyhow::Result<Vec<u8>> {
    let fresh: [u8; 32] = rand::random();
    const INSERT: &str =
        "INSERT INTO server_secrets (name, value) VALUES ('master', $1) ON CONFLICT DO NOTHING";
    const SELECT: &str = "SELECT value FROM server_secrets WHERE name = 'master'";
    let value = match db {
        Db::Postgres(pool) => {
            sqlx::query(INSERT).bind(&fresh[..]).execute(pool).await?;
            sqlx::query_scalar(SELECT).fetch_one(pool).await?
        }
        Db::Sqlite { writer, .. } => {
            sqlx::query(&sqlite_sql(INSERT))
                .bind(&fresh[..])
                .execute(writer)
                .await?;
            sqlx::query_scalar(SELECT).fetch_one(writer).await?
        }
    };
    Ok(value)
}

/// A stored key as read back.
#[derive(sqlx::FromRow)]
struct StoredKey {
    kid: String,
    private_der: Vec<u8>,
    public_raw: Vec<u8>,
}

async fn stored_keys(
    db: &Db,
    access_ttl: std::time::Duration,
) -> anyhow::Result<(Ed25519Key, Vec<(String, [u8; 32])>)> {
    let fresh = Ed25519Key::from_signing_key(&SigningKey::generate(&mut OsRng))?;
    // Insert-if-none-active; on PostgreSQL a unique index on the active key
    // makes concurrent first starts agree.
    const INSERT: &str = "INSERT INTO signing_keys (kid, algorithm, private_der, public_raw)
         SELECT $1, 'EdDSA', $2, $3
          WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE retired_at IS NULL)
         ON CONFLICT DO NOTHING";
    // Retired keys stay published until their last token has expired.
    const SELECT: &str = "SELECT kid, private_der, public_raw FROM signing_keys
          WHERE retired_at IS NULL OR retired_at > $1
          ORDER BY retired_at IS NULL DESC, created_at DESC";
    let published_since =
        chrono::Utc::now() - chrono::Duration::from_std(access_ttl).unwrap_or_default();
    let rows: Vec<StoredKey> = match db {
        Db::Postgres(pool) => {
            sqlx::query(INSERT)
                .bind(&fresh.kid)
                .bind(&fresh.private_der)
                .bind(&fresh.public_raw[..])
                .execute(pool)
                .await
                .context("storing a signing key")?;
            sqlx::query_as(SELECT)
                .bind(published_since)
                .fetch_all(pool)
                .await?
        }
        Db::Sqlite { writer, .. } => {
            sqlx::query(&sqlite_sql(INSERT))
                .bind(&fresh.kid)
                .bind(&fresh.private_der)
                .bind(&fresh.public_raw[..])
                .execute(writer)
                .await
                .context("storing a signing key")?;
            // Times are text on SQLite: compare in the columns' own format.
            sqlx::query_as(&sqlite_sql(SELECT))
                .bind(published_since.format("%Y-%m-%dT%H:%M:%.3fZ").to_string())
                .fetch_all(writer)
                .await?
        }
    };
    let active = rows.first().context("no active signing key")?;
    let key =
        SigningKey::from_pkcs8_der(&active.private_der).context("stored signing key is corrupt")?;
    let signing = Ed25519Key::from_signing_key(&key)?;
    let mut published = Vec::with_capacity(rows.len());
    for row in &rows {
        let raw: [u8; 32] = row
            .public_raw
            .clone()
            .try_into()
            .map_err(|_| anyhow::anyhow!("stored public key is not 32 bytes"))?;
        published.push((row.kid.clone(), raw));
    }
    Ok((signing, published))
}

#[cfg(test)]
impl KeyMaterial {
    /// Key material around one key, for unit tests.
    pub fn for_tests(signing: Ed25519Key) -> Self {
        Self {
            published: vec![(signing.kid.clone(), signing.public_raw)],
            signing,
            master: vec![1; 32],
        }
    }
}
