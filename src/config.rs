//! Typed settings. Every setting is an environment variable and a flag of
//! the same name (`EVENTAUTH_ADDR` = `--addr`); see the README's table.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

/// Settings of one service instance.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Listen address (port 0 picks a free port).
    #[arg(long, env = "EVENTAUTH_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// Directory for the embedded store and blobs.
    #[arg(long, env = "EVENTAUTH_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// `postgres://…` event store and read models.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<SecretString>,

    /// NATS JetStream server for the event relay (off when unset):
    /// `nats://host:4222`, `tls://host:4222`; `nats://user:password@host`
    /// or `nats://token@host` to authenticate (never logged).
    #[arg(long, env = "NATS_URL", hide_env_values = true, value_parser = secret)]
    pub nats_url: Option<SecretString>,

    /// Token to authenticate to NATS with.
    #[arg(long, env = "EVENTAUTH_NATS_TOKEN", hide_env_values = true, value_parser = secret)]
    pub nats_token: Option<SecretString>,

    /// NKey seed (`SU…`) to authenticate to NATS with.
    #[arg(long, env = "EVENTAUTH_NATS_NKEY_SEED", hide_env_values = true, value_parser = secret)]
    pub nats_nkey_seed: Option<SecretString>,

    /// Credentials file (user JWT and NKey seed, as `nsc` writes it).
    #[arg(long, env = "EVENTAUTH_NATS_CREDENTIALS_FILE")]
    pub nats_credentials_file: Option<PathBuf>,

    /// PEM roots to trust for NATS's TLS certificate (a private CA); set,
    /// TLS is required.
    #[arg(long, env = "EVENTAUTH_NATS_TLS_CA")]
    pub nats_tls_ca: Option<PathBuf>,

    /// Client certificate (PEM) to present to NATS, with its key.
    #[arg(long, env = "EVENTAUTH_NATS_TLS_CERT")]
    pub nats_tls_cert: Option<PathBuf>,

    /// The client certificate's key (PEM).
    #[arg(long, env = "EVENTAUTH_NATS_TLS_KEY")]
    pub nats_tls_key: Option<PathBuf>,

    /// JetStream stream the relay publishes to (created if missing).
    #[arg(long, env = "EVENTAUTH_NATS_STREAM", default_value = "EVENTAUTH")]
    pub nats_stream: String,

    /// Subject prefix: events go to `<prefix>.<aggregate>.<Event>`.
    #[arg(
        long,
        env = "EVENTAUTH_NATS_SUBJECT_PREFIX",
        default_value = "eventauth"
    )]
    pub nats_subject_prefix: String,

    /// The stream's de-duplication window, seconds (JetStream drops a
    /// message whose `Nats-Msg-Id` it saw within the window).
    #[arg(long, env = "EVENTAUTH_NATS_DUPLICATE_WINDOW", default_value_t = 120)]
    pub nats_duplicate_window: u64,

    /// SMTP server for outgoing mail: `smtps://user:pass@host` (TLS),
    /// `smtp://user:pass@host:587?tls=required` (STARTTLS), plain
    /// `smtp://host:port` (unencrypted: a local relay only). Unset: mail
    /// stays in the `mail_outbox` table for an operator to read.
    #[arg(long, env = "EVENTAUTH_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<SecretString>,

    /// Sender of outgoing mail.
    #[arg(
        long,
        env = "EVENTAUTH_MAIL_FROM",
        default_value = "eventauth <no-reply@localhost>"
    )]
    pub mail_from: String,

    /// Link in the verification mail; `{token}` is replaced by the token.
    #[arg(
        long,
        env = "EVENTAUTH_VERIFY_LINK",
        default_value = "http://localhost:8080/verify?token={token}"
    )]
    pub verify_link: String,

    /// Link in the password-reset mail; `{token}` is replaced by the token.
    #[arg(
        long,
        env = "EVENTAUTH_RESET_LINK",
        default_value = "http://localhost:8080/reset/{token}"
    )]
    pub reset_link: String,

    /// Lifetime of verification and reset tokens, seconds.
    #[arg(long, env = "EVENTAUTH_MAIL_TOKEN_TTL", default_value_t = 3600)]
    pub mail_token_ttl: u64,

    /// Directory of the blob store (profile pictures); default
    /// `<data dir>/blobs`. Several instances must share it (a shared
    /// volume), or use an object store behind the `BlobStore` trait.
    #[arg(long, env = "EVENTAUTH_BLOB_DIR")]
    pub blob_dir: Option<PathBuf>,

    /// Largest profile picture accepted, bytes (larger: 413).
    #[arg(long, env = "EVENTAUTH_MAX_IMAGE_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub max_image_bytes: usize,

    /// Most pixels (width × height) a profile picture may declare; larger
    /// ones are refused before decoding (decompression bombs).
    #[arg(long, env = "EVENTAUTH_MAX_IMAGE_PIXELS", default_value_t = 40_000_000)]
    pub max_image_pixels: u64,

    /// Maximum database connections of this instance.
    #[arg(long, env = "EVENTAUTH_DB_MAX_CONNECTIONS", default_value_t = 10)]
    pub db_max_connections: u32,

    /// How long a request waits for a database connection before it is
    /// answered 503 with `Retry-After`, milliseconds. Short, so that with
    /// the database away requests fail fast instead of piling up.
    #[arg(long, env = "EVENTAUTH_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 3000)]
    pub db_acquire_timeout_ms: u64,

    /// `iss` of issued access tokens.
    #[arg(long, env = "EVENTAUTH_ISSUER", default_value = "eventauth")]
    pub issuer: String,

    /// `aud` of issued access tokens.
    #[arg(long, env = "EVENTAUTH_AUDIENCE", default_value = "eventauth")]
    pub audience: String,

    /// Access-token lifetime, seconds.
    #[arg(long, env = "EVENTAUTH_ACCESS_TOKEN_TTL", default_value_t = 900)]
    pub access_token_ttl: u64,

    /// Session (refresh-token) lifetime, seconds.
    #[arg(long, env = "EVENTAUTH_SESSION_TTL", default_value_t = 7 * 24 * 3600)]
    pub session_ttl: u64,

    /// Session lifetime with remember-me, seconds.
    #[arg(long, env = "EVENTAUTH_REMEMBER_ME_TTL", default_value_t = 30 * 24 * 3600)]
    pub remember_me_ttl: u64,

    /// Idle timeout of cookie sessions (Kolibri's `kolibri` cookie),
    /// seconds: a keep-alive moves the end this far ahead.
    #[arg(long, env = "EVENTAUTH_COOKIE_SESSION_IDLE", default_value_t = 1200)]
    pub cookie_session_idle: u64,

    /// Facility-user list answers kept in memory per instance (repeated
    /// lists are answered without PostgreSQL until a user changes); 0
    /// turns the cache off.
    #[arg(long, env = "EVENTAUTH_LIST_CACHE", default_value_t = 512)]
    pub list_cache: usize,

    /// The secret Open Archiver's front end verifies its access tokens with
    /// (its `JWT_SECRET`: HS256). Unset: one derived from the server
    /// secret (every instance alike), which no front end knows — the log
    /// says so.
    #[arg(
        long,
        env = "EVENTAUTH_OPENARCHIVER_JWT_SECRET",
        hide_env_values = true
    )]
    pub openarchiver_jwt_secret: Option<SecretString>,

    /// Lifetime of Open Archiver's access tokens, in seconds (its
    /// `JWT_EXPIRES_IN`; 7 days in its example).
    #[arg(
        long,
        env = "EVENTAUTH_OPENARCHIVER_TOKEN_TTL",
        default_value_t = 604_800
    )]
    pub openarchiver_token_ttl: u64,

    /// Requests per client IP and window on Open Archiver's paths (its
    /// `RATE_LIMIT_MAX_REQUESTS`; `/v1/auth/status` is not counted); 0
    /// turns the limit off.
    #[arg(long, env = "EVENTAUTH_OPENARCHIVER_RATE_LIMIT", default_value_t = 100)]
    pub openarchiver_rate_limit: u32,

    /// The window of that limit, in seconds (its `RATE_LIMIT_WINDOW_MS`).
    #[arg(long, env = "EVENTAUTH_OPENARCHIVER_RATE_WINDOW", default_value_t = 60)]
    pub openarchiver_rate_window: u64,

    /// Lifetime of Doubtfire's header tokens, in seconds (2 hours); also
    /// with `remember` for Convenors and Admins.
    #[arg(long, env = "EVENTAUTH_DOUBTFIRE_TOKEN_TTL", default_value_t = 7_200)]
    pub doubtfire_token_ttl: u64,

    /// Lifetime of a Student's Doubtfire token with `remember`, in seconds
    /// (2 weeks).
    #[arg(
        long,
        env = "EVENTAUTH_DOUBTFIRE_REMEMBER_STUDENT_TTL",
        default_value_t = 1_209_600
    )]
    pub doubtfire_remember_student_ttl: u64,

    /// Lifetime of a Tutor's Doubtfire token with `remember`, in seconds
    /// (1 week).
    #[arg(
        long,
        env = "EVENTAUTH_DOUBTFIRE_REMEMBER_TUTOR_TTL",
        default_value_t = 604_800
    )]
    pub doubtfire_remember_tutor_ttl: u64,

    /// Where the SAML sign-in sends the browser back to with its temporary
    /// token (`<this>/#/sign_in?authToken=…&username=…`): the Doubtfire
    /// front end's origin.
    #[arg(
        long,
        env = "EVENTAUTH_DOUBTFIRE_FRONTEND_URL",
        default_value = "http://localhost:4200"
    )]
    pub doubtfire_frontend_url: String,

    /// The sign-out URL Doubtfire's front end follows after signing out
    /// (`/api/auth/signout_url`); unset: none (with SAML: the IdP's).
    #[arg(long, env = "EVENTAUTH_DOUBTFIRE_SIGNOUT_URL")]
    pub doubtfire_signout_url: Option<String>,

    /// SAML 2.0 single sign-on (see docs/saml.md).
    #[command(flatten)]
    pub saml: crate::saml::SamlConfig,

    /// Seconds in which a just-rotated refresh token still yields the same
    /// successor (two tabs refreshing at once); 0 disables.
    #[arg(long, env = "EVENTAUTH_REFRESH_REUSE_GRACE", default_value_t = 10)]
    pub refresh_reuse_grace: u64,

    /// Ed25519 signing key (PKCS#8 PEM). Generated into the store when unset.
    #[arg(long, env = "EVENTAUTH_SIGNING_KEY", hide_env_values = true)]
    pub signing_key: Option<SecretString>,

    /// Master key (32 bytes, base64 or hex) wrapping every person's data
    /// key. Unset: read from `EVENTAUTH_MASTER_KEY_FILE`, else from
    /// `<data dir>/master.key` (generated there on a store without data
    /// keys). A wrong or missing key stops start-up.
    #[arg(long, env = "EVENTAUTH_MASTER_KEY", hide_env_values = true, value_parser = secret)]
    pub master_key: Option<SecretString>,

    /// File holding the master key (as `EVENTAUTH_MASTER_KEY`).
    #[arg(long, env = "EVENTAUTH_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,

    /// Earlier master keys (comma-separated), still accepted to unwrap
    /// data keys during a rotation (`eventauth rotate-master-key`).
    #[arg(long, env = "EVENTAUTH_MASTER_KEY_PREVIOUS", hide_env_values = true, value_parser = secret)]
    pub master_key_previous: Option<SecretString>,

    /// Server secret (≥ 32 bytes) keying identifier hashes and token
    /// derivation. Generated into the store when unset.
    #[arg(long, env = "EVENTAUTH_SECRET", hide_env_values = true)]
    pub secret: Option<SecretString>,

    /// argon2id memory cost, KiB (OWASP minimum: 19456).
    #[arg(long, env = "EVENTAUTH_ARGON2_MEMORY_KIB", default_value_t = 19456)]
    pub argon2_memory_kib: u32,

    /// argon2id iterations (OWASP minimum with 19 MiB: 2).
    #[arg(long, env = "EVENTAUTH_ARGON2_ITERATIONS", default_value_t = 2)]
    pub argon2_iterations: u32,

    /// argon2id parallelism.
    #[arg(long, env = "EVENTAUTH_ARGON2_PARALLELISM", default_value_t = 1)]
    pub argon2_parallelism: u32,

    /// Password-hashing threads (default: the number of cores).
    #[arg(long, env = "EVENTAUTH_HASH_WORKERS")]
    pub hash_workers: Option<usize>,

    /// Hashing jobs that may wait before requests get 503 (≥ 64).
    #[arg(long, env = "EVENTAUTH_HASH_QUEUE", default_value_t = 64)]
    pub hash_queue: usize,

    /// Consecutive failed logins per identifier within the window before
    /// it is locked (NIST SP 800-63B: at most 100).
    #[arg(long, env = "EVENTAUTH_LOGIN_MAX_FAILURES", default_value_t = 100)]
    pub login_max_failures: u32,

    /// Failed logins per identifier that cost no wait; each one after them
    /// makes the identifier wait, doubling from `EVENTAUTH_LOGIN_DELAY`.
    #[arg(long, env = "EVENTAUTH_LOGIN_FREE_FAILURES", default_value_t = 5)]
    pub login_free_failures: u32,

    /// The first wait after the free failures, milliseconds.
    #[arg(long, env = "EVENTAUTH_LOGIN_DELAY_MS", default_value_t = 1000)]
    pub login_delay_ms: u64,

    /// The longest wait, seconds.
    #[arg(long, env = "EVENTAUTH_LOGIN_MAX_DELAY", default_value_t = 900)]
    pub login_max_delay: u64,

    /// Failed logins per client IP within its window before it is locked
    /// (sized for a school: many people behind one address).
    #[arg(
        long,
        env = "EVENTAUTH_LOGIN_MAX_FAILURES_PER_IP",
        default_value_t = 300
    )]
    pub login_max_failures_per_ip: u32,

    /// Window in which an identifier's failures are counted, seconds.
    #[arg(long, env = "EVENTAUTH_LOGIN_WINDOW", default_value_t = 86_400)]
    pub login_window: u64,

    /// Window in which a client IP's failures are counted, seconds.
    #[arg(long, env = "EVENTAUTH_LOGIN_IP_WINDOW", default_value_t = 900)]
    pub login_ip_window: u64,

    /// How long a lock lasts, seconds.
    #[arg(long, env = "EVENTAUTH_LOGIN_LOCKOUT", default_value_t = 3600)]
    pub login_lockout: u64,

    /// Accounts one client address may create for itself per
    /// `EVENTAUTH_ANONYMOUS_WINDOW` (0: no limit); administrators are not
    /// counted.
    #[arg(long, env = "EVENTAUTH_REGISTRATIONS_PER_IP", default_value_t = 60)]
    pub registrations_per_ip: u32,

    /// Password-reset mails one client address may ask for per window.
    #[arg(long, env = "EVENTAUTH_RESET_REQUESTS_PER_IP", default_value_t = 20)]
    pub reset_requests_per_ip: u32,

    /// Mailed tokens (verification, reset) one client address may redeem or
    /// try per window.
    #[arg(long, env = "EVENTAUTH_TOKEN_REDEMPTIONS_PER_IP", default_value_t = 60)]
    pub token_redemptions_per_ip: u32,

    /// The window of the three limits above, seconds.
    #[arg(long, env = "EVENTAUTH_ANONYMOUS_WINDOW", default_value_t = 3600)]
    pub anonymous_window: u64,

    /// Age (seconds) after which an identifier claim whose user was never
    /// written (a crash mid-registration) may be taken over.
    #[arg(long, env = "EVENTAUTH_CLAIM_STALE_AFTER", default_value_t = 30)]
    pub claim_stale_after: u64,

    /// How long a read-model query waits for the read models to hold every
    /// commit this instance has answered before reading anyway,
    /// milliseconds (commands themselves do not wait).
    #[arg(
        long,
        env = "EVENTAUTH_READ_YOUR_WRITES_TIMEOUT_MS",
        default_value_t = 2000
    )]
    pub read_your_writes_timeout_ms: u64,

    /// `Secure` on cookies: `auto` (when the request came over HTTPS,
    /// directly or as a trusted proxy's `X-Forwarded-Proto: https`), `true`
    /// (always) or `false` (never). A browser neither keeps nor sends a
    /// `Secure` cookie over plain HTTP (a school LAN's `http://192.168.…`).
    #[arg(long, env = "EVENTAUTH_COOKIE_SECURE", default_value = "auto")]
    pub cookie_secure: CookieSecure,

    /// Proxies (IPs or CIDRs, comma-separated) whose `X-Forwarded-For` is
    /// believed. From anyone else the header is ignored.
    #[arg(long, env = "EVENTAUTH_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Origins (comma-separated) browsers may call the API from, with
    /// credentials; `*` allows any origin, without credentials. Unset:
    /// same-origin only.
    #[arg(long, env = "EVENTAUTH_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Bearer token that opens `/metrics` on the service's address (unset:
    /// `/metrics` answers 404 there).
    #[arg(
        long,
        env = "EVENTAUTH_METRICS_TOKEN",
        hide_env_values = true,
        value_parser = secret
    )]
    pub metrics_token: Option<SecretString>,

    /// A separate address serving only `/metrics`, without credentials
    /// (e.g. `127.0.0.1:9100`, reachable by the scraper alone).
    #[arg(long, env = "EVENTAUTH_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// Seconds a client has to send a request's headers; also how long a
    /// kept-alive connection may wait idle for its next request.
    #[arg(long, env = "EVENTAUTH_HEADER_TIMEOUT", default_value_t = 10)]
    pub header_timeout: u64,

    /// Open client connections in all (lowered to what the process's
    /// file-descriptor limit allows). Connections over it are closed at
    /// once.
    #[arg(long, env = "EVENTAUTH_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Open connections from one peer address (0: no cap). Trusted proxies
    /// are exempt: they carry many clients.
    #[arg(long, env = "EVENTAUTH_MAX_CONNECTIONS_PER_IP", default_value_t = 256)]
    pub max_connections_per_ip: usize,

    /// Seconds a request may take before it is answered 503.
    #[arg(long, env = "EVENTAUTH_REQUEST_TIMEOUT", default_value_t = 30)]
    pub request_timeout: u64,

    /// Clients allowed to introspect and revoke tokens (RFC 7662/7009), as
    /// `id:secret` pairs, comma-separated; they authenticate with HTTP Basic.
    #[arg(
        long,
        env = "EVENTAUTH_INTROSPECTION_CLIENTS",
        value_delimiter = ',',
        hide_env_values = true,
        value_parser = secret
    )]
    pub introspection_clients: Vec<SecretString>,

    /// Log format: `json`, `pretty`, or `auto` (pretty on a terminal, JSON
    /// otherwise).
    #[arg(long, env = "EVENTAUTH_LOG_FORMAT", default_value = "auto")]
    pub log_format: String,
}

