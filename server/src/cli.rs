//! The `mailward` command line.
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use app::core::config::Config;

#[derive(Parser, Debug)]
#[command(
    name = "mailward",
    version,
    about = "Mailward — the control plane for multi-domain email hosting",
    long_about = "Mailward — the control plane for multi-domain email hosting.\n\n\
        Settings come from built-in defaults, then the TOML file given with --config, then \
        MAILWARD_* environment variables, then flags.\n\
        With no database configured, Mailward keeps its data in ./data/mailward.db (SQLite)."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone, Default)]
pub struct Global {
    /// TOML configuration file.
    #[arg(long, global = true, env = "MAILWARD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database: sqlite://PATH or postgres://USER:PASS@HOST:PORT/DB.
    #[arg(long, global = true, env = "MAILWARD_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true, env = "MAILWARD_LOG_JSON")]
    pub log_json: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the web console and API (migrates the database first).
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Owners' break-glass, on the server only.
    #[command(subcommand)]
    Owner(OwnerCmd),
    /// Inspect the audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Import mailboxes from a CSV file (address, display_name, quota, invite_to): every line
    /// is checked first; then all are created and invited, or none.
    Import {
        /// The tenant (short name or id).
        #[arg(long)]
        tenant: String,
        /// The CSV file.
        file: PathBuf,
        /// Only check the file and list its errors; create nothing.
        #[arg(long)]
        check: bool,
    },
    /// Background jobs.
    #[command(subcommand)]
    Jobs(JobsCmd),
    /// The mail plane: Postfix + Dovecot reading this database.
    #[command(subcommand)]
    Mailplane(MailplaneCmd),
    /// The mail plane's DKIM signer: a milter Postfix's submission service calls (render the
    /// mail plane with `--milter inet:HOST:PORT`). Signs with each domain's active key.
    Milter {
        /// Address to listen on (loopback: only the local Postfix talks to it).
        #[arg(long, default_value = "127.0.0.1:8891")]
        listen: String,
    },
    /// The mail plane's submission policy: a Postfix policy server (render the mail plane with
    /// `--policy inet:HOST:PORT`) that holds each mailbox and tenant to its plan's messages
    /// per hour.
    Policy {
        /// Address to listen on (loopback: only the local Postfix talks to it).
        #[arg(long, default_value = "127.0.0.1:10040")]
        listen: String,
    },
    /// Fill a new, empty database with a benchmark dataset (tenants, domains, mailboxes)
    /// and print a session cookie of a benchmark owner who cannot sign in.
    Seed {
        #[arg(long, default_value_t = 500)]
        domains: i64,
        #[arg(long, default_value_t = 20)]
        mailboxes_per_domain: i64,
        /// Activate every second mailbox of an active domain with the password held in this
        /// environment variable (for benchmarks of the mail plane: IMAP logins, RCPT of
        /// active mailboxes). Without it every mailbox stays invited.
        #[arg(long, value_name = "VAR")]
        mailbox_password_env: Option<String>,
    },
}

