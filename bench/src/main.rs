//! `eventauth-bench`: measures eventauth against references run in the same
//! process on the same machine, so ratios stay meaningful on any hardware.
//!
//! It creates a database of its own on the given PostgreSQL server, starts
//! the service in-process on a free port, seeds users over HTTP and drives
//! the scenarios below; then prints a table and one JSON document.
//! See docs/benchmarks.md.

/// The allocator the service binary ships with (`src/main.rs`): the bench
/// measures the service as it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aggregates::{User, UserCommand};
use anyhow::Context;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use clap::Parser;
use eventauth::service::RequestContext;
use eventauth::startup::Application;
use eventauth::{App, Config};
use serde_json::{json, Value};
use sqlx::Connection;

mod catchup;
mod commands;
mod rss;
mod statements;

/// Benchmarks eventauth.
#[derive(Debug, Parser)]
struct Args {
    /// PostgreSQL server (a database is created on it and dropped after).
    #[arg(
        long,
        env = "EVENTAUTH_BENCH_PG",
        default_value = "postgres://postgres@127.0.0.1:5432"
    )]
    pg: String,
    /// Seconds per throughput scenario.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Concurrent clients for logins.
    #[arg(long, default_value_t = 8)]
    login_clients: usize,
    /// Concurrent clients for token checks.
    #[arg(long, default_value_t = 32)]
    check_clients: usize,
    /// Commands for the commit → read-model scenario.
    #[arg(long, default_value_t = 1000)]
    commands: usize,
    /// Scenarios to run (comma-separated):
    /// argon2,login,check,v1-login,v1-session,doubtfire,saml,setup-race,visibility,nats,list,kolibri,commands,stream,seal,erase,relay,replay,rss;
    /// and, only when named, `statements` (PostgreSQL only; it turns the
    /// server's statement log on for its length) and `catchup` (a backlog
    /// of profile updates to existing users, appended to the log, and the
    /// projector catching up).
    #[arg(
        long,
        default_value = "argon2,login,check,v1-login,v1-session,doubtfire,saml,setup-race,visibility,nats,list,kolibri,commands,stream,seal,erase,relay,replay,rss"
    )]
    scenarios: String,
    /// The service's store: `postgres` (a database on `--pg`) or `sqlite`
    /// (the embedded default, in a temporary directory). `relay`, `replay`
    /// and `rss` always run on PostgreSQL.
    #[arg(long, default_value = "postgres")]
    backend: String,
    /// Concurrent clients of the `commands` scenario and its reference.
    #[arg(long, default_value_t = 32)]
    command_clients: usize,
    /// Events in the long stream of the `stream` scenario.
    #[arg(long, default_value_t = 100_000)]
    stream_events: usize,
    /// Commands on each stream in the `stream` scenario.
    #[arg(long, default_value_t = 500)]
    stream_commands: usize,
    /// Users imported for the `rss` scenario.
    #[arg(long, default_value_t = 1_000_000)]
    rss_users: usize,
    /// A live Kolibri (its base URL) to drive with the `kolibri` scenario's
    /// requests too, for a side-by-side ratio; load it with as many users
    /// as `--list-users` (e.g. `kolibri manage importusers`).
    #[arg(long)]
    kolibri: Option<String>,
    /// A superuser or facility admin of that Kolibri.
    #[arg(long, env = "KOLIBRI_USERNAME", default_value = "admin")]
    kolibri_username: String,
    /// Their password.
    #[arg(long, env = "KOLIBRI_PASSWORD", default_value = "")]
    kolibri_password: String,
    /// Internal: serve eventauth on this store and nothing else (the `rss`
    /// scenario measures such a process).
    #[arg(long, hide = true)]
    serve_only: Option<String>,
    /// NATS server for the `nats` and `relay` scenarios (a stream of the
    /// bench's own is created and deleted).
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// Commands per second in the `nats` scenario.
    #[arg(long, default_value_t = 500)]
    rate: u64,
    /// Events the `relay` scenario publishes.
    #[arg(long, default_value_t = 100_000)]
    relay_events: usize,
    /// Users in the read model for the `list` and `kolibri` scenarios.
    #[arg(long, default_value_t = 100_000)]
    list_users: usize,
    /// Events the `replay` scenario rebuilds.
    #[arg(long, default_value_t = 1_000_000)]
    replay_events: usize,
    /// PostgreSQL's log file, for the `statements` scenario (which turns
    /// `log_statement = 'all'` on for its length).
    #[arg(long, default_value = "/var/log/postgresql/postgresql-15-main.log")]
    pg_log: String,
    /// Events on the stream of the user the `erase` scenario erases.
    #[arg(long, default_value_t = 10_000)]
    erase_events: usize,
}

#[derive(Debug, Default)]
struct Latencies(Vec<Duration>);

impl Latencies {
    fn percentile(&mut self, p: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.sort_unstable();
        let index = ((self.0.len() as f64 - 1.0) * p).round() as usize;
        self.0[index].as_secs_f64() * 1000.0
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(url) = &args.serve_only {
        return rss::serve_only(url).await;
    }
    progress("starting the service");
    let wanted: Vec<&str> = args.scenarios.split(',').map(str::trim).collect();
    let sqlite = match args.backend.as_str() {
        "postgres" => false,
        "sqlite" => true,
        other => anyhow::bail!("--backend is postgres or sqlite, not {other}"),
    };
    let db = format!("eventauth_bench_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", args.pg))
        .await
        .context("connecting to PostgreSQL")?;
    let data_dir = std::env::temp_dir().join(&db);

    let mut config = bench_config();
    if sqlite {
        std::fs::create_dir_all(&data_dir)?;
        config.data_dir = data_dir.clone();
        config.database_url = None;
    } else {
        sqlx::query(&format!("CREATE DATABASE {db}"))
            .execute(&mut admin)
            .await?;
        config.database_url = Some(format!("{}/{db}", args.pg).into());
    }
    config.login_max_failures_per_ip = u32::MAX;
    // Open Archiver's per-IP request limit would cap every `/v1` scenario
    // (all clients are one IP) at 100 a minute.
    config.openarchiver_rate_limit = 0;
    // Every bench client signs itself up from the one address.
    config.registrations_per_ip = 0;
    // The service relays to a stream of the bench's own (the `nats`
    // scenario subscribes to it; every other scenario runs with the relay
    // active, as in production).
    let bench_id = uuid::Uuid::new_v4().simple().to_string();
    let stream = format!("EVENTAUTH_BENCH_{}", &bench_id[..12]).to_uppercase();
    let prefix = format!("eabench{}", &bench_id[..12]);
    config.nats_url = Some(args.nats.clone().into());
    config.nats_stream = stream.clone();
    config.nats_subject_prefix = prefix.clone();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let argon = (
        config.argon2_memory_kib,
        config.argon2_iterations,
        config.argon2_parallelism,
    );

