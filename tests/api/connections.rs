//! What one client may hold: connections that trickle their headers or sit
//! idle are closed by the header timeout, and one address cannot take more
//! than its share — everyone else keeps being answered. The flood comes from
//! 127.0.0.2 (Linux routes all of 127/8 to the loopback), the legitimate
//! client from 127.0.0.1.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::{spawn_app_with, Backend, TestApp};

fn address(app: &TestApp) -> SocketAddr {
    app.address
        .trim_start_matches("http://")
        .parse()
        .expect("the app's address")
}

async fn connect_from(source: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(format!("{source}:0").parse().expect("source"))
        .expect("bind the source address");
    socket.connect(to).await.expect("connect")
}

/// Sends one byte of a request's head every `every` until the server
/// closes the connection; how long after `start` that happened (`None`:
/// still open after `give_up`).
async fn trickle(
    mut stream: TcpStream,
    every: Option<Duration>,
    give_up: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    let head = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: "
        .iter()
        .chain(std::iter::repeat(&b'a'));
    let mut head = head.copied();
    let mut buf = [0u8; 256];
    while started.elapsed() < give_up {
        let wait = every.unwrap_or(give_up);
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                // Closed (a 408 or nothing, then EOF), or reset.
                Ok(0) | Err(_) => return Some(started.elapsed()),
                Ok(_) => {}
            },
            () = tokio::time::sleep(wait) => {
                if every.is_some() {
                    let byte = [head.next().unwrap_or(b'a')];
                    if stream.write_all(&byte).await.is_err() {
                        return Some(started.elapsed());
                    }
                }
            }
        }
    }
    None
}

on_both_backends!(
    a_flood_from_one_address_leaves_everyone_else_served,
    threads = 2
);
async fn a_flood_from_one_address_leaves_everyone_else_served(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        config.header_timeout = 1;
        config.max_connections_per_ip = 20;
    })
    .await;
    let to = address(&app);

    // 60 slow-header connections from one address: 20 are let in and cut
    // off by the header timeout although they keep sending; 40 are closed
    // at once.
    let mut flood = Vec::new();
    for _ in 0..60 {
        let stream = connect_from("127.0.0.2", to).await;
        flood.push(tokio::spawn(trickle(
            stream,
            Some(Duration::from_millis(200)),
            Duration::from_secs(8),
        )));
    }
    // And one that says nothing at all, from a third address.
    let idle = tokio::spawn(trickle(
        connect_from("127.0.0.3", to).await,
        None,
        Duration::from_secs(8),
    ));

    // Meanwhile everyone else is answered, promptly.
    for _ in 0..10 {
        let started = Instant::now();
        let response = app
            .client
            .get(app.url("/health"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .expect("a legitimate client is answered during the flood");
        assert_eq!(response.status(), StatusCode::OK);
        assert!(started.elapsed() < Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut closed = Vec::new();
    for connection in flood {
        closed.push(connection.await.expect("trickle"));
    }
    let at_once = closed
        .iter()
        .filter(|c| c.is_some_and(|after| after < Duration::from_millis(500)))
        .count();
    assert!(
        at_once >= 40,
        "over the per-address cap: closed at once ({at_once} of 60)"
    );
    let all_closed = closed
        .iter()
        .all(|c| c.is_some_and(|after| after < Duration::from_secs(4)));
    assert!(
        all_closed,
        "a connection trickling its headers outlived the header timeout: {closed:?}"
    );
    let idle = idle.await.expect("idle");
    assert!(
        idle.is_some_and(|after| after < Duration::from_secs(4)),
        "an idle connection was not closed: {idle:?}"
    );
}

on_both_backends!(
    connections_over_the_global_cap_are_closed_at_once,
    threads = 2
);
async fn connections_over_the_global_cap_are_closed_at_once(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        config.header_timeout = 30;
        config.max_connections = 10;
        config.max_connections_per_ip = 0;
    })
    .await;
    let to = address(&app);
    let mut held = Vec::new();
    for _ in 0..10 {
        held.push(connect_from("127.0.0.4", to).await);
    }
    // Accepted in order: the eleventh finds the cap taken.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let over = trickle(
        connect_from("127.0.0.5", to).await,
        None,
        Duration::from_secs(3),
    )
    .await;
    assert!(
        over.is_some_and(|after| after < Duration::from_secs(1)),
        "the connection over the cap was left open: {over:?}"
    );
    // Places come back as connections close.
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let response = app
        .client
        .get(app.url("/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(response.status(), StatusCode::OK);
}
