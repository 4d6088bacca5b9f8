//! Email verification and password reset: mailed single-use links, read
//! from the outbox (no SMTP configured in tests).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{ild_error, mailed_token, mails, spawn_app, spawn_app_with, Backend, TestApp};

async fn profile(app: &TestApp, token: &str) -> Value {
    let response = app.get_auth("/user/profile", token).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("json")
}

on_both_backends!(registration_mails_a_link_that_verifies_the_email_once);
async fn registration_mails_a_link_that_verifies_the_email_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let login = app.signed_in("ada@example.com", "correct horse").await;
    let access = login["token"].as_str().expect("token");
    assert_eq!(profile(&app, access).await["emailVerified"], false);
    let token = mailed_token(&app, "ada@example.com", "verify_email").await;
    // Only the token's hash is recorded.
    let payloads = app
        .strings(
            "SELECT CAST(payload AS text) FROM events WHERE event_type = 'EmailVerificationIssued'",
        )
        .await;
    assert_eq!(payloads.len(), 1);
    assert!(!payloads[0].contains(&token));

    let wrong = app
        .post_json(
            "/sign/verify",
            &json!({ "token": format!("{}x", &token[..token.len() - 1]) }),
        )
        .await;
    ild_error(wrong, StatusCode::BAD_REQUEST).await;
    let verified = app
        .post_json("/sign/verify", &json!({ "token": token }))
        .await;
    assert_eq!(verified.status(), StatusCode::OK);
    assert_eq!(profile(&app, access).await["emailVerified"], true);
    let again = app
        .post_json("/sign/verify", &json!({ "token": token }))
        .await;
    let body = ild_error(again, StatusCode::BAD_REQUEST).await;
    assert_eq!(body["error"], "Bad Request");

    // Recorded with its metadata.
    let metadata = app
        .strings("SELECT CAST(metadata AS text) FROM events WHERE event_type = 'EmailVerified'")
        .await;
    assert_eq!(metadata.len(), 1);
    let metadata: Value = serde_json::from_str(&metadata[0]).expect("json");
    assert!(metadata["correlation_id"].is_string(), "{metadata}");
}

on_both_backends!(a_reset_link_replaces_the_password_once_and_ends_every_session);
async fn a_reset_link_replaces_the_password_once_and_ends_every_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let login = app.signed_in("bob@example.com", "correct horse").await;
    let access = login["token"].as_str().expect("token").to_string();
    let refresh = login["refreshToken"].as_str().expect("refresh").to_string();
    // A second session (another device): the reset must end it too.
    let second: Value = app
        .login("bob@example.com", "correct horse")
        .await
        .json()
        .await
        .expect("json");
    let second = second["token"].as_str().expect("token").to_string();

    let known = app
        .post_json("/sign/reset", &json!({ "email": "bob@example.com" }))
        .await;
    assert_eq!(known.status(), StatusCode::OK);
    let known: Value = known.json().await.expect("json");
    let unknown = app
        .post_json("/sign/reset", &json!({ "email": "nobody@example.com" }))
        .await;
    assert_eq!(unknown.status(), StatusCode::OK);
    let unknown: Value = unknown.json().await.expect("json");
    assert_eq!(
        known, unknown,
        "the answer tells whether the account exists"
    );

    let token = mailed_token(&app, "bob@example.com", "reset_password").await;
    // The unknown address gets no mail, also after the work done after
    // answering has had time to run.
    for _ in 0..10 {
        assert_eq!(mails(&app, "nobody@example.com", "reset_password").await, 0);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A well-formed token of this user that is not the one mailed.
    let owner = token.split('.').next().expect("owner part");
    let wrong = format!("{owner}.{}", "A".repeat(43));
    let refused = ild_error(
        app.post_json(
            &format!("/sign/reset/{wrong}"),
            &json!({ "password": "new battery staple" }),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("invalid")),
        "{refused}"
    );

    let weak = app
        .post_json(
            &format!("/sign/reset/{token}"),
            &json!({ "password": "short" }),
        )
        .await;
    ild_error(weak, StatusCode::BAD_REQUEST).await;
    let reset = app
        .post_json(
            &format!("/sign/reset/{token}"),
            &json!({ "password": "new battery staple" }),
        )
        .await;
    assert_eq!(reset.status(), StatusCode::OK);

    // Every session is over, at once.
    for token in [&access, &second] {
        assert_eq!(
            app.get_auth("/sign/check", token).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        app.refresh(&refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("bob@example.com", "correct horse").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("bob@example.com", "new battery staple")
            .await
            .status(),
        StatusCode::OK
    );
    // Used up.
    let reused = app
        .post_json(
            &format!("/sign/reset/{token}"),
            &json!({ "password": "another password" }),
        )
        .await;
    ild_error(reused, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE event_type = 'PasswordReset'")
            .await,
        1
    );
    crate::helpers::assert_recorded_with_metadata(&app, "PasswordReset", "user:").await;
    crate::helpers::assert_recorded_with_metadata(&app, "PasswordResetIssued", "anonymous").await;
}

on_both_backends!(a_reset_token_does_not_verify_and_a_verification_token_does_not_reset);
async fn a_reset_token_does_not_verify_and_a_verification_token_does_not_reset(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in("cy@example.com", "correct horse").await;
    let verification = mailed_token(&app, "cy@example.com", "verify_email").await;
    app.post_json("/sign/reset", &json!({ "email": "cy@example.com" }))
        .await;
    let reset = mailed_token(&app, "cy@example.com", "reset_password").await;

    let crossed = app
        .post_json("/sign/verify", &json!({ "token": reset }))
        .await;
    ild_error(crossed, StatusCode::BAD_REQUEST).await;
    let crossed = app
        .post_json(
            &format!("/sign/reset/{verification}"),
            &json!({ "password": "new battery staple" }),
        )
        .await;
    ild_error(crossed, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        app.count(
            "SELECT count(*) FROM events WHERE event_type IN ('EmailVerified', 'PasswordReset')"
        )
        .await,
        0
    );
}

on_both_backends!(expired_links_are_refused);
async fn expired_links_are_refused(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.mail_token_ttl = 1).await;
    app.signed_in("dee@example.com", "correct horse").await;
    app.post_json("/sign/reset", &json!({ "email": "dee@example.com" }))
        .await;
    let verification = mailed_token(&app, "dee@example.com", "verify_email").await;
    let reset = mailed_token(&app, "dee@example.com", "reset_password").await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let body = ild_error(
        app.post_json("/sign/verify", &json!({ "token": verification }))
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(body["message"]
        .as_str()
        .is_some_and(|m| m.contains("expired")));
    let body = ild_error(
        app.post_json(
            &format!("/sign/reset/{reset}"),
            &json!({ "password": "new battery staple" }),
        )
        .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("expired")),
        "{body}"
    );
}

on_both_backends!(malformed_requests_get_400_and_write_nothing);
async fn malformed_requests_get_400_and_write_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = app.event_count().await;
    for (path, body) in [
        ("/sign/verify", json!({})),
        ("/sign/verify", json!({ "token": "garbage" })),
        ("/sign/verify", json!({ "token": 42 })),
        ("/sign/reset", json!({})),
        ("/sign/reset", json!({ "email": "not an email" })),
        (
            "/sign/reset/garbage",
            json!({ "password": "new battery staple" }),
        ),
        ("/sign/reset/garbage", json!({})),
    ] {
        let response = app.post_json(path, &body).await;
        ild_error(response, StatusCode::BAD_REQUEST).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(app.event_count().await, before);
}

/// A minimal SMTP server collecting what it receives (each message's
/// DATA). Speaks just enough of RFC 5321 for a real client (lettre).
async fn smtp_sink() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let store = received.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let store = store.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 sink ESMTP\r\n").await;
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(message) = data.as_mut() {
                        if line == "." {
                            store.lock().expect("store").push(std::mem::take(message));
                            data = None;
                            let _ = write.write_all(b"250 queued\r\n").await;
                        } else {
                            message.push_str(&line);
                            message.push('\n');
                        }
                        continue;
                    }
                    let verb = line.split_whitespace().next().unwrap_or("").to_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "DATA" => {
                            data = Some(String::new());
                            b"354 end with .\r\n"
                        }
                        "QUIT" => b"221 bye\r\n",
                        _ => b"250 ok\r\n",
                    };
                    let _ = write.write_all(reply).await;
                    if verb == "QUIT" {
                        break;
                    }
                }
            });
        }
    });
    (port, received)
}