#[derive(Args, Debug, Clone, Default)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, env = "MAILWARD_BIND", value_name = "ADDR")]
    pub bind: Option<String>,
    /// Public address of the console, used in links (default http://BIND).
    #[arg(long, env = "MAILWARD_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Folder holding pkg/ with the built CSS, JS and wasm (default target/site).
    #[arg(long, env = "MAILWARD_SITE_ROOT", value_name = "DIR")]
    pub site_root: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// Create an API token for an existing account; prints it once.
    Create {
        /// The account the token acts for.
        #[arg(long)]
        email: String,
        /// A name to recognise the token by.
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: read, write, audit.
        #[arg(long, default_value = "read")]
        scopes: String,
        /// Days until it expires (1–365).
        #[arg(long, default_value_t = 30)]
        days: i64,
        /// Limit the token to this tenant (short name or id); repeat for several. Without it:
        /// every tenant the account sees. A limited token cannot act platform-wide.
        #[arg(long = "tenant")]
        tenants: Vec<String>,
        /// Accept the token only from this address or CIDR range; repeat for several.
        #[arg(long = "allow-from")]
        allow_from: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum OwnerCmd {
    /// Print a one-time link that gives an existing owner's account a new password,
    /// authenticator and recovery codes (for an owner who lost both password and codes).
    /// The old ones stop working when it is used; it is audited with the host user.
    Recover {
        /// The owner's email address.
        #[arg(long)]
        email: String,
    },
    /// Make an active operator an owner at once, audited with the host user. In the console
    /// this is a change request another owner approves; here it is the way to a second owner
    /// when there is only one.
    Promote {
        /// The operator's email address.
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum JobsCmd {
    /// Run queued jobs, and running ones whose worker stopped, until none is left.
    Run,
}

#[derive(Subcommand, Debug)]
pub enum MailplaneCmd {
    /// Write a complete Postfix + Dovecot configuration for this database (see README,
    /// "Connect a mail server"); `scripts/mailplane start DIR` runs it.
    Render(crate::mailplane::RenderArgs),
}

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// Recompute the hash chain; exit 0 when intact, 1 with the first broken event otherwise.
    Verify {
        /// Also check the chain against checkpoints exported earlier (one JSON object per
        /// line, as `audit checkpoint` prints them): finds events removed below them.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
    },
    /// Print a signed checkpoint of the chain's head (one JSON line): append it to a file
    /// kept off this host, or ship it to your log system.
    Checkpoint,
}

/// The environment variables of `[smtp]`.
pub const SMTP_ENV: [&str; 8] = [
    "MAILWARD_SMTP_HOST",
    "MAILWARD_SMTP_PORT",
    "MAILWARD_SMTP_FROM",
    "MAILWARD_SMTP_USERNAME",
    "MAILWARD_SMTP_PASSWORD",
    "MAILWARD_SMTP_PASSWORD_FILE",
    "MAILWARD_SMTP_TLS",
    "MAILWARD_SMTP_TLS_CA_FILE",
];

/// Defaults ← TOML file ← environment ← flags.
pub fn load_config(global: &Global, serve: Option<&ServeArgs>) -> Result<Config, String> {
    let mut cfg = match &global.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            toml::from_str::<Config>(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => Config::default(),
    };
    if let Some(u) = &global.database_url {
        cfg.database_url = u.clone();
    }
    if global.log_json {
        cfg.log_format = "json".into();
    }
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let Some(v) = env("MAILWARD_SECURE_COOKIES") {
        cfg.secure_cookies = v;
    }
    if let Some(v) = env("MAILWARD_CLOCK_OFFSET_FILE") {
        cfg.clock_offset_file = Some(v);
    }
    if let Some(v) = env("MAILWARD_AUDIT_KEY_FILE") {
        cfg.audit_key_file = Some(v);
    }
    if let Some(v) = env("MAILWARD_TRUSTED_PROXIES") {
        cfg.trusted_proxies = v
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
    }
    if let Some(v) = env("MAILWARD_DNS_RESOLVER") {
        cfg.dns_resolver = Some(v);
    }
    if let Some(v) = env("MAILWARD_DNS_PORT") {
        cfg.dns_port = v
            .parse()
            .map_err(|_| "MAILWARD_DNS_PORT must be a port number".to_string())?;
    }
    if let Some(v) = env("MAILWARD_DMARC_MAILDIR") {
        cfg.dmarc_maildir = Some(v);
    }
    if let Some(v) = env("MAILWARD_DKIM_KEY_FILE") {
        cfg.dkim_key_file = Some(v);
    }
    if let Some(v) = env("MAILWARD_DKIM_ZONE") {
        cfg.dkim_zone = Some(v);
    }
    if let Some(v) = env("MAILWARD_DKIM_ZONE_SERVER") {
        cfg.dkim_zone_server = Some(v);
    }
    if let Some(v) = env("MAILWARD_DOVEADM_URL") {
        cfg.doveadm_url = Some(v);
    }
    if let Some(v) = env("MAILWARD_RELAY_PORTS") {
        cfg.relay_ports = v
            .split(',')
            .map(|p| p.trim().parse::<u16>().unwrap_or(0))
            .collect();
    }
    if let Some(v) = env("MAILWARD_MAILPLANE_SMTP") {
        cfg.mailplane_smtp = Some(v);
    }
    if let Some(v) = env("MAILWARD_RDAP_URL") {
        cfg.rdap_url = Some(v);
    }
    if let Some(v) = env("MAILWARD_DKIM_ZONE_TSIG_FILE") {
        cfg.dkim_zone_tsig_file = Some(v);
    }
    if let Some(v) = env("MAILWARD_GEOIP_COUNTRY_DB") {
        cfg.geoip_country_db = Some(v);
    }
    if let Some(v) = env("MAILWARD_AGENCY_NAME") {
        cfg.agency_name = v;
    }
    if let Some(v) = env("MAILWARD_MAIL_HOST") {
        cfg.mail_host = Some(v);
    }
    if let Some(v) = env("MAILWARD_TRUST_PROXY") {
        cfg.trust_proxy = matches!(v.as_str(), "1" | "true" | "yes");
    }
    // Outgoing mail: the environment overrides [smtp] field by field; without an [smtp]
    // section, MAILWARD_SMTP_HOST and MAILWARD_SMTP_FROM make one.
    if let Some(first) = SMTP_ENV.iter().find(|k| env(k).is_some()) {
        let mut smtp = match cfg.smtp.take() {
            Some(s) => s,
            None => {
                let (Some(host), Some(from)) =
                    (env("MAILWARD_SMTP_HOST"), env("MAILWARD_SMTP_FROM"))
                else {
                    return Err(format!(
                        "{first} is set, but there is no SMTP server: set MAILWARD_SMTP_HOST and \
                         MAILWARD_SMTP_FROM (or host and from in [smtp])"
                    ));
                };
                app::core::config::SmtpConfig {
                    host,
                    from,
                    ..Default::default()
                }
            }
        };
        if let Some(v) = env("MAILWARD_SMTP_HOST") {
            smtp.host = v;
        }
        if let Some(v) = env("MAILWARD_SMTP_FROM") {
            smtp.from = v;
        }
        if let Some(p) = env("MAILWARD_SMTP_PORT") {
            smtp.port = p
                .parse()
                .map_err(|_| "MAILWARD_SMTP_PORT must be a port number".to_string())?;
        }
        if let Some(v) = env("MAILWARD_SMTP_USERNAME") {
            smtp.username = Some(v);
        }
        // One source for the password: the environment's replaces the file's.
        match (
            env("MAILWARD_SMTP_PASSWORD"),
            env("MAILWARD_SMTP_PASSWORD_FILE"),
        ) {
            (Some(_), Some(_)) => {
                return Err(
                    "set MAILWARD_SMTP_PASSWORD or MAILWARD_SMTP_PASSWORD_FILE, not both".into(),
                )
            }
            (Some(v), None) => {
                smtp.password = Some(v);
                smtp.password_file = None;
            }
            (None, Some(v)) => {
                smtp.password_file = Some(v);
                smtp.password = None;
            }
            (None, None) => {}
        }
        if let Some(v) = env("MAILWARD_SMTP_TLS") {
            smtp.tls = Some(v);
        }
        if let Some(v) = env("MAILWARD_SMTP_TLS_CA_FILE") {
            smtp.tls_ca_file = Some(v);
        }
        cfg.smtp = Some(smtp);
    }
    if let Some(s) = serve {
        if let Some(b) = &s.bind {
            cfg.bind = b.clone();
        }
        if let Some(p) = &s.public_url {
            cfg.public_url = p.clone();
        }
        if let Some(r) = &s.site_root {
            cfg.site_root = r.clone();
        }
    }
    cfg.validate()?;
    Ok(cfg)
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let serve_args = match &cli.command {
        Command::Serve(a) => Some(a.clone()),
        _ => None,
    };
    let cfg = match load_config(&cli.global, serve_args.as_ref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mailward: {e}");
            return ExitCode::from(2);
        }
    };
    crate::init_tracing(&cfg.log_format);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Server-side rendering of deep pages needs more than tokio's 2 MiB in debug builds.
        .thread_stack_size(8 * 1024 * 1024)
        .build()
        .expect("tokio runtime");
    rt.block_on(run(cli.command, cfg))
}

async fn run(cmd: Command, cfg: Config) -> ExitCode {
    let fail = |e: &dyn std::fmt::Display| {
        eprintln!("mailward: {e}");
        ExitCode::FAILURE
    };
    // `serve` refuses at once, in one line, what would otherwise start a broken console.
    if matches!(cmd, Command::Serve(_)) {
        if let Err(e) = crate::check_site(&cfg.site_root) {
            return fail(&e);
        }
    }
    let db_refused = |what: &str, e: &dyn std::fmt::Display| {
        let url = app::core::db::redact_url(&cfg.database_url);
        fail(&format!("cannot {what} the database {url}: {e}").replace('\n', " "))
    };
    let db = match app::core::db::Db::connect(&cfg.database_url).await {
        Ok(db) => db,
        Err(e) => return db_refused("open", &e),
    };
    if let Err(e) = db.migrate().await {
        return db_refused("migrate", &e);
    }
    let db = match app::audit::service::attach_key(db, &cfg).await {
        Ok(db) => db,
        Err(e) => return fail(&e),
    };
    let state = app::core::state::AppState::new(db, cfg, crate::kinds());
    match cmd {
        Command::Mailplane(MailplaneCmd::Render(mut args)) => {
            if args.auth_policy.is_some() {
                match app::monitoring::service::existing_policy_token(&state.config) {
                    Ok(t) => args.auth_policy_token = Some(t),
                    Err(e) => return fail(&e),
                }
            }
            if args.doveadm_port.is_some() {
                match app::core::doveadm::existing_api_key(&state.config) {
                    Ok(k) => args.doveadm_api_key = Some(k),
                    Err(e) => return fail(&e),
                }
            }
            let url = args
                .mail_database_url
                .clone()
                .unwrap_or_else(|| state.config.database_url.clone());
            let files = crate::mailplane::DbTarget::parse(&url)
                .and_then(|db| crate::mailplane::render(&args, &db))
                .and_then(|files| crate::mailplane::write(&args, &files).map(|()| files));
            match files {
                Ok(files) => {
                    for f in &files {
                        println!("wrote {}", args.out.join(f.path).display());
                    }
                    println!(
                        "Start it (as root) with: scripts/mailplane start {}",
                        args.out.display()
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        Command::Migrate => {
            println!("Database is up to date.");
            ExitCode::SUCCESS
        }
        Command::Serve(_) => match crate::serve(state).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        },
        Command::Token(TokenCmd::Create {
            email,
            name,
            scopes,
            days,
            tenants,
            allow_from,
        }) => {
            let scopes: Vec<String> = scopes.split(',').map(|s| s.trim().to_string()).collect();
            let limits = app::auth::service::TokenLimits {
                tenants: (!tenants.is_empty()).then_some(tenants),
                allow_from: (!allow_from.is_empty()).then_some(allow_from),
            };
            match app::auth::service::create_token_for_email_with(
                &state, &email, &name, &scopes, days, &limits,
            )
            .await
            {
                Ok((view, secret)) => {
                    eprintln!(
                        "Created token {} ({}) for {email}, scopes {}, expires {}. It is shown only now:",
                        view.id,
                        view.name,
                        view.scopes.join(","),
                        chrono::DateTime::from_timestamp(view.expires_at, 0)
                            .map(|t| t.to_rfc3339())
                            .unwrap_or_default()
                    );
                    println!("{secret}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e.user_message()),
            }
        }
        Command::Owner(OwnerCmd::Recover { email }) => {
            let host_user = host_user();
            match app::auth::service::owner_recovery_link(&state, &email, &host_user).await {
                Ok(link) => {
                    eprintln!(
                        "A one-time recovery link for {email} (recorded in the audit log as run by {host_user}). \
                         It works once, within {} minutes, and is shown only now:",
                        app::auth::service::RECOVERY_LINK_TTL_SECS / 60
                    );
                    println!("{link}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e.user_message()),
            }
        }
        Command::Owner(OwnerCmd::Promote { email }) => {
            let host_user = host_user();
            match app::auth::service::promote_from_server(&state, &email, &host_user).await {
                Ok(()) => {
                    eprintln!(
                        "{email} is an owner now (recorded in the audit log as run by {host_user})."
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e.user_message()),
            }
        }
        Command::Milter { listen } => match crate::milter::run(state, &listen).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        },
        Command::Policy { listen } => match crate::policy::run(state, &listen).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        },
        Command::Seed {
            domains,
            mailboxes_per_domain,
            mailbox_password_env,
        } => {
            let started = std::time::Instant::now();
            let mailbox_password = match mailbox_password_env.as_deref().map(std::env::var) {
                None => None,
                Some(Ok(p)) if !p.is_empty() => Some(p),
                Some(_) => {
                    return fail(&format!(
                        "--mailbox-password-env: the environment variable {} is not set",
                        mailbox_password_env.unwrap_or_default()
                    ))
                }
            };
            let plan = crate::seed::SeedPlan {
                domains,
                mailboxes_per_domain,
                mailbox_password,
            };
            match crate::seed::seed(&state, &plan).await {
                Ok(s) => {
                    eprintln!(
                        "Seeded {} tenants, {} domains, {} mailboxes ({} active) in {:.1} s. \
                         First domain: {}. Benchmark owner session cookie (valid 12 h):",
                        s.tenants,
                        s.domains,
                        s.mailboxes,
                        s.active,
                        started.elapsed().as_secs_f64(),
                        s.first_domain
                    );
                    println!("{}", s.cookie);
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e.user_message()),
            }
        }
        Command::Import {
            tenant,
            file,
            check,
        } => import(&state, &tenant, &file, check).await,
        Command::Jobs(JobsCmd::Run) => {
            if let Err(e) = app::core::jobs::ensure_recurring(&state).await {
                return fail(&e.user_message());
            }
            let worker = app::core::jobs::worker_name();
            match app::core::jobs::run_pending(&state, &worker).await {
                Ok(n) => {
                    println!("{n} job(s) run.");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e.user_message()),
            }
        }
        Command::Audit(AuditCmd::Checkpoint) => {
            match app::audit::service::checkpoint(&state.db, state.clock.now()).await {
                Ok(cp) => {
                    println!(
                        "{}",
                        serde_json::to_string(&cp).expect("checkpoint serialises")
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e),
            }
        }
        Command::Audit(AuditCmd::Verify { checkpoint }) => {
            let checkpoints = match &checkpoint {
                None => Vec::new(),
                Some(path) => match std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))
                    .and_then(|t| app::audit::service::parse_checkpoints(&t))
                {
                    Ok(c) => c,
                    Err(e) => return fail(&e),
                },
            };
            match app::audit::service::verify_with(&state.db, &checkpoints).await {
                Ok(r) if r.ok() => {
                    println!(
                        "Audit chain intact: {} events verified{}{}.",
                        r.events,
                        match r.first_keyed {
                            Some(1) => " (all keyed)".to_string(),
                            Some(k) => format!(
                                " (keyed from event {k}; earlier ones predate keyed chains)"
                            ),
                            None => String::new(),
                        },
                        if r.checkpoints > 0 {
                            format!(", consistent with {} checkpoint(s)", r.checkpoints)
                        } else {
                            String::new()
                        }
                    );
                    ExitCode::SUCCESS
                }
                Ok(r) => {
                    println!(
                        "Audit chain BROKEN at event {}: {} ({} events verified before it).",
                        r.first_broken.unwrap_or_default(),
                        r.reason.unwrap_or_default(),
                        r.events
                    );
                    ExitCode::FAILURE
                }
                Err(e) => fail(&e),
            }
        }
    }
}

async fn import(
    state: &app::core::state::AppState,
    tenant: &str,
    file: &std::path::Path,
    check: bool,
) -> ExitCode {
    use app::imports::service;
    let fail = |e: &dyn std::fmt::Display| {
        eprintln!("mailward: {e}");
        ExitCode::FAILURE
    };
    let csv = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => return fail(&format!("cannot read {}: {e}", file.display())),
    };
    let actor = app::core::authz::Actor::system("mailward-cli");
    let started = std::time::Instant::now();
    let job = match service::preview(state, &actor, tenant, &csv).await {
        Ok(j) => j,
        Err(e) => return fail(&e.user_message()),
    };
    eprintln!(
        "Checked {} rows in {:.2} s: {} with errors.",
        job.rows,
        started.elapsed().as_secs_f64(),
        job.errors
    );
    if job.errors > 0 {
        if let Some(e) = &job.error {
            eprintln!("  {e}");
        }
        if let Ok(rows) = service::rows(state, &actor, &job.id, 10_000).await {
            for r in rows.iter().filter(|r| r.error.is_some()) {
                eprintln!("  line {}: {}", r.line, r.error.clone().unwrap_or_default());
            }
        }
        let _ = service::cancel(state, &actor, &job.id).await;
        return ExitCode::FAILURE;
    }
    if check {
        let _ = service::cancel(state, &actor, &job.id).await;
        println!(
            "The file is fine: {} mailboxes would be created.",
            job.total
        );
        return ExitCode::SUCCESS;
    }
    if let Err(e) = service::start(state, &actor, &job.id).await {
        return fail(&e.user_message());
    }
    let run_started = std::time::Instant::now();
    let worker = app::core::jobs::worker_name();
    let progress = {
        let st = state.clone();
        let id = job.id.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                if let Ok(j) = service::get(&st, &app::core::authz::Actor::system("cli"), &id).await
                {
                    eprintln!("  {} {}: {} of {}", j.state, j.phase, j.done, j.total);
                }
            }
        })
    };
    let r = app::core::jobs::run_pending(state, &worker).await;
    progress.abort();
    if let Err(e) = r {
        return fail(&e.user_message());
    }
    match service::get(state, &actor, &job.id).await {
        Ok(j) if j.state == "done" => {
            println!(
                "Imported {} mailboxes into {} in {:.2} s (job {}).",
                j.total,
                j.tenant_name,
                run_started.elapsed().as_secs_f64(),
                j.id
            );
            ExitCode::SUCCESS
        }
        Ok(j) => fail(&format!(
            "the import is {}: {}",
            j.state,
            j.error.unwrap_or_default()
        )),
        Err(e) => fail(&e.user_message()),
    }
}

/// Who ran a command on this host: the user behind sudo if any, else the login name, with
/// the numeric uid (what the audit log records for break-glass commands).
fn host_user() -> String {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .unwrap_or_else(|| "?".into());
    let name = ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".into());
    format!("{name} (uid {uid})")
}
