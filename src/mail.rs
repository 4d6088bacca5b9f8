//! Outgoing mail: one [`Mailer`] (SMTP through `lettre`), fed by a durable
//! outbox table.
//!
//! A use case queues a mail ([`Outbox::queue`]) after its event committed
//! and before it answers, so an acknowledged request's mail survives a
//! crash. With SMTP configured, each instance runs a sender
//! ([`run_sender`]) that claims due rows (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, so instances never send one mail twice at once), sends them,
//! clears the body (the link with its token) once sent, and retries
//! failures with backoff until the link expires. Without SMTP the rows stay
//! in `mail_outbox`: the outbox an operator (and the tests) read.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use projections::Db;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::watch;
use uuid::Uuid;

/// Rows claimed per round.
const CLAIM: i64 = 20;
/// How long a claimed row is left to its sender before another may try.
const LEASE: Duration = Duration::from_secs(300);

/// A mail to send.
#[derive(Debug, Clone)]
pub struct Mail {
    /// What it is for (`verify_email`, `reset_password`).
    pub purpose: &'static str,
    /// The user it concerns.
    pub user_id: Option<Uuid>,
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// When its link stops working (no delivery after).
    pub expires_at: DateTime<Utc>,
}

/// Sends one mail.
#[async_trait::async_trait]
pub trait Mailer: Send + Sync + std::fmt::Debug {
    /// Delivers `body` to `to`.
    async fn send(&self, to: &str, subject: &str, body: &str) -> anyhow::Result<()>;
}

/// SMTP.
#[derive(Debug)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    /// From `smtp://…` / `smtps://…` and a sender.
    pub fn new(url: &SecretString, from: &str) -> anyhow::Result<Self> {
        Ok(Self {
            transport: AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                .context("EVENTAUTH_SMTP_URL is not a valid smtp:// URL")?
                .build(),
            from: from
                .parse()
                .context("EVENTAUTH_MAIL_FROM is not a mailbox")?,
        })
    }
}

#[async_trait::async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, to: &str, subject: &str, body: &str) -> anyhow::Result<()> {
        let message = Message::builder()
            .from(self.from.clone())
            .to(to.parse().context("recipient")?)
            .subject(subject)
            .body(body.to_string())?;
        self.transport.send(message).await?;
        Ok(())
    }
}

/// The `mail_outbox` table.
#[derive(Debug, Clone)]
pub struct Outbox {
    db: Db,
}

/// A row claimed for sending.
#[derive(Debug, sqlx::FromRow)]
struct Due {
    id: Uuid,
    recipient: String,
    subject: String,
    body: Option<String>,
    expires_at: DateTime<Utc>,
    attempts: i32,
}

