//! Building and running an instance: used by `main` and by the tests alike.
//!
//! [`Runtime`] is everything but the listener (store, keys, background
//! feeds); the CLI's one-shot commands use it alone. [`Application`] adds
//! the HTTP listener.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use aggregates::Services;
use anyhow::Context;
use projections::{GlobalReader, Projector, ProjectorConfig, Wake};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::Inner;
use crate::auth::denylist::DenyList;
use crate::auth::identifiers::IdentifierKeys;
use crate::auth::keys::KeyMaterial;
use crate::auth::password::Passwords;
use crate::auth::throttle::{Policy, Throttle};
use crate::auth::tokens::Tokens;
use crate::consumers::feed::{FeedListener, SecurityFeed};
use crate::consumers::relay::{Relay, RelayConfig};
use crate::store::{self, Store};
use crate::surfaces::{self, Surface};
use crate::{App, Config};

/// An instance's state and background work (projector, deny-list feed,
/// notification listener, housekeeping).
#[derive(Debug)]
pub struct Runtime {
    app: App,
    surfaces: Vec<Arc<dyn Surface>>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Runtime {
    /// Connects, migrates, loads keys and starts the background work.
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        let db = store::connect(
            config.database_url.as_ref(),
            &config.data_dir,
            config.db_max_connections,
            Duration::from_millis(config.db_acquire_timeout_ms.max(100)),
        )
        .await?;
        let vault = store::prepare(&db, &config).await?;
        let keys = KeyMaterial::load(
            &db,
            config.signing_key.as_ref(),
            config.secret.as_ref(),
            config.access_token_ttl(),
        )
        .await?;
        let passwords = Passwords::new(
            config.argon2_memory_kib,
            config.argon2_iterations,
            config.argon2_parallelism,
            config.hash_workers(),
            config.hash_queue.max(64),
        )?;
        let throttle = Arc::new(Throttle::new(Policy {
            max_failures: config.login_max_failures.clamp(1, 100),
            free_failures: config.login_free_failures,
            delay_base: Duration::from_millis(config.login_delay_ms),
            delay_max: Duration::from_secs(config.login_max_delay),
            max_failures_per_ip: config.login_max_failures_per_ip.max(1),
            window: Duration::from_secs(config.login_window),
            ip_window: Duration::from_secs(config.login_ip_window),
            lockout: Duration::from_secs(config.login_lockout),
        }));
        let (stop, stopped) = watch::channel(false);
        let wake = Wake::new();
        let projector = Projector::new(
            db.clone(),
            vault.clone(),
            ProjectorConfig::default(),
            wake.clone(),
        );
        let denylist = Arc::new(DenyList::default());
        // Ended sessions matter while any token naming them can be
        // presented: Open Archiver's live for days.
        let lookback = config
            .longest_token_ttl()
            .max(Duration::from_secs(config.login_lockout));
        if config.cookie_secure == crate::config::CookieSecure::Auto
            && config.trusted_proxies.is_empty()
        {
            tracing::info!(
                "cookies are Secure only for requests that arrive over HTTPS; behind an \
                 HTTPS proxy name it in EVENTAUTH_TRUSTED_PROXIES (its X-Forwarded-Proto) \
                 or set EVENTAUTH_COOKIE_SECURE=true"
            );
        }
        let saml = crate::saml::ServiceProvider::from_config(&config.saml)?.map(Arc::new);
        if saml.is_some() {
            tracing::info!("SAML single sign-on is on");
        }
        let actors = Arc::new(crate::access::Actors::default());
        let surfaces = surfaces::all(&config);
        // What the feed keeps fresh: caller states, and each surface's caches.
        let cookie_sessions = Arc::new(crate::service::sessions::cookie::CookieSessions::default());
        let account_titles = Arc::new(crate::service::member_accounts::AccountTitles::default());
        let community_views = Arc::new(crate::service::community_views::CommunityViews::default());
        let store = Store::new(db.clone(), Services::system(), vault.clone());
        let mut listeners: Vec<Arc<dyn FeedListener>> = vec![
            store.freshness(),
            actors.clone(),
            cookie_sessions.clone(),
            account_titles.clone(),
            community_views.clone(),
        ];
        listeners.extend(surfaces.iter().flat_map(|surface| surface.listeners()));
        let effects = Arc::new(crate::consumers::effects::Effects::new(
            denylist.clone(),
            throttle.clone(),
            listeners,
            vault.clone(),
        ));
        let feed = SecurityFeed::new(effects.clone(), lookback);
        let acknowledged = Arc::new(watch::channel(projections::Cursor::START).0);
        store.on_commit(crate::app::on_commit(
            effects.clone(),
            acknowledged.clone(),
            wake.clone(),
        ));
        let fed_up = feed.caught_up();
        let relay = match &config.nats_url {
            Some(url) => Some(Relay::new(
                db.clone(),
                vault.clone(),
                RelayConfig {
                    target: crate::consumers::relay::connect::NatsTarget::from_config(
                        url, &config,
                    )?,
                    stream: config.nats_stream.clone(),
                    prefix: config.nats_subject_prefix.clone(),
                    duplicate_window: Duration::from_secs(config.nats_duplicate_window),
                },
                wake.clone(),
            )),
            None => None,
        };
        let app = App::new(Inner {
            relayed: relay.as_ref().map(Relay::progress),
            relay_health: relay.as_ref().map(Relay::health),
            tokens: Tokens::new(
                &keys,
                &config.issuer,
                &config.audience,
                config.access_token_ttl(),
            ),
            identifiers: IdentifierKeys::new(keys.derive("identifier-claims")),
            store,
            reader: GlobalReader::new(db.clone()),
            passwords,
            throttle,
            denylist: denylist.clone(),
            actors,
            account_titles,
            community_views,
            user_numbers: Default::default(),
            saml,
            collection_kinds: moka::sync::Cache::new(100_000),
            cookie_sessions,
            outbox: crate::mail::Outbox::new(db.clone()),
            blobs: Arc::new(crate::blobs::DirBlobs::new(
                config
                    .blob_dir
                    .clone()
                    .unwrap_or_else(|| config.data_dir.join("blobs")),
            )),
            image_permits: tokio::sync::Semaphore::new(config.hash_workers()),
            wake: wake.clone(),
            acknowledged,
            projected: projector.progress(),
            fed: feed.progress(),
            caught_up: (projector.caught_up(), feed.caught_up()),
            config,
        });
        let housekeeping = {
            let app = app.clone();
            let mut stopped = stopped.clone();
            async move {
                let mut every = tokio::time::interval(Duration::from_secs(60));
                loop {
                    tokio::select! {
                        _ = every.tick() => {
                            app.throttle.prune();
                            app.tokens.prune_verified();
                            app.denylist.prune(app.config.longest_token_ttl());
                            app.cookie_sessions.prune();
                        }
                        () = projections::wake::stopped(&mut stopped) => return,
                    }
                }
            }
        };
        let mut tasks = vec![
            tokio::spawn(projector.run(stopped.clone())),
            tokio::spawn(feed.run(db.clone(), wake.clone(), stopped.clone())),
            tokio::spawn(housekeeping),
        ];
        // Other instances' commits announce themselves through PostgreSQL;
        // the embedded store has no other writer (local commits poke).
        if let Some(relay) = relay {
            tasks.push(tokio::spawn(relay.run(stopped.clone())));
        }
        if let Some(url) = &app.config.smtp_url {
            let mailer = crate::mail::SmtpMailer::new(url, &app.config.mail_from)?;
            tasks.push(tokio::spawn(crate::mail::run_sender(
                app.outbox.clone(),
                Box::new(mailer),
                stopped.clone(),
            )));
        }
        if let Some(pool) = db.postgres() {
            tasks.push(tokio::spawn(
                wake.clone().listen(pool.clone(), stopped.clone()),
            ));
            tasks.push(tokio::spawn(
                wake.clone().announce(pool.clone(), stopped.clone()),
            ));
        }
        let runtime = Self {
            app,
            surfaces,
            stop,
            tasks,
        };
        // Until the security feed has caught up, logged-out sessions would
        // still pass: do not serve before.
        let mut fed_up = fed_up;
        tracing::info!("catching up with recent sessions and locks");
        if fed_up.wait_for(|done| *done).await.is_err() {
            anyhow::bail!("the security feed stopped before catching up");
        }
        Ok(runtime)
    }

