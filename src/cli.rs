//! The command line: `serve` (the default), `migrate`, `admin create`,
//! and the operator tools `history`, `export`, `replay`, `verify`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};

use crate::input::{Email, Password, PersonName};
use crate::service::accounts::{self, Registration};
use crate::service::RequestContext;
use crate::startup::{shutdown_signal, Application, Runtime};
use crate::vault::Vault;
use crate::{telemetry, Config};

/// How long an operator's one-shot command waits for a database
/// connection (on SQLite, for the write lock a running server keeps
/// taking): patient, unlike a request.
const ONE_SHOT_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// eventauth: authentication and users on an append-only event log.
#[derive(Debug, Parser)]
#[command(name = "eventauth", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP APIs (the default).
    Serve(Config),
    /// Apply database migrations and exit.
    Migrate(Config),
    /// Administer users.
    #[command(subcommand)]
    Admin(Admin),
    /// Kolibri collections: create a facility (with a settings preset), a
    /// classroom in a facility, a learner group in a classroom. Prints the
    /// new id.
    #[command(subcommand)]
    Collection(Collection),
    /// Accounts (Backstack's): create one (prints its id), add a user as a
    /// member with roles in it, take one out.
    #[command(subcommand)]
    Account(Account),
    /// Kolibri facility users: create one (with roles, memberships,
    /// superuser). Prints the new id.
    #[command(subcommand, name = "facility-user")]
    FacilityUser(FacilityUser),
    /// Bulk-load facility users from CSV or JSON lines (Kolibri's
    /// `importusers` columns; `password` or an existing `password_hash`).
    Import {
        #[command(flatten)]
        config: Config,
        #[command(flatten)]
        args: crate::ops::import::ImportArgs,
    },
    /// A user's timeline (sessions included), or their state `--at` a time.
    History {
        #[command(flatten)]
        config: Config,
        #[command(flatten)]
        args: crate::ops::history::HistoryArgs,
    },
    /// Write the event log as JSON lines (secrets redacted), by position or
    /// time range.
    Export {
        #[command(flatten)]
        config: Config,
        #[command(flatten)]
        args: crate::ops::export::ExportArgs,
    },
    /// Erase a person: their data keys destroyed (their personal values in
    /// the log read as erased), their account over, their identifiers free,
    /// their mail and pictures deleted. Prints what was done.
    Erase {
        #[command(flatten)]
        config: Config,
        /// The user: an id, or an email address.
        user: String,
    },
    /// Everything held about a person, as JSON (their right of access).
    #[command(name = "export-user")]
    ExportUser {
        #[command(flatten)]
        config: Config,
        /// The user: an id, or an email address.
        user: String,
    },
    /// Re-wrap every data key with the master key now configured
    /// (EVENTAUTH_MASTER_KEY, the old one in EVENTAUTH_MASTER_KEY_PREVIOUS);
    /// safe while instances serve. See docs/personal-data.md.
    #[command(name = "rotate-master-key")]
    RotateMasterKey(Config),
    /// Seal the personal values of events written before encryption, in
    /// place (once, after upgrading), so that erasure reaches them too.
    #[command(name = "seal-log")]
    SealLog(Config),
    /// Rebuild the read models from the log into new tables while the
    /// service runs, then swap them in.
    Replay(Config),
    /// Rebuild the read models in a scratch space and compare them with the
    /// live ones; exits non-zero on any difference.
    Verify(Config),
}

#[derive(Debug, Subcommand)]
enum Admin {
    /// Create an administrator (e.g. the first one).
    Create {
        #[command(flatten)]
        config: Config,
        /// Email address to log in with.
        #[arg(long)]
        email: String,
        /// Password (or set EVENTAUTH_ADMIN_PASSWORD to keep it out of the
        /// process list).
        #[arg(long, env = "EVENTAUTH_ADMIN_PASSWORD", hide_env_values = true, value_parser = secret)]
        password: SecretString,
        /// Given name.
        #[arg(long, default_value = "Admin")]
        first_name: String,
        /// Family name.
        #[arg(long, default_value = "User")]
        last_name: String,
    },
}

