//! A PostgreSQL outage, for this test's instance alone: the instance talks to
//! its database through a TCP proxy the test controls. Cutting the proxy
//! drops every pooled connection and refuses new ones, as a server restart
//! or a network partition does.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use crate::helpers::{ild_error, spawn_app_on, Backend, TestDb};

/// Forwards connections to PostgreSQL until cut.
struct Proxy {
    port: u16,
    cut: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let cut = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let accept = {
            let (cut, links) = (cut.clone(), links.clone());
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if cut.load(Ordering::SeqCst) {
                        continue; // dropped: the connection is refused
                    }
                    let upstream = upstream.clone();
                    let link = tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    links.lock().expect("links").push(link.abort_handle());
                }
            })
            .abort_handle()
        };
        Self {
            port,
            cut,
            links,
            accept,
        }
    }

    /// Every connection dropped, new ones refused.
    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.drop_connections();
    }

    /// Every open connection dropped (a server restart, as the pool sees it).
    fn drop_connections(&self) {
        for link in self.links.lock().expect("links").drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

on_postgres_only!(
    a_database_outage_is_a_quick_503_and_checks_keep_working,
    threads = 2
);
async fn a_database_outage_is_a_quick_503_and_checks_keep_working(backend: Backend) {
    let db = TestDb::create(backend).await;
    // postgres://user@host:port/name → the same through the proxy.
    let (head, name) = db.url.rsplit_once('/').expect("a database name");
    let (user, upstream) = head.rsplit_once('@').expect("user@host:port");
    let proxy = Proxy::start(upstream.to_string()).await;
    let proxied = format!("{user}@127.0.0.1:{}/{name}", proxy.port);
    let app = spawn_app_on(Arc::new(db), |config| {
        config.database_url = Some(proxied.into());
        config.db_acquire_timeout_ms = 1000;
    })
    .await;
    let login = app.signed_in("outage@example.com", "correct horse").await;
    let token = login["token"].as_str().expect("token").to_string();
    let events_before = app.event_count().await;

    // A restart: every pooled connection dies at once. The pool notices
    // before handing them out; nobody sees an error.
    proxy.drop_connections();
    let reads =
        futures::future::join_all((0..10).map(|_| app.get_auth("/user/profile", &token))).await;
    for read in reads {
        assert_eq!(
            read.status(),
            StatusCode::OK,
            "a read right after a restart"
        );
    }

    proxy.cut();

    // Checking a token needs no database: it keeps working.
    for _ in 0..3 {
        let check = app.get_auth("/sign/check", &token).await;
        assert_eq!(
            check.status(),
            StatusCode::OK,
            "token check during the outage"
        );
    }
    // What needs the database fails fast, 503 with Retry-After, in the
    // surface's error shape; never a 500.
    let attempts = [
        app.login("outage@example.com", "correct horse").await,
        app.register("someone-else@example.com", "correct horse")
            .await,
        app.get_auth("/user/profile", &token).await,
    ];
    for response in attempts {
        let status = response.status();
        assert!(
            response.headers().get("retry-after").is_some(),
            "no Retry-After on {} ({status})",
            response.url()
        );
        ild_error(response, StatusCode::SERVICE_UNAVAILABLE).await;
    }
    let started = Instant::now();
    let login = app.login("outage@example.com", "correct horse").await;
    assert_eq!(login.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "a request waited {:?} for the database",
        started.elapsed()
    );
    let started = Instant::now();
    let ready = app
        .client
        .get(app.url("/ready"))
        .send()
        .await
        .expect("ready");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "/ready hung"
    );

    proxy.restore();

    // Recovery: the pool replaces its dead connections.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let response = app.login("outage@example.com", "correct horse").await;
        if response.status() == StatusCode::OK {
            break;
        }
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(Instant::now() < deadline, "no recovery after the outage");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let profile = app.get_auth("/user/profile", &token).await;
    assert_eq!(profile.status(), StatusCode::OK);
    let ready = app
        .client
        .get(app.url("/ready"))
        .send()
        .await
        .expect("ready");
    assert_eq!(ready.status(), StatusCode::OK);
    // The refused registration wrote nothing: the only new events are the
    // successful login's.
    let registrations = app
        .count("SELECT count(*) FROM events WHERE event_type = 'UserRegistered'")
        .await;
    assert_eq!(registrations, 1);
    assert!(app.event_count().await > events_before);
}