    /// The shared state.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// The surfaces served.
    pub fn surfaces(&self) -> &[Arc<dyn Surface>] {
        &self.surfaces
    }

    /// Stops the background work, letting batches in flight commit.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for mut task in self.tasks {
            if tokio::time::timeout(Duration::from_secs(10), &mut task)
                .await
                .is_err()
            {
                // Aborted, not left running: tests and the bench start and
                // stop several instances in one process, and a stopped
                // instance's task would go on reading and writing.
                tracing::warn!("a background task did not stop in time; aborted");
                task.abort();
            }
        }
        self.app.store.db().close().await;
    }
}

/// A runnable instance: the runtime plus its bound listener.
#[derive(Debug)]
pub struct Application {
    runtime: Runtime,
    listener: TcpListener,
    local_addr: SocketAddr,
}

impl Application {
    /// Builds the instance and binds its address (port 0: any free port).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let addr = config.addr;
        let runtime = Runtime::start(config).await?;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        let local_addr = listener.local_addr()?;
        Ok(Self {
            runtime,
            listener,
            local_addr,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The shared state.
    pub fn app(&self) -> &App {
        self.runtime.app()
    }

    /// The surfaces served.
    pub fn surfaces(&self) -> &[Arc<dyn Surface>] {
        self.runtime.surfaces()
    }

    /// Serves until `shutdown` resolves; then stops accepting, finishes
    /// requests in flight, and lets the background work commit.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(url = %format!("http://{}", self.local_addr), "eventauth listening");
        let metrics = match self.runtime.app().config.metrics_addr {
            Some(addr) => {
                let listener = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding the metrics address {addr}"))?;
                tracing::info!(url = %format!("http://{addr}/metrics"), "metrics listening");
                let router = crate::http::wellknown::metrics_only(self.runtime.app().clone());
                Some(tokio::spawn(async move {
                    if let Err(error) = axum::serve(listener, router).await {
                        tracing::error!(%error, "the metrics listener stopped");
                    }
                }))
            }
            None => None,
        };
        let service = crate::http::service(self.runtime.app().clone(), self.runtime.surfaces());
        let limits = crate::http::listen::Limits::from_config(&self.runtime.app().config);
        crate::http::listen::serve(self.listener, service, limits, shutdown).await;
        if let Some(metrics) = metrics {
            metrics.abort();
        }
        tracing::info!("stopped accepting; stopping background work");
        self.runtime.stop().await;
        Ok(())
    }
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is
/// called, not when the future is first polled: a SIGTERM arriving right
/// after the service says it listens (before the server polls its
/// shutdown future) would otherwise meet the default action and kill the
/// process mid-request.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    #[cfg(unix)]
    let interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
    async move {
        #[cfg(unix)]
        match (interrupt, terminate) {
            (Ok(mut interrupt), Ok(mut terminate)) => {
                tokio::select! {
                    _ = interrupt.recv() => {}
                    _ = terminate.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