    let application = Application::build(config).await?;
    let base = format!("http://{}", application.local_addr());
    let app = application.app().clone();
    // The Kolibri surface's list cache, measured with and without.
    let kolibri_lists = application
        .surfaces()
        .iter()
        .find_map(|surface| {
            surface
                .as_any()
                .downcast_ref::<eventauth::surfaces::kolibri::KolibriSurface>()
                .map(|kolibri| kolibri.list_cache_handle())
        })
        .ok_or_else(|| anyhow::anyhow!("no Kolibri surface"))?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until_stopped(async {
        let _ = stop_rx.await;
    }));
    let client = http_client()?;

    let users = seed(&client, &base, 16).await?;
    let mut results = serde_json::Map::new();
    let mut rows: Vec<(String, String, String)> = Vec::new();

    let mut bare_argon2 = None;
    if starts(&wanted, "argon2") {
        let rate = bare_argon2_verifications(argon, cores, Duration::from_secs(args.seconds))?;
        rows.push((
            "bare argon2id verifications/s".into(),
            format!("{rate:.1}"),
            format!("{cores} threads"),
        ));
        results.insert("argon2_verifications_per_s".into(), json!(rate));
        bare_argon2 = Some(rate);
    }
    if starts(&wanted, "login") {
        let (rate, mut lat) = login_throughput(
            &client,
            &base,
            "/sign/login",
            &users,
            args.login_clients,
            args.seconds,
        )
        .await;
        let ratio = bare_argon2.map(|a| rate / a);
        rows.push((
            "password logins/s".into(),
            format!("{rate:.1}"),
            format!(
                "p50 {:.1} ms, p99 {:.1} ms{}",
                lat.percentile(0.5),
                lat.percentile(0.99),
                ratio
                    .map(|r| format!(", {r:.2}× bare argon2"))
                    .unwrap_or_default()
            ),
        ));
        results.insert(
            "login".into(),
            json!({ "per_s": rate, "p50_ms": lat.percentile(0.5), "p99_ms": lat.percentile(0.99), "ratio_to_argon2": ratio }),
        );
    }
    if starts(&wanted, "check") {
        let token = login_token(&client, &base, &users[0]).await?;
        let url = format!("{base}/sign/check");
        let (rate, mut lat) = drive(
            &client,
            &url,
            Some(Credential::Bearer(&token)),
            args.check_clients,
            args.seconds,
        )
        .await;
        let (bare_rate, mut bare_lat) =
            bare_axum(&client, args.check_clients, args.seconds).await?;
        rows.push((
            "GET /sign/check req/s".into(),
            format!("{rate:.0}"),
            format!(
                "p50 {:.2} ms, p99 {:.2} ms, {:.2}× bare axum",
                lat.percentile(0.5),
                lat.percentile(0.99),
                rate / bare_rate
            ),
        ));
        rows.push((
            "bare axum endpoint req/s".into(),
            format!("{bare_rate:.0}"),
            format!(
                "p50 {:.2} ms, p99 {:.2} ms",
                bare_lat.percentile(0.5),
                bare_lat.percentile(0.99)
            ),
        ));
        results.insert(
            "check".into(),
            json!({ "per_s": rate, "p50_ms": lat.percentile(0.5), "p99_ms": lat.percentile(0.99),
                    "bare_axum_per_s": bare_rate, "ratio_to_bare_axum": rate / bare_rate }),
        );
    }
    if starts(&wanted, "v1-login") {
        let (rate, mut lat) = login_throughput(
            &client,
            &base,
            "/v1/auth/login",
            &users,
            args.login_clients,
            args.seconds,
        )
        .await;
        let ratio = bare_argon2.map(|a| rate / a);
        rows.push((
            "POST /v1/auth/login (Open Archiver + Backstack) logins/s".into(),
            format!("{rate:.1}"),
            format!(
                "p50 {:.1} ms, p99 {:.1} ms{}",
                lat.percentile(0.5),
                lat.percentile(0.99),
                ratio
                    .map(|r| format!(", {r:.2}× bare argon2"))
                    .unwrap_or_default()
            ),
        ));
        results.insert(
            "v1_login".into(),
            json!({ "per_s": rate, "p50_ms": lat.percentile(0.5), "p99_ms": lat.percentile(0.99), "ratio_to_argon2": ratio }),
        );
    }
    if starts(&wanted, "v1-session") {
        let cookie = backstack_cookie(&app, &client, &base, &users[0]).await?;
        let session = format!("{base}/v1/auth/session");
        let args_ = (&client, base.as_str(), users[0].as_str(), &args);
        let (row, figures) = against_check(
            args_,
            &session,
            Credential::Cookie(&cookie),
            "GET /v1/auth/session (Backstack)",
        )
        .await?;
        rows.push(row);
        results.insert("v1_session".into(), figures);
    }
    if starts(&wanted, "doubtfire") {
        let signed_in: Value = client
            .post(format!("{base}/api/auth"))
            .json(&json!({ "username": users[0], "password": PASSWORD }))
            .send()
            .await?
            .json()
            .await?;
        let token = signed_in["auth_token"].as_str().context("no auth_token")?;
        let me = format!("{base}/api/users/{}", signed_in["user"]["id"]);
        let args_ = (&client, base.as_str(), users[0].as_str(), &args);
        let credential = Credential::HeaderToken(token, &users[0]);
        let (row, figures) = against_check(
            args_,
            &me,
            credential,
            "GET /api/users/{id} (Doubtfire, Auth-Token)",
        )
        .await?;
        rows.push(row);
        results.insert("doubtfire".into(), figures);
    }
    if starts(&wanted, "saml") {
        let (rate, argon_rate) = saml_verifications(argon, Duration::from_secs(args.seconds))?;
        rows.push((
            "SAML response verifications/s (one core)".into(),
            format!("{rate:.0}"),
            format!(
                "RSA-2048/SHA-256 signed assertion, parse + signature + rules; {:.1}× a bare argon2id verification on one core ({argon_rate:.0}/s)",
                rate / argon_rate
            ),
        ));
        results.insert(
            "saml".into(),
            json!({ "verifications_per_s": rate, "argon2_per_s_one_core": argon_rate,
                    "ratio_to_argon2": rate / argon_rate }),
        );
    }
    if starts(&wanted, "setup-race") {
        let wall = setup_race(&args, &mut admin, sqlite).await?;
        rows.push((
            "50 concurrent /v1/auth/setup on an empty store".into(),
            format!("{:.0} ms", wall * 1000.0),
            "wall time until all 50 answered (one 201, 49 × 403)".into(),
        ));
        results.insert("setup_race_ms".into(), json!(wall * 1000.0));
    }
    if starts(&wanted, "catchup") {
        let (n, inserted, total) = catchup::run(&app, &users).await?;
        rows.push((
            "catch-up of profile updates to existing users events/s".into(),
            format!("{:.0}", n as f64 / total),
            format!(
                "{n} events over {} users: appended in {inserted:.2} s, all projected {total:.2} s after the first",
                users.len()
            ),
        ));
        results.insert(
            "catchup".into(),
            json!({ "events": n, "appended_s": inserted, "projected_s": total,
                    "per_s": n as f64 / total }),
        );
    }
    if starts(&wanted, "visibility") {
        let mut lat = visibility(&app, &users, args.commands).await?;
        rows.push((
            "commit → read model visible".into(),
            format!("p50 {:.2} ms", lat.percentile(0.5)),
            format!(
                "p99 {:.2} ms over {} commands",
                lat.percentile(0.99),
                args.commands
            ),
        ));
        results.insert(
            "visibility".into(),
            json!({ "p50_ms": lat.percentile(0.5), "p99_ms": lat.percentile(0.99), "commands": args.commands }),
        );
    }

    if starts(&wanted, "nats") {
        let mut lat = nats_latency(&app, &args.nats, &prefix, args.rate, args.seconds).await?;
        rows.push((
            "commit → NATS subscriber".into(),
            format!("p50 {:.2} ms", lat.percentile(0.5)),
            format!(
                "p99 {:.2} ms over {} commands at {}/s",
                lat.percentile(0.99),
                lat.0.len(),
                args.rate
            ),
        ));
        results.insert(
            "nats".into(),
            json!({ "p50_ms": lat.percentile(0.5), "p99_ms": lat.percentile(0.99),
                    "commands": lat.0.len(), "rate": args.rate }),
        );
    }

    let admin_token = if wanted.contains(&"list") || wanted.contains(&"commands") {
        Some(admin_token(&app, &client, &base).await?)
    } else {
        None
    };
    if starts(&wanted, "list") {
        let token = admin_token.clone().context("admin")?;
        seed_user_rows(&app, args.list_users).await?;
        let queries = [
            ("first page", "page=1&pageSize=50"),
            ("deep page", "page=1000&pageSize=50"),
            ("sorted by email", "page=10&pageSize=50&sort=email"),
            ("search", "search=user4242&pageSize=50"),
        ];
        let mut list = serde_json::Map::new();
        for (name, query) in queries {
            let (row, entry) = measure_list(
                &client,
                &format!("{base}/user"),
                name,
                query,
                Credential::Bearer(&token),
                &args,
            )
            .await;
            rows.push(row);
            list.insert(key_of(name), entry);
        }
        list.insert("users".into(), json!(args.list_users));
        results.insert("list".into(), Value::Object(list));
    }

    if starts(&wanted, "kolibri") {
        let (facility, cookie) = kolibri_facility(&app, &client, &base).await?;
        seed_facility_user_rows(&app, facility, args.list_users).await?;
        // Page 1000, or the last page of a smaller facility (past it is 404).
        let deep = format!(
            "page_size=50&page={}",
            (args.list_users / 50).clamp(1, 1000)
        );
        let queries = [
            ("first page", "page_size=50&page=1", false),
            ("deep page", deep.as_str(), false),
            ("search", "search=user4242&page_size=50", false),
            ("learners", "user_type=learner&page_size=50", false),
            // The same request again: answered from the instance's list
            // cache while no user changes.
            ("first page, repeated (cached)", "page_size=50&page=1", true),
        ];
        let live = match &args.kolibri {
            Some(url) => Some((
                url.trim_end_matches('/'),
                kolibri_cookie(&client, url, &args).await?,
            )),
            None => None,
        };
        let mut list = serde_json::Map::new();
        for (name, query, cached) in queries {
            // Every request from PostgreSQL unless measuring the cache.
            kolibri_lists.set_answer_capacity(if cached { 512 } else { 0 });
            let (row, mut entry) = measure_list(
                &client,
                &format!("{base}/api/auth/facilityuser"),
                name,
                query,
                Credential::Cookie(&cookie),
                &args,
            )
            .await;
            rows.push(row);
            // The same request to the live Kolibri (its URLs end in '/').
            if let Some((url, kolibri_cookie)) = &live {
                let (row, theirs) = measure_list(
                    &client,
                    &format!("{url}/api/auth/facilityuser/"),
                    &format!("{name}, live Kolibri"),
                    query,
                    Credential::Cookie(kolibri_cookie),
                    &args,
                )
                .await;
                let ratio = entry["per_s"].as_f64().unwrap_or_default()
                    / theirs["per_s"].as_f64().unwrap_or(f64::INFINITY);
                rows.push((row.0, row.1, format!("{}; eventauth {ratio:.1}×", row.2)));
                entry["kolibri"] = theirs;
                entry["ratio_to_kolibri"] = json!(ratio);
            }
            list.insert(key_of(name), entry);
        }
        list.insert("users".into(), json!(args.list_users));
        results.insert("kolibri_list".into(), Value::Object(list));
    }

    if starts(&wanted, "commands") {
        let admin = admin_token.as_deref().context("admin")?;
        let mut run = commands::run(
            &app,
            &client,
            &base,
            admin,
            args.command_clients,
            args.seconds,
        )
        .await?;
        let ratio = run.per_s / run.bare_per_s;
        rows.push((
            "commands (tutorial, profile, join) /s".into(),
            format!("{:.0}", run.per_s),
            format!(
                "p50 {:.1} ms, p99 {:.1} ms, {} events, {:.2}× bare INSERTs",
                run.latencies.percentile(0.5),
                run.latencies.percentile(0.99),
                run.events,
                ratio
            ),
        ));
        rows.push((
            "bare single-row INSERT transactions/s".into(),
            format!("{:.0}", run.bare_per_s),
            format!(
                "p50 {:.1} ms, p99 {:.1} ms, {} clients",
                run.bare_latencies.percentile(0.5),
                run.bare_latencies.percentile(0.99),
                args.command_clients
            ),
        ));
        results.insert(
            "commands".into(),
            json!({ "per_s": run.per_s, "p50_ms": run.latencies.percentile(0.5),
                    "p99_ms": run.latencies.percentile(0.99), "events": run.events,
                    "clients": args.command_clients,
                    "bare_insert_per_s": run.bare_per_s,
                    "bare_insert_p99_ms": run.bare_latencies.percentile(0.99),
                    "ratio_to_bare_inserts": ratio }),
        );
    }

    if starts(&wanted, "statements") {
        for counted in statements::run(
            &app,
            &client,
            &base,
            &db,
            &args.pg_log,
            args.command_clients,
            args.seconds,
        )
        .await?
        {
            let detail = counted
                .per_command
                .iter()
                .map(|(kind, n)| format!("{kind} {n:.2}"))
                .collect::<Vec<_>>()
                .join(", ");
            rows.push((
                format!(
                    "statements per {} ({} clients)",
                    counted.name, counted.clients
                ),
                format!("{:.2}", counted.total()),
                detail,
            ));
            results
                .entry("statements")
                .or_insert_with(|| json!([]))
                .as_array_mut()
                .context("statements")?
                .push(counted.json());
        }
    }

    if starts(&wanted, "seal") {
        let (micros, open, cold) = seal_cost(&app, 20_000 * args.seconds as usize).await?;
        rows.push((
            "seal + open one login's personal values µs".into(),
            format!("{micros:.1}"),
            "SessionStarted: IP and agent in payload and metadata, key cached".into(),
        ));
        rows.push((
            "open one sealed payload µs".into(),
            format!("{open:.1}"),
            format!("as a reader does, key cached; {cold:.0} µs with the key read and unwrapped"),
        ));
        results.insert(
            "seal_micros".into(),
            json!({ "seal_and_open": micros, "open": open, "open_cold_key": cold }),
        );
    }
    if starts(&wanted, "erase") {
        let (events, seconds) = erasure_time(&app, args.erase_events).await?;
        rows.push((
            format!("erase a user with {events} events ms"),
            format!("{:.0}", seconds * 1000.0),
            format!("{events} events on their stream; read models settled"),
        ));
        results.insert(
            "erase".into(),
            json!({ "events": events, "seconds": seconds }),
        );
    }
    if starts(&wanted, "stream") {
        let mut run = commands::stream(
            &app,
            &client,
            &base,
            args.stream_events,
            args.stream_commands,
        )
        .await?;
        let (long, short) = (run.long.percentile(0.5), run.short.percentile(0.5));
        rows.push((
            format!("command on a {}-event stream", run.events),
            format!("p50 {long:.2} ms"),
            format!(
                "p99 {:.2} ms, {:.2}× a new user's (p50 {short:.2} ms, p99 {:.2} ms); first after the append {:.0} ms",
                run.long.percentile(0.99),
                long / short,
                run.short.percentile(0.99),
                run.first_ms
            ),
        ));
        results.insert(
            "stream".into(),
            json!({ "events": run.events, "long_p50_ms": long,
                    "long_p99_ms": run.long.percentile(0.99), "short_p50_ms": short,
                    "short_p99_ms": run.short.percentile(0.99), "ratio": long / short,
                    "first_ms": run.first_ms, "commands": args.stream_commands }),
        );
    }

    progress("stopping the service");
    let _ = stop_tx.send(());
    let _ = server.await;
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .execute(&mut admin)
        .await;
    let _ = std::fs::remove_dir_all(&data_dir);
    if let Ok(client) = async_nats::connect(&args.nats).await {
        let _ = async_nats::jetstream::new(client)
            .delete_stream(&stream)
            .await;
    }

    if starts(&wanted, "relay") {
        let (events, seconds) = relay_throughput(&args, &mut admin).await?;
        let rate = events as f64 / seconds;
        rows.push((
            "relay to JetStream events/s".into(),
            format!("{rate:.0}"),
            format!("{events} events in {seconds:.1} s"),
        ));
        results.insert(
            "relay".into(),
            json!({ "events": events, "seconds": seconds, "per_s": rate }),
        );
    }
    if starts(&wanted, "replay") {
        let (clear, sealed, sealing) = replay_rate(&args, &mut admin).await?;
        let rate = clear.events as f64 / clear.seconds;
        let sealed_rate = sealed.events as f64 / sealed.seconds;
        rows.push((
            "replay into fresh read models events/s".into(),
            format!("{rate:.0}"),
            format!(
                "{} events in {:.1} s (log in the clear)",
                clear.events, clear.seconds
            ),
        ));
        rows.push((
            "replay, personal values sealed events/s".into(),
            format!("{sealed_rate:.0}"),
            format!(
                "{:.2}x the clear log's; {} events in {:.1} s; sealing them took {sealing:.1} s",
                sealed_rate / rate,
                sealed.events,
                sealed.seconds
            ),
        ));
        results.insert(
            "replay".into(),
            json!({ "events": clear.events, "seconds": clear.seconds, "per_s": rate,
                    "sealed_per_s": sealed_rate, "sealed_ratio": sealed_rate / rate,
                    "sealing_seconds": sealing }),
        );
    }

    if starts(&wanted, "rss") {
        let run = rss::run(&args, &mut admin).await?;
        rows.push((
            format!("server RSS, {} users", run.users),
            format!("{:.0} MiB", run.rss_mib),
            format!(
                "peak {:.0} MiB; at start {:.0} MiB; after {} requests",
                run.peak_mib, run.start_mib, run.requests
            ),
        ));
        results.insert(
            "rss".into(),
            json!({ "users": run.users, "rss_mib": run.rss_mib, "peak_mib": run.peak_mib,
                    "start_mib": run.start_mib, "requests": run.requests,
                    "import_seconds": run.import_seconds }),
        );
    }

    progress("done");
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(10);
    let mut out = String::new();
    out.push_str(&format!(
        "eventauth bench, {} cores, {} s per scenario, the service on {}\n",
        cores, args.seconds, args.backend
    ));
    for (name, value, note) in &rows {
        out.push_str(&format!("{name:<width$}  {value:>14}  {note}\n"));
    }
    results.insert("cores".into(), json!(cores));
    results.insert("backend".into(), json!(args.backend));
    results.insert("seconds".into(), json!(args.seconds));
    results.insert("date".into(), json!(chrono::Utc::now().to_rfc3339()));
    out.push_str(&serde_json::to_string_pretty(&Value::Object(results))?);
    out.push('\n');
    // The bench's one output: stdout is its interface.
    #[allow(clippy::print_stdout)]
    {
        print!("{out}");
    }
    Ok(())
}