#[derive(Debug, Subcommand)]
enum Collection {
    /// Create a collection.
    Create {
        #[command(flatten)]
        config: Config,
        /// `facility`, `classroom` or `learner_group`.
        #[arg(long)]
        kind: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// The facility of a classroom, the classroom of a learner group.
        #[arg(long)]
        parent: Option<uuid::Uuid>,
        /// A facility's settings preset: `formal`, `nonformal` (Kolibri's
        /// default) or `informal`.
        #[arg(long, default_value = aggregates::organization::DEFAULT_PRESET)]
        preset: String,
        /// Its id (default: a new one); beside a real Kolibri, the id
        /// Kolibri's facility has, so both name it alike.
        #[arg(long)]
        id: Option<uuid::Uuid>,
    },
    /// Change a facility's settings: from a preset and/or one by one
    /// (`--set learner_can_sign_up=false`); prints them.
    Settings {
        #[command(flatten)]
        config: Config,
        /// The facility.
        #[arg(long)]
        facility: uuid::Uuid,
        /// Start from this preset instead of the current settings.
        #[arg(long)]
        preset: Option<String>,
        /// `name=true|false`, Kolibri's names (repeatable).
        #[arg(long = "set")]
        set: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum Account {
    /// Create an account.
    Create {
        #[command(flatten)]
        config: Config,
        /// Its title (what the account choice shows).
        #[arg(long)]
        title: String,
        /// Its id (default: a new one).
        #[arg(long)]
        id: Option<uuid::Uuid>,
    },
    /// Make a user (by email) a member, or set their roles in it.
    AddMember {
        #[command(flatten)]
        config: Config,
        /// The account.
        #[arg(long)]
        account: uuid::Uuid,
        /// The user's email.
        #[arg(long)]
        email: String,
        /// A role in the account (repeatable; `a-z 0-9 _ -`).
        #[arg(long = "role")]
        roles: Vec<String>,
    },
    /// Take a user (by email) out of an account.
    RemoveMember {
        #[command(flatten)]
        config: Config,
        /// The account.
        #[arg(long)]
        account: uuid::Uuid,
        /// The user's email.
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Subcommand)]
enum FacilityUser {
    /// Create a facility user.
    Create {
        #[command(flatten)]
        config: Config,
        /// The facility.
        #[arg(long)]
        facility: uuid::Uuid,
        /// Username, unique in the facility (case-insensitive).
        #[arg(long)]
        username: String,
        /// Password (or EVENTAUTH_FACILITY_USER_PASSWORD); none: a user
        /// without a password (for facilities with passwordless learners).
        #[arg(long, env = "EVENTAUTH_FACILITY_USER_PASSWORD", hide_env_values = true, value_parser = secret)]
        password: Option<SecretString>,
        /// Full name.
        #[arg(long, default_value = "")]
        full_name: String,
        /// Make them a superuser (the global administrator role).
        #[arg(long)]
        superuser: bool,
        /// A role on the facility: `admin`, `coach` or `assignable_coach`
        /// (repeatable).
        #[arg(long)]
        role: Vec<String>,
        /// A classroom or learner group to join (repeatable).
        #[arg(long)]
        member_of: Vec<uuid::Uuid>,
        /// A classroom to coach (repeatable).
        #[arg(long)]
        coach_of: Vec<uuid::Uuid>,
    },
    /// Print a login token for a facility user: `POST /api/auth/session
    /// {user_id, auth_token, facility}` logs them in for 15 minutes.
    LoginToken {
        #[command(flatten)]
        config: Config,
        /// The user.
        #[arg(long)]
        user: uuid::Uuid,
    },
}

/// `settings` with `name=true|false` assignments applied (Kolibri's names;
/// an unknown name or value is an error).
fn with_settings(
    settings: aggregates::FacilitySettings,
    assignments: &[String],
) -> anyhow::Result<aggregates::FacilitySettings> {
    let mut value = serde_json::to_value(settings)?;
    for assignment in assignments {
        let (name, raw) = assignment
            .split_once('=')
            .with_context(|| format!("{assignment}: expected name=true|false"))?;
        let flag: bool = raw
            .trim()
            .parse()
            .with_context(|| format!("{assignment}: the value is true or false"))?;
        let slot = value
            .get_mut(name.trim())
            .with_context(|| format!("{name}: no such facility setting"))?;
        *slot = serde_json::Value::Bool(flag);
    }
    Ok(serde_json::from_value(value)?)
}

fn secret(value: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(value.to_string()))
}

/// Parses the command line and runs the command.
/// Runs `work` on an instance's state without serving (no relay: a
/// one-shot command publishes nothing), then stops it.
async fn with_app<T, F, Fut>(mut config: Config, work: F) -> anyhow::Result<T>
where
    F: FnOnce(crate::App) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    config.nats_url = None;
    let runtime = Runtime::start(config).await?;
    let result = work(runtime.app().clone()).await;
    runtime.stop().await;
    result
}

