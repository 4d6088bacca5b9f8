//! Accepting connections: our own loop around hyper instead of
//! `axum::serve`, because a public service must bound what one client can
//! hold. `axum::serve` sets no header-read timeout (hyper's needs a timer
//! it does not give), no idle timeout and no connection cap: one client
//! opening 20,000 connections that trickle a header byte every few seconds
//! used up the file descriptors and nobody else got an answer.
//!
//! Here every connection:
//! - must deliver a request's headers within `header_timeout`, which is
//!   also how long a kept-alive connection may sit idle waiting for its
//!   next request (hyper starts the same timer then);
//! - counts against a global cap, kept below the process's file-descriptor
//!   limit so that `accept` itself never fails for lack of descriptors;
//! - counts against a cap per peer address, so one address cannot take the
//!   global cap for itself. Trusted proxies (`EVENTAUTH_TRUSTED_PROXIES`)
//!   carry many clients and are exempt.
//!
//! A connection over a cap is accepted and closed at once: the client
//! learns immediately instead of waiting in the kernel's backlog, and the
//! backlog stays free for everyone else.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::observe::Throttled;

/// Descriptors kept free for everything that is not a client connection:
/// database and NATS connections, files, the listener itself.
const RESERVED_DESCRIPTORS: u64 = 256;

/// What one client may hold.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Time for a request's headers to arrive, and for the next request on
    /// an idle kept-alive connection.
    pub header_timeout: Duration,
    /// Open connections in all.
    pub max_connections: usize,
    /// Open connections from one peer address; `None`: no cap.
    pub max_per_peer: Option<usize>,
    /// Peers exempt from the per-peer cap (trusted proxies).
    pub exempt: Vec<ipnet::IpNet>,
}

impl Limits {
    /// The configured limits, the global cap lowered to what the process's
    /// file-descriptor limit allows (raised to its hard limit first).
    pub fn from_config(config: &crate::Config) -> Self {
        let descriptors = raise_descriptor_limit();
        let affordable = descriptors
            .saturating_sub(RESERVED_DESCRIPTORS)
            .max(RESERVED_DESCRIPTORS);
        let max_connections = config
            .max_connections
            .max(1)
            .min(usize::try_from(affordable).unwrap_or(usize::MAX));
        if max_connections < config.max_connections {
            tracing::warn!(
                configured = config.max_connections,
                max_connections,
                descriptors,
                "EVENTAUTH_MAX_CONNECTIONS lowered to what the file-descriptor limit allows"
            );
        }
        Self {
            header_timeout: Duration::from_secs(config.header_timeout.max(1)),
            max_connections,
            max_per_peer: (config.max_connections_per_ip > 0)
                .then_some(config.max_connections_per_ip),
            exempt: config.trusted_proxies.clone(),
        }
    }
}

/// Raises the soft file-descriptor limit to the hard one; the limit in
/// effect afterwards.
fn raise_descriptor_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(%error, "could not read or raise the file-descriptor limit");
            1024
        }
    }
}

/// Open connections per peer address.
#[derive(Debug, Default)]
struct PerPeer(Mutex<HashMap<IpAddr, usize>>);

/// One connection counted for its peer until dropped.
struct PeerSlot {
    peers: Arc<PerPeer>,
    ip: IpAddr,
}

impl PerPeer {
    fn claim(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<PeerSlot> {
        let mut open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(ip).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(PeerSlot {
            peers: self.clone(),
            ip,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut open = self.peers.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// What a connection holds while it is open.
struct Admitted {
    _global: OwnedSemaphorePermit,
    _peer: Option<PeerSlot>,
}

/// Admission: the global cap, then the peer's.
struct Gate {
    limits: Limits,
    global: Arc<Semaphore>,
    peers: Arc<PerPeer>,
    refused: Throttled,
}

impl Gate {
    fn new(limits: Limits) -> Self {
        Self {
            global: Arc::new(Semaphore::new(limits.max_connections)),
            peers: Arc::default(),
            refused: Throttled::new(Duration::from_secs(10)),
            limits,
        }
    }

    fn admit(&self, peer: IpAddr) -> Option<Admitted> {
        let Ok(global) = self.global.clone().try_acquire_owned() else {
            self.refuse("all", peer);
            return None;
        };
        let exempt = self.limits.exempt.iter().any(|net| net.contains(&peer));
        let slot = match self.limits.max_per_peer {
            Some(max) if !exempt => match self.peers.claim(peer, max) {
                Some(slot) => Some(slot),
                None => {
                    self.refuse("peer", peer);
                    return None;
                }
            },
            _ => None,
        };
        Some(Admitted {
            _global: global,
            _peer: slot,
        })
    }

    fn refuse(&self, cap: &'static str, peer: IpAddr) {
        metrics::counter!("eventauth_connections_refused_total", "cap" => cap).increment(1);
        if let Some(suppressed) = self.refused.ready() {
            tracing::warn!(
                cap,
                %peer,
                suppressed,
                "connection refused: over the connection limit (EVENTAUTH_MAX_CONNECTIONS{})",
                if cap == "peer" { "_PER_IP" } else { "" }
            );
        }
    }
}

/// The whole application as one service (what `crate::http::service`
/// builds).
pub trait AppService:
    tower::Service<
        axum::extract::Request,
        Response = axum::response::Response,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<S> AppService for S where
    S: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static
{
}

/// Serves `service` on `listener` within `limits` until `shutdown`
/// resolves; then stops accepting and waits for the connections' requests
/// in flight (idle connections are closed at once).
pub async fn serve<S: AppService>(
    listener: TcpListener,
    service: S,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    // HTTP/1.1 only. Detecting HTTP/2 (h2c by prior knowledge, which no
    // browser speaks; behind a TLS proxy the proxy speaks HTTP/2) means
    // waiting for a connection's first bytes with no timeout at all: a
    // client that connects and says nothing would be held for ever.
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let gate = Gate::new(limits);
    let graceful = GracefulShutdown::new();
    let accept_failed = Throttled::new(Duration::from_secs(10));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors or memory: wait for connections to
                    // close rather than spin.
                    if let Some(suppressed) = accept_failed.ready() {
                        tracing::warn!(%error, suppressed, "accepting a connection failed");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(admitted) = gate.admit(peer.ip()) else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = builder
            .serve_connection(TokioIo::new(stream), hyper_service(service.clone(), peer))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Errors here are the client's (reset, timed out, malformed):
            // nothing for the operator.
            let _ = connection.await;
            drop(admitted);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The service as hyper calls it: the peer's address where axum's
/// `ConnectInfo` extractor finds it.
fn hyper_service<S: AppService>(
    service: S,
    peer: SocketAddr,
) -> TowerToHyperService<
    impl tower::Service<
            hyper::Request<Incoming>,
            Response = axum::response::Response,
            Error = Infallible,
            Future = impl Send,
        > + Clone,
> {
    use tower::ServiceExt;
    TowerToHyperService::new(
        service.map_request(move |request: hyper::Request<Incoming>| {
            let mut request = request.map(axum::body::Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_gets_its_slots_back_when_connections_close() {
        let peers = Arc::new(PerPeer::default());
        let ip: IpAddr = [127, 0, 0, 2].into();
        let first = peers.claim(ip, 2);
        let second = peers.claim(ip, 2);
        assert!(first.is_some() && second.is_some());
        assert!(peers.claim(ip, 2).is_none(), "a third is over the cap");
        assert!(
            peers.claim([127, 0, 0, 3].into(), 2).is_some(),
            "others are not"
        );
        drop(first);
        assert!(peers.claim(ip, 2).is_some());
    }
}