const PASSWORD: &str = "correct horse battery";

/// Registers `n` users; returns their emails.
async fn seed(client: &reqwest::Client, base: &str, n: usize) -> anyhow::Result<Vec<String>> {
    let mut emails = Vec::with_capacity(n);
    for i in 0..n {
        let email = format!("bench{i}@example.com");
        register(client, base, &email).await?;
        emails.push(email);
    }
    Ok(emails)
}

/// Registers `email` (with [`PASSWORD`]) over the ILD surface.
async fn register(client: &reqwest::Client, base: &str, email: &str) -> anyhow::Result<()> {
    let response = client
        .post(format!("{base}/sign/register"))
        .json(&json!({ "email": email, "password": PASSWORD,
                       "firstName": "Bench", "lastName": "User" }))
        .send()
        .await?;
    anyhow::ensure!(
        response.status().as_u16() == 201,
        "registering {email}: {}",
        response.status()
    );
    Ok(())
}

/// Logs in at a Kolibri-style session endpoint (`url`, eventauth's or a
/// live Kolibri's) with `body`; the `Cookie` header the answer sets.
async fn session_cookie(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
) -> anyhow::Result<String> {
    let response = client.post(url).json(body).send().await?;
    anyhow::ensure!(
        response.status().is_success(),
        "login at {url}: {}",
        response.status()
    );
    let cookies: Vec<&str> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| c.split(';').next())
        .collect();
    anyhow::ensure!(!cookies.is_empty(), "{url} set no cookie");
    Ok(cookies.join("; "))
}

