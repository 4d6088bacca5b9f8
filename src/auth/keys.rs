//! Key material shared by every instance: the JWT signing key and the
//! server secret. Generated into the store on first start unless
//! configured; concurrent first starts agree on one (insert-if-absent, then
//! read back the winner).

use anyhow::Context;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::SigningKey;
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Row};

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
        pool: &PgPool,
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
            None => stored_secret(pool).await?,
        };
        let (signing, published) = match configured_key {
            Some(pem) => {
                let key = SigningKey::from_pkcs8_pem(pem.expose_secret())
                    .context("EVENTAUTH_SIGNING_KEY is not an Ed25519 PKCS#8 PEM key")?;
                let key = Ed25519Key::from_signing_key(&key)?;
                let published = vec![(key.kid.clone(), key.public_raw)];
                (key, published)
            }
            None => stored_keys(pool, access_ttl).await?,
        };
        Ok(Self {
            signing,
            published,
            master,
        })
    }
}

async fn stored_secret(pool: &PgPool) -> anyhow::Result<Vec<u8>> {
    let fresh: [u8; 32] = rand::random();
    sqlx::query(
        "INSERT INTO server_secrets (name, value) VALUES ('master', $1) ON CONFLICT DO NOTHING",
    )
    .bind(&fresh[..])
    .execute(pool)
    .await
    .context("storing the server secret")?;
    sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = 'master'")
        .fetch_one(pool)
        .await
        .context("reading the server secret")
}

async fn stored_keys(
    pool: &PgPool,
    access_ttl: std::time::Duration,
) -> anyhow::Result<(Ed25519Key, Vec<(String, [u8; 32])>)> {
    let fresh = Ed25519Key::from_signing_key(&SigningKey::generate(&mut OsRng))?;
    sqlx::query(
        "INSERT INTO signing_keys (kid, algorithm, private_der, public_raw)
         VALUES ($1, 'EdDSA', $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(&fresh.kid)
    .bind(&fresh.private_der)
    .bind(&fresh.public_raw[..])
    .execute(pool)
    .await
    .context("storing a signing key")?;
    let active = sqlx::query("SELECT kid, private_der FROM signing_keys WHERE retired_at IS NULL")
        .fetch_one(pool)
        .await
        .context("reading the signing key")?;
    let private_der: Vec<u8> = active.get("private_der");
    let key = SigningKey::from_pkcs8_der(&private_der).context("stored signing key is corrupt")?;
    let signing = Ed25519Key::from_signing_key(&key)?;
    // Retired keys stay published until their last token has expired.
    let rows = sqlx::query(
        "SELECT kid, public_raw FROM signing_keys
          WHERE retired_at IS NULL OR retired_at > now() - make_interval(secs => $1)
          ORDER BY created_at DESC",
    )
    .bind(access_ttl.as_secs_f64())
    .fetch_all(pool)
    .await
    .context("reading public keys")?;
    let mut published = Vec::with_capacity(rows.len());
    for row in rows {
        let raw: Vec<u8> = row.get("public_raw");
        let raw: [u8; 32] = raw
            .try_into()
            .map_err(|_| anyhow::anyhow!("stored public key is not 32 bytes"))?;
        published.push((row.get("kid"), raw));
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
