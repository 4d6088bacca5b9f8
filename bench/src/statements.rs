//! How many SQL statements a command costs, on the request path and in
//! the background (projector, security feed, relay), counted from
//! PostgreSQL's own statement log rather than from our reading of the code.
//!
//! `log_statement = 'all'` is switched on for the whole server for the
//! scenario's length (`ALTER SYSTEM` + reload: existing connections pick
//! it up too) and off again after; the lines of the bench's database are
//! read back from the server's log file. Each statement sqlx sends is one
//! round trip (parse, bind and execute go together), so the counts are
//! round trips as well.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use eventauth::App;
use futures::FutureExt;
use serde_json::json;

/// A statement's part in a command's life, told by its text.
fn kind(sql: &str) -> &'static str {
    let s = sql.to_ascii_lowercase();
    let s = s.trim();
    if s.starts_with("insert into events") {
        "append"
    } else if s.contains("from aggregate_snapshots") && s.contains("union all") {
        "load"
    } else if s.contains("data_keys") {
        "data key"
    } else if s.contains("pg_try_advisory") || s.contains("checkpoints") {
        "consumer bookkeeping"
    } else if s.contains("from events") {
        "log read (projector, feed, relay)"
    } else if s == "begin" || s == "commit" || s == "rollback" || s.starts_with("begin ") {
        "transaction control"
    } else if s.starts_with("select") {
        "read-model read"
    } else {
        "read-model write"
    }
}

/// The log lines of `db` written since `offset`: each statement's text.
fn statements_since(log: &str, offset: u64, db: &str) -> anyhow::Result<Vec<String>> {
    let mut file = std::fs::File::open(log).with_context(|| format!("opening {log}"))?;
    file.seek(SeekFrom::Start(offset))?;
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    let ours = format!("@{db} LOG:  ");
    let mut found: Vec<String> = Vec::new();
    // A statement's later lines follow its log line as they are; a line
    // of the log's own starts with its timestamp.
    let mut open = false;
    for line in text.lines() {
        let logged = line.starts_with("20") && line.contains(" UTC [");
        if !logged {
            if open {
                if let Some(last) = found.last_mut() {
                    last.push(' ');
                    last.push_str(line.trim());
                }
            }
            continue;
        }
        open = false;
        let Some(at) = line.find(&ours) else {
            continue;
        };
        let rest = &line[at + ours.len()..];
        let sql = if let Some(sql) = rest.strip_prefix("statement: ") {
            sql
        } else if let Some(execute) = rest.strip_prefix("execute ") {
            execute.split_once(": ").map_or(execute, |(_, sql)| sql)
        } else {
            continue;
        };
        found.push(sql.trim().to_string());
        open = true;
    }
    Ok(found)
}

fn log_size(log: &str) -> anyhow::Result<u64> {
    Ok(std::fs::metadata(log)
        .with_context(|| format!("reading {log}"))?
        .len())
}

async fn log_all(app: &App, on: bool) -> anyhow::Result<()> {
    let projections::Db::Postgres(pool) = app.store.db() else {
        anyhow::bail!("the statements scenario counts PostgreSQL's statements");
    };
    let set = if on {
        "ALTER SYSTEM SET log_statement = 'all'"
    } else {
        "ALTER SYSTEM RESET log_statement"
    };
    sqlx::query(set).execute(pool).await?;
    sqlx::query("SELECT pg_reload_conf()").execute(pool).await?;
    // Backends read the new setting before their next statement.
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(())
}

/// One command type measured at one concurrency.
#[derive(Debug)]
pub struct Counted {
    pub name: &'static str,
    pub clients: usize,
    pub commands: usize,
    /// Statements per command, by [`kind`].
    pub per_command: BTreeMap<&'static str, f64>,
}

impl Counted {
    pub fn total(&self) -> f64 {
        self.per_command.values().sum()
    }

    pub fn json(&self) -> serde_json::Value {
        json!({ "command": self.name, "clients": self.clients, "commands": self.commands,
                "statements_per_command": self.total(), "by_kind": self.per_command })
    }
}

/// Counts the statements of each command type at 1 and at `clients`
/// clients (`seconds` of commands each), the background's share included:
/// every count waits until the read models have caught up.
pub async fn run(
    app: &App,
    client: &reqwest::Client,
    base: &str,
    db: &str,
    log: &str,
    clients: usize,
    seconds: u64,
) -> anyhow::Result<Vec<Counted>> {
    let mut tokens = Vec::with_capacity(clients);
    for i in 0..clients {
        let email = format!("statements{i}@example.com");
        crate::register(client, base, &email).await?;
        tokens.push(crate::login_token(client, base, &email).await?);
    }
    let tokens = Arc::new(tokens);
    let kinds: [&'static str; 3] = ["profile update", "password login", "token check"];
    log_all(app, true).await?;
    let mut counted = Vec::new();
    let outcome = async {
        for name in kinds {
            for n in [1, clients] {
                crate::caught_up(app, crate::CAUGHT_UP_POLL).await?;
                tokio::time::sleep(Duration::from_millis(200)).await;
                let offset = log_size(log)?;
                let (client, base, tokens) = (client.clone(), base.to_string(), tokens.clone());
                let (per_s, _) = crate::for_seconds(n, seconds, move |who, i| {
                    let request = match name {
                        "profile update" => client
                            .put(format!("{base}/user/profile"))
                            .json(&json!({ "nickname": format!("s{i}") })),
                        "password login" => {
                            return crate::answered(
                                client.post(format!("{base}/sign/login")).json(
                                    &json!({ "email": format!("statements{who}@example.com"),
                                         "password": crate::PASSWORD }),
                                ),
                            )
                            .boxed();
                        }
                        _ => client.get(format!("{base}/sign/check")),
                    };
                    crate::answered(request.bearer_auth(&tokens[who])).boxed()
                })
                .await;
                let commands = (per_s * seconds as f64).round() as usize;
                crate::caught_up(app, crate::CAUGHT_UP_POLL).await?;
                tokio::time::sleep(Duration::from_millis(500)).await;
                let mut per_command = BTreeMap::new();
                let mut shapes: BTreeMap<String, usize> = BTreeMap::new();
                for sql in statements_since(log, offset, db)? {
                    *per_command.entry(kind(&sql)).or_insert(0.0) += 1.0;
                    let shape: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
                    *shapes.entry(shape.chars().take(160).collect()).or_default() += 1;
                }
                if std::env::var_os("EVENTAUTH_BENCH_SHAPES").is_some() {
                    for (shape, count) in &shapes {
                        eprintln!("{name} {n}: {count} × {shape}");
                    }
                }
                for value in per_command.values_mut() {
                    *value /= commands.max(1) as f64;
                }
                counted.push(Counted {
                    name,
                    clients: n,
                    commands,
                    per_command,
                });
            }
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    log_all(app, false).await?;
    outcome.map(|()| counted)
}