/// The user `text` names: an id, or an email address (found through its
/// claim, whose id is keyed: hence an instance's state).
async fn user_named(app: &crate::App, text: &str) -> anyhow::Result<uuid::Uuid> {
    if let Ok(id) = text.parse::<uuid::Uuid>() {
        return Ok(id);
    }
    let email = Email::parse(text, "user")?;
    let claim = app
        .store
        .load::<aggregates::IdentifierClaim>(&app.identifiers.email(&email))
        .await?;
    claim.state.owner().context("no user with this email")
}

/// What `eventauth erase` prints.
fn erasure_report(erased: &crate::service::erasure::Erasure) -> String {
    let mut text = format!(
        "{} user {}: {} data keys destroyed, {} queued mails and {} pictures deleted; \
         their identifiers are free again\n",
        if erased.again {
            "already erased; tidied up"
        } else {
            "erased"
        },
        erased.user_id,
        erased.keys,
        erased.mails,
        erased.pictures,
    );
    if erased.in_the_clear > 0 {
        text.push_str(&format!(
            "warning: {} of their events were written before encryption and keep their \
             personal values in the clear in the log; the read models and snapshots no \
             longer hold them (docs/personal-data.md)\n",
            erased.in_the_clear
        ));
    }
    text
}

/// The store of a one-shot command: connected, migrated, its vault open.
async fn one_shot(config: &Config) -> anyhow::Result<(projections::Db, Arc<Vault>)> {
    let db = crate::store::connect(
        config.database_url.as_ref(),
        &config.data_dir,
        2,
        ONE_SHOT_WAIT,
    )
    .await?;
    let vault = crate::store::prepare(&db, config).await?;
    Ok((db, vault))
}

pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli
        .command
        .unwrap_or_else(|| Command::Serve(Config::defaults()));
    let format = match &command {
        Command::Serve(c)
        | Command::Migrate(c)
        | Command::Replay(c)
        | Command::Verify(c)
        | Command::RotateMasterKey(c)
        | Command::SealLog(c)
        | Command::Erase { config: c, .. }
        | Command::ExportUser { config: c, .. }
        | Command::Export { config: c, .. }
        | Command::History { config: c, .. }
        | Command::Import { config: c, .. }
        | Command::Admin(Admin::Create { config: c, .. })
        | Command::Collection(
            Collection::Create { config: c, .. } | Collection::Settings { config: c, .. },
        )
        | Command::Account(
            Account::Create { config: c, .. }
            | Account::AddMember { config: c, .. }
            | Account::RemoveMember { config: c, .. },
        )
        | Command::FacilityUser(
            FacilityUser::Create { config: c, .. } | FacilityUser::LoginToken { config: c, .. },
        ) => c.log_format.clone(),
    };
    // `export` writes its data to standard output: its logs go elsewhere.
    telemetry::init(
        &format,
        matches!(
            command,
            Command::Export { .. }
                | Command::ExportUser { .. }
                | Command::Erase { .. }
                | Command::RotateMasterKey(_)
                | Command::SealLog(_)
                | Command::History { .. }
                | Command::Replay(_)
                | Command::Verify(_)
                | Command::Collection(_)
                | Command::Account(_)
                | Command::FacilityUser(_)
        ),
    );
    match run(command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "eventauth failed");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(config) => {
            Application::build(config)
                .await?
                .run_until_stopped(shutdown_signal())
                .await
        }
        Command::History { config, args } => {
            let text = with_app(config, |app| async move {
                let user_id = user_named(&app, &args.user).await?;
                let codec = app.store.vault().clone();
                crate::ops::history::history(app.store.db(), codec.as_ref(), user_id, &args).await
            })
            .await?;
            std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes())?;
            Ok(())
        }
        Command::Erase { config, user } => {
            let erased = with_app(config, |app| async move {
                let user_id = user_named(&app, &user).await?;
                let metadata = crate::store::Metadata::system();
                Ok(crate::service::erasure::erase_authorized(&app, user_id, &metadata).await?)
            })
            .await?;
            std::io::Write::write_all(
                &mut std::io::stdout().lock(),
                erasure_report(&erased).as_bytes(),
            )?;
            Ok(())
        }
        Command::ExportUser { config, user } => {
            let export = with_app(config, |app| async move {
                let user_id = user_named(&app, &user).await?;
                Ok(crate::service::personal_export::of(&app, user_id).await?)
            })
            .await?;
            let text = serde_json::to_string_pretty(&export)? + "\n";
            std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes())?;
            Ok(())
        }
        Command::SealLog(config) => {
            let sealed = with_app(config, |app| async move {
                crate::ops::seal_log::seal_log(&app.store).await
            })
            .await?;
            let text = format!(
                "sealed the personal values of {} events written before encryption; dropped \
                 {} snapshots holding them. Their clear versions stay in backups taken \
                 before, and on PostgreSQL in dead row versions until VACUUM FULL events\n",
                sealed.events, sealed.snapshots
            );
            std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes())?;
            Ok(())
        }
        Command::RotateMasterKey(config) => {
            let (db, vault) = one_shot(&config).await?;
            let rewrapped = vault.rotate().await?;
            db.close().await;
            let text = format!(
                "re-wrapped {rewrapped} data keys with master key {}; the store's master key is \
                 now that one (EVENTAUTH_MASTER_KEY_PREVIOUS may be removed once every \
                 instance runs with it)\n",
                vault.master_key_id()
            );
            std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes())?;
            Ok(())
        }
        Command::Import { mut config, args } => {
            config.nats_url = None;
            let runtime = Runtime::start(config).await?;
            let result = crate::ops::import::import(runtime.app(), &args).await;
            runtime.stop().await;
            let report = result?;
            std::io::Write::write_all(
                &mut std::io::stdout().lock(),
                report.to_string().as_bytes(),
            )?;
            Ok(())
        }
        Command::Export { config, args } => {
            let (db, vault) = one_shot(&config).await?;
            let written = crate::ops::export::export(&db, vault.as_ref(), &args).await?;
            tracing::info!(events = written, "exported");
            Ok(())
        }
        Command::Replay(config) => {
            let (db, vault) = one_shot(&config).await?;
            let report = crate::ops::rebuild::replay(&db, vault.for_rebuild()).await?;
            std::io::Write::write_all(&mut std::io::stdout().lock(), report.as_bytes())?;
            Ok(())
        }
        Command::Verify(config) => {
            let (db, vault) = one_shot(&config).await?;
            let (same, report) = crate::ops::rebuild::verify(&db, vault.for_rebuild()).await?;
            std::io::Write::write_all(&mut std::io::stdout().lock(), report.as_bytes())?;
            anyhow::ensure!(same, "the read models differ from what the log produces");
            Ok(())
        }
        Command::Migrate(config) => {
            let (db, _vault) = one_shot(&config).await?;
            db.close().await;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Collection(Collection::Create {
            mut config,
            kind,
            name,
            parent,
            preset,
            id,
        }) => {
            let kind = match kind.as_str() {
                "facility" => aggregates::OrganizationKind::Facility,
                "classroom" => aggregates::OrganizationKind::Classroom,
                "learner_group" => aggregates::OrganizationKind::LearnerGroup,
                other => {
                    anyhow::bail!("unknown kind {other}: facility, classroom or learner_group")
                }
            };
            let settings = crate::service::facilities::preset(&preset)?;
            config.nats_url = None;
            let runtime = Runtime::start(config).await?;
            let result = crate::service::facilities::create_with_id(
                runtime.app(),
                id.unwrap_or_else(uuid::Uuid::now_v7),
                kind,
                &name,
                parent,
                Some(settings),
                &RequestContext::system(),
            )
            .await;
            runtime.stop().await;
            let id = result?;
            std::io::Write::write_all(&mut std::io::stdout().lock(), format!("{id}\n").as_bytes())?;
            Ok(())
        }
        Command::Account(command) => account(command).await,
        Command::Collection(Collection::Settings {
            mut config,
            facility,
            preset,
            set,
        }) => {
            config.nats_url = None;
            let runtime = Runtime::start(config).await?;
            let app = runtime.app().clone();
            let result = async {
                use crate::service::facilities;
                let base = match &preset {
                    Some(name) => facilities::preset(name)?,
                    None => facilities::settings(&app, facility).await?,
                };
                let settings = with_settings(base, &set)?;
                facilities::change_settings(&app, facility, settings, &RequestContext::system())
                    .await?;
                anyhow::Ok(settings)
            }
            .await;
            runtime.stop().await;
            let settings = result?;
            let text = serde_json::to_string_pretty(&settings)? + "\n";
            std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes())?;
            Ok(())
        }
        Command::FacilityUser(FacilityUser::Create {
            mut config,
            facility,
            username,
            password,
            full_name,
            superuser,
            role,
            member_of,
            coach_of,
        }) => {
            let roles = role
                .iter()
                .map(|r| {
                    aggregates::RoleKind::parse(r).with_context(|| {
                        format!("unknown role {r}: admin, coach or assignable_coach")
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            config.nats_url = None;
            let runtime = Runtime::start(config).await?;
            let app = runtime.app().clone();
            let result = async {
                use crate::service::{collections, facility_users};
                let ctx = RequestContext::system();
                let input = facility_users::Fields {
                    username: Some(username),
                    password: Some(
                        password
                            .map(|p| p.expose_secret().to_string())
                            .unwrap_or_else(|| facility_users::NOT_SPECIFIED.to_string()),
                    ),
                    full_name: Some(full_name),
                    // Kolibri's `create_superuser` defers these.
                    gender: superuser.then(|| "DEFERRED".to_string()),
                    birth_year: superuser.then(|| "DEFERRED".to_string()),
                    ..Default::default()
                };
                let user_id = facility_users::create(&app, facility, input, &ctx).await?;
                if superuser {
                    collections::make_superuser(&app, user_id, &ctx).await?;
                }
                for kind in roles {
                    collections::assign_role(&app, user_id, facility, kind, &ctx).await?;
                }
                for classroom in coach_of {
                    let kind = aggregates::RoleKind::Coach;
                    collections::assign_role(&app, user_id, classroom, kind, &ctx).await?;
                }
                for collection in member_of {
                    collections::enroll(&app, user_id, collection, &ctx).await?;
                }
                anyhow::Ok(user_id)
            }
            .await;
            runtime.stop().await;
            let id = result?;
            std::io::Write::write_all(&mut std::io::stdout().lock(), format!("{id}\n").as_bytes())?;
            Ok(())
        }
        Command::FacilityUser(FacilityUser::LoginToken { mut config, user }) => {
            config.nats_url = None;
            let runtime = Runtime::start(config).await?;
            let result = crate::service::sessions::login_token(runtime.app(), user).await;
            runtime.stop().await;
            let token = result?;
            std::io::Write::write_all(
                &mut std::io::stdout().lock(),
                format!("{token}\n").as_bytes(),
            )?;
            Ok(())
        }
        Command::Admin(Admin::Create {
            mut config,
            email,
            password,
            first_name,
            last_name,
        }) => {
            let input = Registration {
                email: Email::parse(&email, "email")?,
                password: Password::new_password(password.expose_secret().to_string(), "password")?,
                first_name: PersonName::parse(&first_name, "first-name")?,
                last_name: PersonName::parse(&last_name, "last-name")?,
                roles: vec!["admin".to_string()],
            };
            config.nats_url = None;
            let runtime = Runtime::start(config).await?;
            let result = accounts::register(runtime.app(), input, &RequestContext::system()).await;
            runtime.stop().await;
            let user = result?;
            tracing::info!(user_id = %user.id, "administrator created");
            Ok(())
        }
    }
}

/// Runs an `account` command (without the relay: the service relays what
/// it writes when it next runs).
async fn account(command: Account) -> anyhow::Result<()> {
    use crate::service::member_accounts;
    let (Account::Create { config, .. }
    | Account::AddMember { config, .. }
    | Account::RemoveMember { config, .. }) = &command;
    let mut config = config.clone();
    config.nats_url = None;
    let runtime = Runtime::start(config).await?;
    let app = runtime.app().clone();
    let ctx = RequestContext::system();
    let user_of = |email: String| {
        let app = app.clone();
        async move {
            let email = crate::input::Email::parse(&email, "email")?;
            let identifier = crate::service::sessions::Identifier::Email(email);
            crate::service::sessions::holder(&app, &identifier)
                .await?
                .and_then(|user| user.state.id())
                .ok_or(crate::Error::NotFound)
        }
    };
    let result = async {
        match command {
            Account::Create { title, id, .. } => {
                let id =
                    member_accounts::create(&app, member_accounts::By::Operator, id, &title, &ctx)
                        .await?;
                Ok(Some(id))
            }
            Account::AddMember {
                account,
                email,
                roles,
                ..
            } => {
                let user = user_of(email).await?;
                member_accounts::add_member(
                    &app,
                    member_accounts::By::Operator,
                    account,
                    user,
                    roles,
                    &ctx,
                )
                .await?;
                Ok(None)
            }
            Account::RemoveMember { account, email, .. } => {
                let user = user_of(email).await?;
                member_accounts::remove_member(
                    &app,
                    member_accounts::By::Operator,
                    account,
                    user,
                    &ctx,
                )
                .await?;
                Ok(None)
            }
        }
    }
    .await;
    runtime.stop().await;
    let created: Option<uuid::Uuid> = result.map_err(|e: crate::Error| anyhow::anyhow!("{e}"))?;
    if let Some(id) = created {
        std::io::Write::write_all(&mut std::io::stdout().lock(), format!("{id}\n").as_bytes())?;
    }
    Ok(())
}
