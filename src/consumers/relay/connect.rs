//! How the relay reaches NATS: the server URL and the credentials, each
//! kept where it cannot be logged.
//!
//! Authentication, any one of (see the README's NATS section):
//! - user and password in the URL (`nats://user:password@host:4222`), or a
//!   token as its user part (`nats://token@host:4222`);
//! - `EVENTAUTH_NATS_TOKEN`;
//! - an NKey seed, `EVENTAUTH_NATS_NKEY_SEED`;
//! - a credentials file (user JWT + NKey seed, as `nsc` writes it),
//!   `EVENTAUTH_NATS_CREDENTIALS_FILE`.
//!
//! TLS: a `tls://` URL requires it; `EVENTAUTH_NATS_TLS_CA` adds roots to
//! trust (a private CA) and requires TLS; `EVENTAUTH_NATS_TLS_CERT` with
//! `EVENTAUTH_NATS_TLS_KEY` presents a client certificate.
//!
//! The client library logs the server address it dials at debug level, URL
//! credentials included: the credentials are therefore taken out of the
//! URL here, and only the bare address is ever handed on.

use std::path::PathBuf;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};

/// Where NATS is and how to authenticate; no secret in its `Debug`.
#[derive(Debug, Clone)]
pub struct NatsTarget {
    /// The server address without credentials (safe to log).
    pub address: String,
    credentials: Credentials,
    tls: Tls,
}

#[derive(Clone, Default)]
struct Credentials {
    user_and_password: Option<(String, SecretString)>,
    token: Option<SecretString>,
    nkey_seed: Option<SecretString>,
    file: Option<PathBuf>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field(
                "user",
                &self.user_and_password.as_ref().map(|(user, _)| user),
            )
            .field("token", &self.token.is_some())
            .field("nkey_seed", &self.nkey_seed.is_some())
            .field("file", &self.file)
            .finish()
    }
}

#[derive(Debug, Clone, Default)]
struct Tls {
    required: bool,
    roots: Option<PathBuf>,
    client: Option<(PathBuf, PathBuf)>,
}

impl NatsTarget {
    /// From the configuration; refuses half a configuration (a client
    /// certificate without its key, two ways to authenticate at once).
    pub fn from_config(url: &SecretString, config: &crate::Config) -> anyhow::Result<Self> {
        let mut parsed = url::Url::parse(url.expose_secret())
            .map_err(|_| anyhow::anyhow!("NATS_URL is not a URL (nats://host:4222)"))?;
        let mut credentials = Credentials::default();
        let user = percent_decode(parsed.username());
        match (user, parsed.password().map(percent_decode)) {
            (user, Some(password)) if !user.is_empty() => {
                credentials.user_and_password = Some((user, password.into()));
            }
            (token, None) if !token.is_empty() => credentials.token = Some(token.into()),
            _ => {}
        }
        // Failing to clear them cannot happen for nats:// URLs, which have
        // a host; refuse rather than dial with them in the address.
        parsed
            .set_username("")
            .and_then(|()| parsed.set_password(None))
            .map_err(|()| anyhow::anyhow!("NATS_URL must name a host"))?;
        if let Some(token) = &config.nats_token {
            anyhow::ensure!(
                credentials.token.is_none() && credentials.user_and_password.is_none(),
                "NATS credentials are given both in NATS_URL and in EVENTAUTH_NATS_TOKEN"
            );
            credentials.token = Some(token.clone());
        }
        credentials.nkey_seed = config.nats_nkey_seed.clone();
        credentials.file = config.nats_credentials_file.clone();
        let ways = [
            credentials.user_and_password.is_some() || credentials.token.is_some(),
            credentials.nkey_seed.is_some(),
            credentials.file.is_some(),
        ];
        anyhow::ensure!(
            ways.iter().filter(|way| **way).count() <= 1,
            "configure one way to authenticate to NATS: URL credentials or token, an NKey \
             seed, or a credentials file"
        );
        let client = match (&config.nats_tls_cert, &config.nats_tls_key) {
            (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
            (None, None) => None,
            _ => anyhow::bail!("EVENTAUTH_NATS_TLS_CERT and EVENTAUTH_NATS_TLS_KEY go together"),
        };
        let tls = Tls {
            required: parsed.scheme() == "tls" || config.nats_tls_ca.is_some() || client.is_some(),
            roots: config.nats_tls_ca.clone(),
            client,
        };
        let address = parsed.to_string().trim_end_matches('/').to_string();
        Ok(Self {
            address,
            credentials,
            tls,
        })
    }

    /// A connection, authenticated as configured.
    pub async fn connect(&self) -> anyhow::Result<async_nats::Client> {
        let mut options = async_nats::ConnectOptions::new().name("eventauth relay");
        let credentials = &self.credentials;
        if let Some((user, password)) = &credentials.user_and_password {
            options = options.user_and_password(user.clone(), password.expose_secret().to_string());
        }
        if let Some(token) = &credentials.token {
            options = options.token(token.expose_secret().to_string());
        }
        if let Some(seed) = &credentials.nkey_seed {
            options = options.nkey(seed.expose_secret().to_string());
        }
        if let Some(file) = &credentials.file {
            options = options
                .credentials_file(file)
                .await
                .with_context(|| format!("reading the NATS credentials file {}", file.display()))?;
        }
        if self.tls.required {
            options = options.require_tls(true);
        }
        if let Some(roots) = &self.tls.roots {
            options = options.add_root_certificates(roots.clone());
        }
        if let Some((cert, key)) = &self.tls.client {
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        options
            .connect(self.address.as_str())
            .await
            .with_context(|| format!("connecting to NATS at {}", self.address))
    }
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> anyhow::Result<NatsTarget> {
        NatsTarget::from_config(&url.to_string().into(), &crate::Config::defaults())
    }

    #[test]
    fn credentials_leave_the_address_and_never_show_in_debug() {
        let target = parse("nats://relay:s%40cret@127.0.0.1:4222").expect("target");
        assert_eq!(target.address, "nats://127.0.0.1:4222");
        let (user, password) = target.credentials.user_and_password.as_ref().expect("user");
        assert_eq!(user, "relay");
        assert_eq!(password.expose_secret(), "s@cret");
        let shown = format!("{target:?}");
        assert!(!shown.contains("cret"), "{shown}");

        let token = parse("nats://t0ken@nats.example:4222").expect("target");
        assert_eq!(token.address, "nats://nats.example:4222");
        assert_eq!(
            token.credentials.token.as_ref().map(|t| t.expose_secret()),
            Some("t0ken")
        );
        assert!(!format!("{token:?}").contains("t0ken"));
    }

    #[test]
    fn tls_urls_require_tls_and_two_ways_to_authenticate_are_refused() {
        assert!(
            parse("tls://nats.example:4222")
                .expect("target")
                .tls
                .required
        );
        assert!(
            !parse("nats://nats.example:4222")
                .expect("target")
                .tls
                .required
        );
        let mut config = crate::Config::defaults();
        config.nats_token = Some("t".to_string().into());
        let both = NatsTarget::from_config(&"nats://u:p@h:4222".to_string().into(), &config);
        assert!(both.is_err());
        config.nats_token = None;
        config.nats_tls_cert = Some("cert.pem".into());
        assert!(NatsTarget::from_config(&"nats://h:4222".to_string().into(), &config).is_err());
    }
}