on_both_backends!(with_smtp_configured_the_mail_is_delivered_and_its_link_leaves_the_outbox);
async fn with_smtp_configured_the_mail_is_delivered_and_its_link_leaves_the_outbox(
    backend: Backend,
) {
    let (port, received) = smtp_sink().await;
    let app = spawn_app_with(backend, |c| {
        c.smtp_url = Some(format!("smtp://127.0.0.1:{port}").into());
        c.mail_from = "ILD <no-reply@example.org>".to_string();
    })
    .await;
    app.signed_in("eve@example.com", "correct horse").await;
    let mut mail = None;
    for _ in 0..200 {
        mail = received.lock().expect("received").first().cloned();
        if mail.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let raw = mail.expect("a mail reached the SMTP server");
    // Long lines arrive quoted-printable: undo soft breaks and `=3D`.
    let mail = raw.replace("=\n", "").replace("=3D", "=");
    assert!(mail.contains("To: eve@example.com"), "{mail}");
    assert!(mail.contains("From: ILD <no-reply@example.org>"), "{mail}");
    let start = mail.find("token=").expect("a link") + "token=".len();
    let token: String = mail[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-' || *c == '_')
        .collect();
    let verified = app
        .post_json("/sign/verify", &json!({ "token": token }))
        .await;
    assert_eq!(verified.status(), StatusCode::OK);
    // Sent: marked so, and the link no longer sits in the table.
    let mut left = 1;
    for _ in 0..100 {
        left = app
            .count("SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL OR body IS NOT NULL")
            .await;
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(left, 0);
}

on_both_backends!(repeated_reset_requests_send_one_mail_a_minute_and_answer_the_same);
async fn repeated_reset_requests_send_one_mail_a_minute_and_answer_the_same(backend: Backend) {
    let app = spawn_app(backend).await;
    app.signed_in("flood@example.com", "correct horse").await;
    let mut answers = Vec::new();
    for _ in 0..5 {
        let response = app
            .post_json("/sign/reset", &json!({ "email": "flood@example.com" }))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        answers.push(response.json::<Value>().await.expect("json"));
        // Each request's work is done after its answer: let it finish.
        mailed_token(&app, "flood@example.com", "reset_password").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(mails(&app, "flood@example.com", "reset_password").await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE event_type = 'PasswordResetIssued'")
            .await,
        1
    );
}