/// A facility with a superuser `username` (password [`PASSWORD`]), made
/// through the service.
async fn facility_with_superuser(
    app: &App,
    name: &str,
    username: &str,
) -> anyhow::Result<uuid::Uuid> {
    use eventauth::service::{collections, facilities, facility_users};
    let ctx = RequestContext::system();
    let error = |e: eventauth::Error| anyhow::anyhow!("{e}");
    let facility = facilities::create(
        app,
        aggregates::OrganizationKind::Facility,
        name,
        None,
        None,
        &ctx,
    )
    .await
    .map_err(error)?;
    let input = facility_users::Fields {
        username: Some(username.into()),
        password: Some(PASSWORD.into()),
        full_name: Some(format!("{name} Admin")),
        ..Default::default()
    };
    let admin = facility_users::create(app, facility, input, &ctx)
        .await
        .map_err(error)?;
    collections::make_superuser(app, admin, &ctx)
        .await
        .map_err(error)?;
    Ok(facility)
}

/// An administrator's access token (registered through the service).
async fn admin_token(app: &App, client: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    use eventauth::input::{Email, Password, PersonName};
    let email = "bench-admin@example.com";
    eventauth::service::accounts::register(
        app,
        eventauth::service::accounts::Registration {
            email: Email::parse(email, "email").map_err(|e| anyhow::anyhow!("{e}"))?,
            password: Password::new_password(PASSWORD.to_string(), "password")
                .map_err(|e| anyhow::anyhow!("{e}"))?,
            first_name: PersonName::parse("Bench", "firstName")
                .map_err(|e| anyhow::anyhow!("{e}"))?,
            last_name: PersonName::parse("Admin", "lastName")
                .map_err(|e| anyhow::anyhow!("{e}"))?,
            roles: vec!["admin".to_string()],
        },
        &RequestContext::system(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    login_token(client, base, email).await
}

/// `n` rows straight into the `users` read model (the list reads only that
/// table; building it from 440k events would take minutes and measure the
/// projector instead), with the count the projection keeps, and the
/// table's statistics taken as autovacuum would.
async fn seed_user_rows(app: &App, n: usize) -> anyhow::Result<()> {
    match app.store.db() {
        projections::Db::Postgres(pool) => {
            sqlx::query(
                "INSERT INTO users (user_id, email, first_name, last_name, created_at, updated_at, version)
                 SELECT gen_random_uuid(), 'user' || i || '@example.com', 'First' || (i % 1000),
                        'Last' || (i % 977), now() - make_interval(secs => i), now(), 1
                   FROM generate_series(1, $1) AS i",
            )
            .bind(n as i64)
            .execute(pool)
            .await?;
            sqlx::query("UPDATE counts SET n = n + $1 WHERE name = 'users'")
                .bind(n as i64)
                .execute(pool)
                .await?;
            // The visibility map lets the page-id scans skip the heap.
            sqlx::query("VACUUM ANALYZE users").execute(pool).await?;
        }
        projections::Db::Sqlite { writer, .. } => {
            sqlx::query(&format!(
                "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?1)
                 INSERT INTO users (user_id, email, first_name, last_name, created_at, updated_at, version)
                 SELECT randomblob(16), 'user' || i || '@example.com', 'First' || (i % 1000),
                        'Last' || (i % 977), {SQLITE_NOW_MINUS_I}, {SQLITE_NOW}, 1 FROM s"
            ))
            .bind(n as i64)
            .execute(writer)
            .await?;
            sqlx::query("UPDATE counts SET n = n + ?1 WHERE name = 'users'")
                .bind(n as i64)
                .execute(writer)
                .await?;
            sqlx::query("ANALYZE").execute(writer).await?;
        }
    }
    Ok(())
}

/// SQLite: now, as the store writes times.
const SQLITE_NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";
/// SQLite: `i` seconds ago.
const SQLITE_NOW_MINUS_I: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || i || ' seconds')";

/// A facility with a superuser in it (through the service); the
/// superuser's Kolibri session cookie (logged in over HTTP).
async fn kolibri_facility(
    app: &App,
    client: &reqwest::Client,
    base: &str,
) -> anyhow::Result<(uuid::Uuid, String)> {
    let facility = facility_with_superuser(app, "Bench", "benchadmin").await?;
    let cookie = session_cookie(
        client,
        &format!("{base}/api/auth/session"),
        &json!({ "username": "benchadmin", "password": PASSWORD,
                 "facility": facility.simple().to_string() }),
    )
    .await?;
    Ok((facility, cookie))
}

/// `n` facility users straight into the read model (as `seed_user_rows`),
/// with the count the projection keeps.
async fn seed_facility_user_rows(app: &App, facility: uuid::Uuid, n: usize) -> anyhow::Result<()> {
    let count = format!("facility_users:{facility}");
    // The facility's own rows (its count among them) first: the projector
    // may still be gathering the commit that created it.
    match app.read_models().await {
        projections::Db::Postgres(pool) => {
            sqlx::query(
                "INSERT INTO facility_users (user_id, facility_id, username, full_name, date_joined,
                                             version)
                 SELECT gen_random_uuid(), $2, 'user' || i,
                        'First' || (i % 1000) || ' Last' || (i % 977),
                        now() - make_interval(secs => i), 1
                   FROM generate_series(1, $1) AS i",
            )
            .bind(n as i64)
            .bind(facility)
            .execute(pool)
            .await?;
            sqlx::query("UPDATE counts SET n = n + $1 WHERE name = $2")
                .bind(n as i64)
                .bind(count)
                .execute(pool)
                .await?;
            sqlx::query("VACUUM ANALYZE facility_users")
                .execute(pool)
                .await?;
            sqlx::query("VACUUM ANALYZE collection_roles")
                .execute(pool)
                .await?;
        }
        projections::Db::Sqlite { writer, .. } => {
            sqlx::query(&format!(
                "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?1)
                 INSERT INTO facility_users (user_id, facility_id, username, full_name, date_joined,
                                             version)
                 SELECT randomblob(16), ?2, 'user' || i,
                        'First' || (i % 1000) || ' Last' || (i % 977), {SQLITE_NOW_MINUS_I}, 1
                   FROM s"
            ))
            .bind(n as i64)
            .bind(facility)
            .execute(writer)
            .await?;
            sqlx::query("UPDATE counts SET n = n + ?1 WHERE name = ?2")
                .bind(n as i64)
                .bind(count)
                .execute(writer)
                .await?;
            sqlx::query("ANALYZE").execute(writer).await?;
        }
    }
    Ok(())
}

