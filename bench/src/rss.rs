//! The server's memory with many users: a store loaded with `eventauth
//! import`, then a process that serves eventauth and nothing else (this
//! binary with `--serve-only`, so the bench's own memory is not counted),
//! driven with logins and list requests; its resident set read from
//! `/proc`.

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use anyhow::Context;
use eventauth::startup::Application;
use serde_json::json;

use crate::{Args, Credential};

/// What the `rss` scenario measured.
#[derive(Debug)]
pub struct RssRun {
    /// Users in the store.
    pub users: usize,
    /// Resident set after the requests.
    pub rss_mib: f64,
    /// Its peak over the process's life.
    pub peak_mib: f64,
    /// Resident set once started (read models caught up).
    pub start_mib: f64,
    /// Requests served before the reading.
    pub requests: usize,
    /// How long the import took.
    pub import_seconds: f64,
}

/// Serves eventauth on `url` until standard input closes; prints the
/// address first.
pub async fn serve_only(url: &str) -> anyhow::Result<()> {
    let mut config = crate::bench_config();
    config.database_url = Some(url.to_string().into());
    let application = Application::build(config).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", application.local_addr())?;
        out.flush()?;
    }
    application
        .run_until_stopped(async {
            let _ = tokio::task::spawn_blocking(|| {
                let mut line = String::new();
                let _ = std::io::stdin().lock().read_line(&mut line);
            })
            .await;
        })
        .await
}

/// Imports `--rss-users` facility users (existing Django hashes) into a
/// database of its own, then measures a serving process on it.
pub async fn run(args: &Args, admin: &mut sqlx::PgConnection) -> anyhow::Result<RssRun> {
    let name = format!("eventauth_bench_rss_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut *admin)
        .await?;
    let url = format!("{}/{name}", args.pg);
    let outcome = measure(args, &url).await;
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut *admin)
        .await;
    outcome
}

async fn measure(args: &Args, url: &str) -> anyhow::Result<RssRun> {
    let users = args.rss_users;
    let (facility, import_seconds) = load(url, users).await?;

    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .args(["--serve-only", url])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().context("server pid")?;
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().context("stdout")?);
    let mut address = String::new();
    tokio::io::AsyncBufReadExt::read_line(&mut stdout, &mut address).await?;
    let base = format!("http://{}", address.trim());
    let client = crate::http_client()?;
    // Ready once the health check answers.
    let started = Instant::now();
    loop {
        let ready = client.get(format!("{base}/ready")).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "the server did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let start_mib = status_mib(pid, "VmRSS")?;

    // A superuser's session, then lists and searches from many clients,
    // and logins of imported users (their Django hashes verified).
    let cookie = crate::session_cookie(
        &client,
        &format!("{base}/api/auth/session"),
        &json!({ "username": "rssadmin", "password": crate::PASSWORD,
                 "facility": facility.simple().to_string() }),
    )
    .await?;
    let seconds = args.seconds.max(1);
    let mut requests = 0;
    for query in [
        "page_size=50&page=1",
        "page_size=50&page=100",
        "search=user4242&page_size=50",
    ] {
        let (rate, _) = crate::drive(
            &client,
            &format!("{base}/api/auth/facilityuser?{query}"),
            Some(Credential::Cookie(&cookie)),
            args.check_clients,
            seconds,
        )
        .await;
        requests += (rate * seconds as f64) as usize;
    }
    for i in 0..users.min(20) {
        crate::session_cookie(
            &client,
            &format!("{base}/api/auth/session"),
            &json!({ "username": format!("user{i}"), "password": crate::PASSWORD,
                     "facility": facility.simple().to_string() }),
        )
        .await
        .context("login of an imported user")?;
        requests += 1;
    }
    let rss_mib = status_mib(pid, "VmRSS")?;
    let peak_mib = status_mib(pid, "VmHWM")?;
    drop(child.stdin.take());
    let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
    Ok(RssRun {
        users,
        rss_mib,
        peak_mib,
        start_mib,
        requests,
        import_seconds,
    })
}

/// A facility with a superuser, and `users` users imported into it with
/// one Django PBKDF2 hash of the bench's password (computed here), read
/// models caught up. Returns the facility and the import's seconds.
async fn load(url: &str, users: usize) -> anyhow::Result<(uuid::Uuid, f64)> {
    let mut config = crate::bench_config();
    config.database_url = Some(url.to_string().into());
    let application = Application::build(config).await?;
    let app = application.app().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let facility = crate::facility_with_superuser(&app, "Memory", "rssadmin").await?;

    let file = std::env::temp_dir().join(format!("eventauth-bench-{}.csv", uuid::Uuid::new_v4()));
    {
        let hash = django_hash(crate::PASSWORD);
        let mut out = std::io::BufWriter::new(std::fs::File::create(&file)?);
        writeln!(out, "username,password_hash,full_name")?;
        for i in 0..users {
            writeln!(out, "user{i},{hash},First{} Last{}", i % 1000, i % 977)?;
        }
        out.flush()?;
    }
    eprintln!("importing {users} users…");
    let started = Instant::now();
    let report = eventauth::ops::import::import(
        &app,
        &eventauth::ops::import::ImportArgs {
            facility,
            file: file.clone(),
            abort_on_error: false,
            batch: 10_000,
            benchmark_share_hashes: false,
        },
    )
    .await;
    let _ = std::fs::remove_file(&file);
    let report = report?;
    let import_seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        report.imported == users,
        "imported {} of {users}",
        report.imported
    );
    crate::caught_up(&app, crate::CAUGHT_UP_POLL).await?;
    let _ = stop.send(());
    let _ = server.await;
    Ok((facility, import_seconds))
}

/// A Django `pbkdf2_sha256` hash of `password` (1,000 iterations: logins
/// of imported users stay cheap; the format is what matters here).
fn django_hash(password: &str) -> String {
    use base64::Engine;
    let salt = "benchsalt";
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password.as_bytes(), salt.as_bytes(), 1_000, &mut key);
    format!(
        "pbkdf2_sha256$1000${salt}${}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

/// A `/proc/<pid>/status` memory line, in MiB.
fn status_mib(pid: u32, field: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("{field} of {pid}"))?;
    Ok(kib / 1024.0)
}