impl Outbox {
    /// The outbox of `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Queues a mail (durably: it is sent even if this instance stops).
    pub async fn queue(&self, mail: Mail) -> Result<(), sqlx::Error> {
        let now = Utc::now();
        let sql = "INSERT INTO mail_outbox (id, purpose, user_id, recipient, subject, body,
                                           created_at, expires_at, next_attempt_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7)";
        let id = Uuid::now_v7();
        projections::execute_on!(
            &self.db,
            sql,
            id,
            mail.purpose,
            mail.user_id,
            &mail.to,
            &mail.subject,
            &mail.body,
            now,
            mail.expires_at
        )?;
        Ok(())
    }

    /// Claims due rows (leasing them), so no other sender takes them.
    async fn claim(&self) -> Result<Vec<Due>, sqlx::Error> {
        let now = Utc::now();
        let lease = now + chrono::Duration::from_std(LEASE).unwrap_or_default();
        match &self.db {
            Db::Postgres(pool) => {
                sqlx::query_as(
                    "UPDATE mail_outbox SET next_attempt_at = $2, attempts = attempts + 1
                      WHERE id IN (SELECT id FROM mail_outbox
                                    WHERE sent_at IS NULL AND next_attempt_at <= $1
                                    ORDER BY next_attempt_at LIMIT $3
                                    FOR UPDATE SKIP LOCKED)
                      RETURNING id, recipient, subject, body, expires_at, attempts",
                )
                .bind(now)
                .bind(lease)
                .bind(CLAIM)
                .fetch_all(pool)
                .await
            }
            Db::Sqlite { writer, .. } => {
                sqlx::query_as(
                    "UPDATE mail_outbox SET next_attempt_at = ?2, attempts = attempts + 1
                      WHERE id IN (SELECT id FROM mail_outbox
                                    WHERE sent_at IS NULL AND next_attempt_at <= ?1
                                    ORDER BY next_attempt_at LIMIT ?3)
                      RETURNING id, recipient, subject, body, expires_at, attempts",
                )
                .bind(now)
                .bind(lease)
                .bind(CLAIM)
                .fetch_all(writer)
                .await
            }
        }
    }

    /// Records how a claimed row's delivery went.
    async fn settle(&self, id: Uuid, outcome: Result<(), String>, retry_at: DateTime<Utc>) {
        let now = Utc::now();
        let (sql, error) = match outcome {
            Ok(()) => (
                "UPDATE mail_outbox SET sent_at = $2, body = NULL, last_error = NULL WHERE id = $1",
                None,
            ),
            // A link past its expiry is never retried: its body (the link)
            // goes, as after a delivery.
            Err(error) => (
                "UPDATE mail_outbox SET next_attempt_at = $3, last_error = $4,
                        body = CASE WHEN expires_at <= $2 THEN NULL ELSE body END
                  WHERE id = $1",
                Some(error),
            ),
        };
        let result = projections::execute_on!(&self.db, sql, id, now, retry_at, error);
        if let Err(error) = result {
            tracing::error!(error = %error, mail = %id, "could not record a mail's delivery");
        }
    }

    /// One round: sends what is due. Returns how many were sent.
    pub async fn deliver_due(&self, mailer: &dyn Mailer) -> Result<usize, sqlx::Error> {
        let mut sent = 0;
        for due in self.claim().await? {
            let now = Utc::now();
            let outcome = match &due.body {
                _ if due.expires_at <= now => Err("expired before it could be sent".to_string()),
                None => Err("no body".to_string()),
                Some(body) => mailer
                    .send(&due.recipient, &due.subject, body)
                    .await
                    // Servers quote the recipient in their replies: it stays
                    // out of the log and the table.
                    .map_err(|e| format!("{e:#}").replace(&due.recipient, "<recipient>")),
            };
            // Backoff 30 s, 1 min, 2 min, … (capped at 30 min); an expired
            // link is never retried.
            let backoff = 30i64 << due.attempts.clamp(1, 6).saturating_sub(1);
            let retry_at = if due.expires_at <= now {
                DateTime::<Utc>::MAX_UTC
            } else {
                now + chrono::Duration::seconds(backoff.min(1800))
            };
            match &outcome {
                Ok(()) => {
                    sent += 1;
                    metrics::counter!("eventauth_mail_sent_total").increment(1);
                }
                Err(error) => {
                    tracing::warn!(mail = %due.id, attempts = due.attempts, error = %error, "mail not sent");
                    metrics::counter!("eventauth_mail_failed_total").increment(1);
                }
            }
            self.settle(due.id, outcome, retry_at).await;
        }
        Ok(sent)
    }
}

/// Sends due mail every few seconds until `stop`.
pub async fn run_sender(outbox: Outbox, mailer: Box<dyn Mailer>, mut stop: watch::Receiver<bool>) {
    loop {
        let pause = match outbox.deliver_due(mailer.as_ref()).await {
            Ok(n) if n > 0 => Duration::from_millis(100),
            Ok(_) => Duration::from_secs(2),
            Err(error) => {
                tracing::error!(error = %error, "mail outbox unavailable");
                Duration::from_secs(10)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            () = projections::wake::stopped(&mut stop) => return,
        }
    }
}