async fn login_token(client: &reqwest::Client, base: &str, email: &str) -> anyhow::Result<String> {
    let body: Value = client
        .post(format!("{base}/sign/login"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await?
        .json()
        .await?;
    body["token"]
        .as_str()
        .map(str::to_string)
        .context("no token")
}

/// SAML responses verified per second on this thread (the test identity
/// provider's, as the service verifies them), and — the reference in the
/// same run — bare argon2id verifications per second on one thread.
fn saml_verifications(argon: (u32, u32, u32), duration: Duration) -> anyhow::Result<(f64, f64)> {
    use eventauth::saml::testing::{fixture, signed_response, Claims, ACS, SP, SSO};
    let mut config = eventauth::Config::defaults().saml;
    config.saml_idp_cert = Some(fixture("idp.crt"));
    config.saml_idp_sso_url = Some(SSO.to_string());
    config.saml_sp_entity_id = Some(SP.to_string());
    config.saml_acs_url = Some(ACS.to_string());
    let provider =
        eventauth::saml::ServiceProvider::from_config(&config)?.context("SAML configured")?;
    let encoded = signed_response(&Claims::valid("bench@uni.test"), "idp");
    let start = Instant::now();
    let mut verified = 0u64;
    while start.elapsed() < duration {
        provider
            .verify(&encoded, chrono::Utc::now())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        verified += 1;
    }
    let rate = verified as f64 / start.elapsed().as_secs_f64();
    let argon_rate = bare_argon2_verifications(argon, 1, duration)?;
    Ok((rate, argon_rate))
}

/// argon2id verifications per second on `threads` OS threads, same
/// parameters as the service.
fn bare_argon2_verifications(
    params: (u32, u32, u32),
    threads: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let argon = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(params.0, params.1, params.2, None)
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    );
    let salt = SaltString::encode_b64(b"benchmark-salt!!").map_err(|e| anyhow::anyhow!("{e}"))?;
    let phc = argon
        .hash_password(PASSWORD.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .to_string();
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let count = count.clone();
            let phc = phc.clone();
            scope.spawn(move || {
                let parsed = argon2::PasswordHash::new(&phc).expect("own hash parses");
                while start.elapsed() < duration {
                    if argon2::Argon2::default()
                        .verify_password(PASSWORD.as_bytes(), &parsed)
                        .is_ok()
                    {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    Ok(count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

async fn login_throughput(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    users: &[String],
    clients: usize,
    seconds: u64,
) -> (f64, Latencies) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let tasks = (0..clients).map(|c| {
        let client = client.clone();
        let url = format!("{base}{path}");
        let email = users[c % users.len()].clone();
        tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                let ok = client
                    .post(&url)
                    .json(&json!({ "email": email, "password": PASSWORD }))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if ok {
                    lat.push(t.elapsed());
                }
            }
            lat
        })
    });
    let mut all = Latencies::default();
    for lat in futures::future::join_all(tasks).await.into_iter().flatten() {
        all.0.extend(lat);
    }
    (all.0.len() as f64 / start.elapsed().as_secs_f64(), all)
}

/// GETs `url` from `clients` tasks for `seconds`; successful requests/s.
async fn drive(
    client: &reqwest::Client,
    url: &str,
    credential: Option<Credential<'_>>,
    clients: usize,
    seconds: u64,
) -> (f64, Latencies) {
    let headers: Vec<(&'static str, String)> = match credential {
        None => Vec::new(),
        Some(Credential::Bearer(token)) => vec![("authorization", format!("Bearer {token}"))],
        Some(Credential::Cookie(cookie)) => vec![("cookie", cookie.to_string())],
        Some(Credential::HeaderToken(token, username)) => vec![
            ("auth-token", token.to_string()),
            ("username", username.to_string()),
        ],
    };
    let client = client.clone();
    let url: Arc<str> = url.into();
    for_seconds(clients, seconds, move |_, _| {
        let mut request = client.get(&*url);
        for (name, value) in &headers {
            request = request.header(*name, value);
        }
        answered(request)
    })
    .await
}

/// Whether a request was answered with success, its body read, as a
/// client does (and so the connection is reused).
async fn answered(request: reqwest::RequestBuilder) -> bool {
    match request.send().await {
        Ok(response) if response.status().is_success() => response.bytes().await.is_ok(),
        _ => false,
    }
}

/// `clients` tasks, each calling `work(client, i)` for its i-th operation,
/// one after another, for `seconds`: successful operations per second and
/// their latencies.
async fn for_seconds<W, F>(clients: usize, seconds: u64, work: W) -> (f64, Latencies)
where
    W: Fn(usize, usize) -> F + Clone + Send + 'static,
    F: std::future::Future<Output = bool> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let stop = stop.clone();
            let work = work.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    if work(client, i).await {
                        lat.push(t.elapsed());
                    }
                    i += 1;
                }
                lat
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Latencies::default();
    for lat in futures::future::join_all(tasks).await.into_iter().flatten() {
        all.0.extend(lat);
    }
    (all.0.len() as f64 / start.elapsed().as_secs_f64(), all)
}

/// One list request driven for `--seconds` by `--check-clients`: its row
/// of the table and its JSON entry.
async fn measure_list(
    client: &reqwest::Client,
    path: &str,
    name: &str,
    query: &str,
    credential: Credential<'_>,
    args: &Args,
) -> ((String, String, String), Value) {
    let url = format!("{path}?{query}");
    let (rate, mut lat) = drive(
        client,
        &url,
        Some(credential),
        args.check_clients,
        args.seconds,
    )
    .await;
    let label = path.rsplit_once("//").map_or(path, |(_, rest)| rest);
    let label = label.split_once('/').map_or(label, |(_, p)| p);
    let row = (
        format!("GET /{label} {name} req/s"),
        format!("{rate:.0}"),
        format!(
            "p50 {:.2} ms, p99 {:.2} ms, {} users, ?{query}",
            lat.percentile(0.5),
            lat.percentile(0.99),
            args.list_users
        ),
    );
    let entry = json!({ "per_s": rate, "p50_ms": lat.percentile(0.5),
                        "p99_ms": lat.percentile(0.99), "query": query });
    (row, entry)
}

/// A session on a live Kolibri: the `Cookie` header its login sets.
async fn kolibri_cookie(
    client: &reqwest::Client,
    url: &str,
    args: &Args,
) -> anyhow::Result<String> {
    session_cookie(
        client,
        &format!("{}/api/auth/session/", url.trim_end_matches('/')),
        &json!({ "username": args.kolibri_username, "password": args.kolibri_password }),
    )
    .await
    .context("logging in to the live Kolibri")
}

/// A JSON key for a scenario's name.
fn key_of(name: &str) -> String {
    name.replace([' ', ','], "_").replace(['(', ')'], "")
}

/// How a driven request authenticates.
#[derive(Debug, Clone, Copy)]
enum Credential<'a> {
    /// `Authorization: Bearer`.
    Bearer(&'a str),
    /// A `Cookie` header.
    Cookie(&'a str),
    /// Doubtfire's `Auth-Token` and `Username` headers.
    HeaderToken(&'a str, &'a str),
}

/// Drives an authenticated GET of `url` with `credential`, and — the
/// reference in the same run — `GET /sign/check` with a bearer token of the
/// same user, with as many clients: the table row and the JSON figures.
async fn against_check(
    (client, base, email, args): (&reqwest::Client, &str, &str, &Args),
    url: &str,
    credential: Credential<'_>,
    label: &str,
) -> anyhow::Result<((String, String, String), Value)> {
    let (rate, mut lat) = drive(
        client,
        url,
        Some(credential),
        args.check_clients,
        args.seconds,
    )
    .await;
    let token = login_token(client, base, email).await?;
    let (check_rate, _) = drive(
        client,
        &format!("{base}/sign/check"),
        Some(Credential::Bearer(&token)),
        args.check_clients,
        args.seconds,
    )
    .await;
    let row = (
        format!("{label} req/s"),
        format!("{rate:.0}"),
        format!(
            "p50 {:.2} ms, p99 {:.2} ms, {:.2}× GET /sign/check ({check_rate:.0}/s)",
            lat.percentile(0.5),
            lat.percentile(0.99),
            rate / check_rate
        ),
    );
    let figures = json!({ "per_s": rate, "p50_ms": lat.percentile(0.5), "p99_ms": lat.percentile(0.99),
                          "check_per_s": check_rate, "ratio_to_check": rate / check_rate });
    Ok((row, figures))
}

/// The reference for token checks: a bare axum endpoint answering a small
/// JSON body, served by this process, driven the same way.
async fn bare_axum(
    client: &reqwest::Client,
    clients: usize,
    seconds: u64,
) -> anyhow::Result<(f64, Latencies)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/", listener.local_addr()?);
    let router = axum::Router::new().route(
        "/",
        axum::routing::get(|| async { axum::Json(json!({ "authenticated": true })) }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let result = drive(
        client,
        &url,
        Some(Credential::Bearer("not-checked")),
        clients,
        seconds,
    )
    .await;
    server.abort();
    Ok(result)
}

/// The bench's master key: every instance it starts (and the child
/// process of the `rss` scenario) opens the same store with it, and none
/// writes a generated key file into the directory the bench runs in.
const MASTER_KEY: &str = "YmVuY2gtbWFzdGVyLWtleS0zMi1ieXRlcy1sb25nLS0=";

/// The bench's HTTP client: connections kept for many concurrent clients,
/// and no request waits for ever (one that hung would hold the whole run;
/// an error names it).
pub(crate) fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(120))
        .build()?)
}

/// The settings every instance the bench starts has: any free port, JSON
/// logs, the bench's master key.
pub(crate) fn bench_config() -> Config {
    let mut config = Config::defaults();
    config.addr = ([127, 0, 0, 1], 0).into();
    config.log_format = "json".into();
    config.master_key = Some(MASTER_KEY.to_string().into());
    config
}

/// Whether `scenario` is wanted; when it is, says so on stderr with the
/// time since the bench started (where a run that hangs was).
fn starts(wanted: &[&str], scenario: &str) -> bool {
    let wanted = wanted.contains(&scenario);
    if wanted {
        progress(scenario);
    }
    wanted
}

/// Says on stderr what the bench starts now, with the time since it
/// started.
fn progress(what: &str) {
    static STARTED: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let started = STARTED.get_or_init(Instant::now);
    eprintln!("[{:.1} s] {what}…", started.elapsed().as_secs_f64());
}

/// Time from a command's start to its visibility in the read models, as
/// the service's read-your-writes observes it: the command, then a query's
/// wait for the read models.
async fn visibility(app: &App, users: &[String], commands: usize) -> anyhow::Result<Latencies> {
    let ids = user_ids(app, users).await?;
    let metadata = RequestContext::system().metadata();
    let mut lat = Latencies::default();
    for i in 0..commands {
        let id = ids[i % ids.len()].to_string();
        let started = Instant::now();
        app.store
            .execute::<User>(
                &id,
                UserCommand::RevokeSessions { keep_session: None },
                &metadata,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        // The command has answered; a query after it from the same
        // instance waits for the read models.
        let _ = app.read_models().await;
        lat.0.push(started.elapsed());
    }
    Ok(lat)
}

/// A scratch database on the bench's server holding a synthetic log of
/// about `events` events; dropped by [`drop_database`].
async fn synthetic_store(
    args: &Args,
    admin: &mut sqlx::PgConnection,
    events: usize,
) -> anyhow::Result<(String, projections::Db)> {
    let name = format!("eventauth_bench_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut *admin)
        .await?;
    let url: secrecy::SecretString = format!("{}/{name}", args.pg).into();
    let db = eventauth::store::connect(
        Some(&url),
        std::path::Path::new("."),
        4,
        std::time::Duration::from_secs(10),
    )
    .await?;
    eventauth::store::migrate(&db).await?;
    // Synthetic events are written in the clear (as a store from before
    // encryption): read as stored.
    projections::rebuild::ensure_version(&db, std::sync::Arc::new(projections::Clear)).await?;
    eprintln!("seeding {events} events…");
    eventauth::ops::synthetic::append(&db, events).await?;
    // A log at rest, as autovacuum leaves it (visibility map, hint bits,
    // statistics): what an operator replays. Right after a bulk load the
    // first read of each row also writes it back (hint bits); the note in
    // docs/benchmarks.md gives that figure too.
    sqlx::query("VACUUM ANALYZE events")
        .execute(db.postgres().context("PostgreSQL")?)
        .await?;
    Ok((name, db))
}

async fn drop_database(admin: &mut sqlx::PgConnection, db: projections::Db, name: &str) {
    db.close().await;
    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(admin)
        .await;
}

/// Events the relay publishes per second, from a store holding
/// `--relay-events` to an empty stream, acknowledgements included.
async fn relay_throughput(
    args: &Args,
    admin: &mut sqlx::PgConnection,
) -> anyhow::Result<(u64, f64)> {
    use eventauth::consumers::relay::{Relay, RelayConfig};
    let (name, db) = synthetic_store(args, admin, args.relay_events).await?;
    let head: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(db.postgres().context("PostgreSQL")?)
        .await?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let stream = format!("EVENTAUTH_RELAYBENCH_{}", &id[..12]).to_uppercase();
    let relay = Relay::new(
        db.clone(),
        std::sync::Arc::new(projections::Clear),
        RelayConfig {
            target: eventauth::consumers::relay::connect::NatsTarget::from_config(
                &args.nats.clone().into(),
                &eventauth::Config::defaults(),
            )?,
            stream: stream.clone(),
            prefix: format!("earelay{}", &id[..12]),
            duplicate_window: Duration::from_secs(120),
        },
        projections::Wake::new(),
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let client = async_nats::connect(&args.nats).await?;
    let js = async_nats::jetstream::new(client);
    let started = Instant::now();
    let task = tokio::spawn(relay.run(stopped));
    let published = loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let count = match js.get_stream(&stream).await {
            Ok(mut s) => s.info().await.map_or(0, |i| i.state.messages),
            Err(_) => 0,
        };
        if count as i64 >= head {
            break count;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(1800),
            "the relay did not finish"
        );
    };
    let seconds = started.elapsed().as_secs_f64();
    let _ = stop.send(true);
    let _ = task.await;
    let _ = js.delete_stream(&stream).await;
    drop_database(admin, db, &name).await;
    Ok((published, seconds))
}

/// Microseconds to seal and open again the personal values one login
/// records (its `SessionStarted`: IP and agent in the payload and in the
/// metadata), the key cached, averaged over `rounds`.
async fn seal_cost(app: &App, rounds: usize) -> anyhow::Result<(f64, f64, f64)> {
    let vault = app.store.vault();
    let subject = eventauth::vault::user(uuid::Uuid::now_v7());
    let payload = json!({"SessionStarted": {
        "session_id": uuid::Uuid::now_v7(), "user_id": uuid::Uuid::now_v7(),
        "client_ip": {"plain": "203.0.113.77"},
        "user_agent": {"plain": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"},
        "started_at": chrono::Utc::now()}});
    let metadata: std::collections::HashMap<String, String> = [
        ("actor", "anonymous".to_string()),
        ("client_ip", json!({"plain": "203.0.113.77"}).to_string()),
        (
            "user_agent",
            json!({"plain": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"}).to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let started = Instant::now();
    for round in 0..rounds {
        let at = format!("session/x/{round}");
        let mut sealed = payload.clone();
        vault.seal(&subject, &at, &mut sealed).await?;
        let mut meta = metadata.clone();
        vault
            .seal_metadata(
                Some(&subject),
                &at,
                &eventauth::store::PERSONAL_METADATA,
                &mut meta,
            )
            .await?;
        vault.open_value(&at, &mut sealed).await?;
        anyhow::ensure!(sealed == payload, "opened differs");
    }
    let both = started.elapsed().as_secs_f64() * 1e6 / rounds as f64;
    // Opening alone, as a reader does (the stored text, the key cached;
    // then with the key read and unwrapped each time).
    let mut stored = payload.clone();
    vault.seal(&subject, "session/x/1", &mut stored).await?;
    let stored = stored.to_string();
    let started = Instant::now();
    for _ in 0..rounds {
        vault.open_text("session/x/1", &stored).await?;
    }
    let open = started.elapsed().as_secs_f64() * 1e6 / rounds as f64;
    let cold_rounds = (rounds / 20).max(10);
    let started = Instant::now();
    for _ in 0..cold_rounds {
        vault.forget(&subject);
        vault.open_text("session/x/1", &stored).await?;
    }
    let cold = started.elapsed().as_secs_f64() * 1e6 / cold_rounds as f64;
    Ok((both, open, cold))
}

/// A user with `events` events on their stream (profile changes), then
/// the time `eventauth erase` takes for them.
async fn erasure_time(app: &App, events: usize) -> anyhow::Result<(usize, f64)> {
    use eventauth::input::{Email, Password, PersonName};
    let registered = eventauth::service::accounts::register(
        app,
        eventauth::service::accounts::Registration {
            email: Email::parse(
                &format!("erase-{}@example.com", uuid::Uuid::now_v7().simple()),
                "email",
            )?,
            password: Password::new_password("correct horse".into(), "password")?,
            first_name: PersonName::parse("Erase", "firstName")?,
            last_name: PersonName::parse("Me", "lastName")?,
            roles: vec![],
        },
        &RequestContext::system(),
    )
    .await?;
    let id = registered.id;
    let metadata = eventauth::store::Metadata::system();
    for n in 1..events {
        let changes = aggregates::ProfileChanges {
            nickname: Some(Some(aggregates::Personal::new(format!("nick{n}")))),
            ..Default::default()
        };
        app.store
            .execute::<User>(
                &id.to_string(),
                UserCommand::UpdateProfile {
                    changes: Box::new(changes),
                },
                &metadata,
            )
            .await?;
    }
    let started = Instant::now();
    eventauth::service::erasure::erase_authorized(app, id, &metadata).await?;
    Ok((events, started.elapsed().as_secs_f64()))
}

/// A replay's measure: events and seconds.
struct Replayed {
    events: u64,
    seconds: f64,
}

/// `eventauth replay`'s rebuild of `--replay-events` events into fresh
/// read models, swap included: first of the log as written before
/// encryption (read as stored), then of the same log sealed in place
/// (`eventauth seal-log`: every personal value under its person's key,
/// opened by the vault while replaying). Returns (clear, sealed, seconds
/// the sealing took).
async fn replay_rate(
    args: &Args,
    admin: &mut sqlx::PgConnection,
) -> anyhow::Result<(Replayed, Replayed, f64)> {
    let (name, db) = synthetic_store(args, admin, args.replay_events).await?;
    let replay = |codec: std::sync::Arc<dyn projections::Codec>| {
        let db = db.clone();
        async move {
            let started = Instant::now();
            let done = projections::rebuild::Scratch::create(&db, codec)
                .await?
                .build_and_swap(&mut |_| {})
                .await?;
            anyhow::Ok(Replayed {
                events: done.applied,
                seconds: started.elapsed().as_secs_f64(),
            })
        }
    };
    let clear = replay(std::sync::Arc::new(projections::Clear)).await?;
    let config = bench_config();
    let vault = eventauth::vault::Vault::open(&db, &config).await?;
    let store =
        eventauth::store::Store::new(db.clone(), aggregates::Services::system(), vault.clone());
    eprintln!("sealing the log…");
    let started = Instant::now();
    eventauth::ops::seal_log::seal_log(&store).await?;
    let sealing = started.elapsed().as_secs_f64();
    sqlx::query("VACUUM ANALYZE events")
        .execute(db.postgres().context("PostgreSQL")?)
        .await?;
    let timed = std::sync::Arc::new(TimedCodec {
        inner: vault.for_rebuild(),
        nanos: AtomicU64::new(0),
    });
    let sealed = replay(timed.clone()).await?;
    let pool = db.postgres().context("PostgreSQL")?;
    let sealed_events: i64 = sqlx::query_scalar(
        r#"SELECT count(*) FROM events WHERE strpos(payload::text, '"enc"') > 0"#,
    )
    .fetch_one(pool)
    .await?;
    let keys: i64 = sqlx::query_scalar("SELECT count(*) FROM data_keys")
        .fetch_one(pool)
        .await?;
    eprintln!(
        "opening took {:.2} s of the sealed replay's {:.2} s (read ahead, beside the \
         applying): {sealed_events} events with sealed values, {keys} data keys read",
        timed.nanos.load(Ordering::Relaxed) as f64 / 1e9,
        sealed.seconds
    );
    drop_database(admin, db, &name).await;
    Ok((clear, sealed, sealing))
}

/// A codec that counts the time spent opening.
#[derive(Debug)]
struct TimedCodec {
    inner: std::sync::Arc<dyn projections::Codec>,
    nanos: AtomicU64,
}

#[async_trait::async_trait]
impl projections::Codec for TimedCodec {
    async fn open(
        &self,
        events: &mut [projections::RecordedEvent],
        parts: projections::Parts,
    ) -> Result<(), sqlx::Error> {
        let started = Instant::now();
        let result = self.inner.open(events, parts).await;
        self.nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        result
    }
}

/// Commands at `rate` per second for `seconds` (revoking sessions of
/// synthetic users, one event each), and a plain NATS subscriber on the
/// relay's subjects: the time from each command's commit returning to its
/// message arriving.
async fn nats_latency(
    app: &App,
    nats: &str,
    prefix: &str,
    rate: u64,
    seconds: u64,
) -> anyhow::Result<Latencies> {
    use futures::StreamExt;
    use std::collections::HashMap;
    // Commands on many users, as in production: one user's commands in
    // quick succession would conflict (optimistic concurrency) and retry.
    let ids = eventauth::ops::synthetic::append(app.store.db(), (rate as usize) * 4).await?;
    // Start once the relay has published the seeding.
    if let Some(relayed) = &app.relayed {
        for _ in 0..600 {
            if app.reader.lag(*relayed.borrow()).await?.0 == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let client = async_nats::connect(nats).await?;
    let mut subscription = client
        .subscribe(format!("{prefix}.user.SessionsRevoked"))
        .await?;
    client.flush().await?;
    let arrived: Arc<std::sync::Mutex<HashMap<(String, i64), Instant>>> = Arc::default();
    let receiver = {
        let arrived = arrived.clone();
        tokio::spawn(async move {
            while let Some(message) = subscription.next().await {
                let now = Instant::now();
                let Ok(event) = serde_json::from_slice::<Value>(&message.payload) else {
                    continue;
                };
                let key = (
                    event["subject"].as_str().unwrap_or_default().to_string(),
                    event["eventauthsequence"].as_i64().unwrap_or_default(),
                );
                if let Ok(mut arrived) = arrived.lock() {
                    arrived.insert(key, now);
                }
            }
        })
    };
    let committed: Arc<std::sync::Mutex<HashMap<(String, i64), Instant>>> = Arc::default();
    let metadata = RequestContext::system().metadata();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    let total = rate * seconds;
    let failed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total as usize {
        tick.tick().await;
        let app = app.clone();
        let id = ids[i % ids.len()].to_string();
        let metadata = metadata.clone();
        let committed = committed.clone();
        let failed = failed.clone();
        tasks.push(tokio::spawn(async move {
            let outcome = app
                .store
                .execute::<User>(
                    &id,
                    UserCommand::RevokeSessions { keep_session: None },
                    &metadata,
                )
                .await;
            if outcome.is_err() {
                failed.fetch_add(1, Ordering::Relaxed);
            }
            if let Ok(Some(written)) = outcome.map(|c| c.written) {
                if let Ok(mut committed) = committed.lock() {
                    committed.insert(
                        (written.aggregate_id, written.sequence as i64),
                        Instant::now(),
                    );
                }
            }
        }));
    }
    futures::future::join_all(tasks).await;
    // Let the last messages arrive.
    let expected = committed.lock().map(|c| c.len()).unwrap_or_default();
    for _ in 0..100 {
        if arrived.lock().map(|a| a.len()).unwrap_or_default() >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    receiver.abort();
    let committed = committed.lock().map(|c| c.clone()).unwrap_or_default();
    let arrived = arrived.lock().map(|a| a.clone()).unwrap_or_default();
    anyhow::ensure!(
        arrived.len() >= committed.len(),
        "{} of {} committed events reached NATS",
        arrived.len(),
        committed.len()
    );
    let mut lat = Latencies::default();
    for (key, at) in committed {
        if let Some(received) = arrived.get(&key) {
            lat.0.push(received.saturating_duration_since(at));
        }
    }
    let failed = failed.load(Ordering::Relaxed);
    if failed > 0 {
        eprintln!("{failed} of {total} commands failed (not counted)");
    }
    Ok(lat)
}

/// The seeded users' ids, from the read model (once it holds them: they
/// were registered over HTTP just now).
pub(crate) async fn user_ids(app: &App, users: &[String]) -> anyhow::Result<Vec<uuid::Uuid>> {
    let mut ids = Vec::new();
    for email in users {
        let id: uuid::Uuid = match app.read_models().await {
            projections::Db::Postgres(pool) => {
                sqlx::query_scalar("SELECT user_id FROM users WHERE email = $1")
                    .bind(email)
                    .fetch_one(pool)
                    .await?
            }
            projections::Db::Sqlite { reader, .. } => {
                sqlx::query_scalar("SELECT user_id FROM users WHERE email = ?1")
                    .bind(email)
                    .fetch_one(reader)
                    .await?
            }
        };
        ids.push(id);
    }
    Ok(ids)
}

/// How often [`caught_up`] asks, unless a scenario times the catching up
/// itself (each question is a statement the `statements` scenario would
/// count).
const CAUGHT_UP_POLL: Duration = Duration::from_millis(50);

/// Waits until the projector has applied every event in the store (also
/// those appended straight to the log, which nothing announces), asking
/// every `poll`; it urges the projector as a waiting query does, so no
/// linger is timed. At most 10 minutes.
async fn caught_up(app: &App, poll: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    while Instant::now() < deadline {
        let at = *app.projected.borrow();
        if app.reader.lag(at).await?.0 == 0 {
            return Ok(());
        }
        app.wake.urge();
        tokio::time::sleep(poll).await;
    }
    anyhow::bail!("the read models did not catch up within 10 minutes")
}

/// A signed-in Backstack session cookie of `email`, a member of one
/// account (so the session object carries an account, as a client's does).
async fn backstack_cookie(
    app: &App,
    client: &reqwest::Client,
    base: &str,
    email: &str,
) -> anyhow::Result<String> {
    use eventauth::service::{member_accounts, RequestContext};
    let ctx = RequestContext::system();
    let account = member_accounts::create(
        app,
        member_accounts::By::Operator,
        None,
        "Bench Account",
        &ctx,
    )
    .await?;
    let user = user_ids(app, &[email.to_string()]).await?[0];
    member_accounts::add_member(
        app,
        member_accounts::By::Operator,
        account,
        user,
        vec!["member".into()],
        &ctx,
    )
    .await?;
    let response = client
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({ "username": email, "password": PASSWORD }))
        .send()
        .await?;
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("BackstackJWT="))
        .and_then(|v| v.split(';').next())
        .map(str::to_string)
        .context("no BackstackJWT cookie")?;
    let body: Value = response.json().await?;
    anyhow::ensure!(body["auth"] == true, "the session is not signed in: {body}");
    Ok(cookie)
}

/// Wall time of 50 concurrent `/v1/auth/setup` requests against a fresh
/// service on an empty store of the same backend (no relay).
async fn setup_race(
    args: &Args,
    admin: &mut sqlx::PgConnection,
    sqlite: bool,
) -> anyhow::Result<f64> {
    let name = format!("eventauth_bench_setup_{}", uuid::Uuid::new_v4().simple());
    let dir = std::env::temp_dir().join(&name);
    let mut config = bench_config();
    config.nats_url = None;
    if sqlite {
        std::fs::create_dir_all(&dir)?;
        config.data_dir = dir.clone();
        config.database_url = None;
    } else {
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut *admin)
            .await?;
        config.database_url = Some(format!("{}/{name}", args.pg).into());
    }
    let application = Application::build(config).await?;
    let base = format!("http://{}", application.local_addr());
    let db = application.app().store.db().clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until_stopped(async {
        let _ = stop_rx.await;
    }));
    let client = http_client()?;
    let start = Instant::now();
    let answers = futures::future::join_all((0..50).map(|i| {
        let client = client.clone();
        let url = format!("{base}/v1/auth/setup");
        async move {
            client
                .post(url)
                .json(
                    &json!({ "email": format!("admin{i}@example.com"), "password": PASSWORD,
                               "first_name": "Bench", "last_name": "Admin" }),
                )
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    }))
    .await;
    let wall = start.elapsed().as_secs_f64();
    let created = answers.iter().filter(|s| **s == 201).count();
    let refused = answers.iter().filter(|s| **s == 403).count();
    let _ = stop_tx.send(());
    let _ = server.await;
    if sqlite {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        drop_database(admin, db, &name).await;
    }
    anyhow::ensure!(
        created == 1 && refused == 49,
        "setup race: {created} created, {refused} refused"
    );
    Ok(wall)
}