fn secret(value: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(value.to_string()))
}

impl Config {
    /// Settings as if no flag and no variable were given, for tests and
    /// tools that fill in the rest themselves.
    pub fn defaults() -> Self {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            config: Config,
        }
        // Parsing an empty command line cannot fail: every field has a
        // default or is optional.
        Only::try_parse_from(["eventauth"])
            .map(|only| only.config)
            .unwrap_or_else(|error| panic!("default configuration is invalid: {error}"))
    }

    /// Password-hashing threads.
    pub fn hash_workers(&self) -> usize {
        self.hash_workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
        })
    }

    /// Access-token lifetime.
    pub fn access_token_ttl(&self) -> Duration {
        Duration::from_secs(self.access_token_ttl)
    }

    /// How long the longest-lived self-contained token the service issues
    /// stays valid (its own access tokens, Open Archiver's): what the
    /// deny-list must remember an ended session for.
    pub fn longest_token_ttl(&self) -> Duration {
        Duration::from_secs(self.access_token_ttl.max(self.openarchiver_token_ttl))
    }

    /// Lifetime of verification and reset tokens.
    pub fn mail_token_ttl(&self) -> chrono::Duration {
        chrono::Duration::seconds(self.mail_token_ttl.clamp(1, 7 * 24 * 3600) as i64)
    }

    /// Read-your-writes bound.
    pub fn read_your_writes_timeout(&self) -> Duration {
        Duration::from_millis(self.read_your_writes_timeout_ms)
    }
}

/// When cookies are marked `Secure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum CookieSecure {
    /// When the request came over HTTPS.
    #[default]
    Auto,
    /// Always.
    True,
    /// Never.
    False,
}
