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
    /// Inspect the audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Fill a new, empty database with a benchmark dataset (tenants, domains, mailboxes)
    /// and print a session cookie of a benchmark owner who cannot sign in.
    Seed {
        #[arg(long, default_value_t = 500)]
        domains: i64,
        #[arg(long, default_value_t = 20)]
        mailboxes_per_domain: i64,
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
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// Recompute the hash chain; exit 0 when intact, 1 with the first broken event otherwise.
    Verify,
}

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
    if let Some(v) = env("MAILWARD_TRUST_PROXY") {
        cfg.trust_proxy = matches!(v.as_str(), "1" | "true" | "yes");
    }
    if let (Some(host), Some(from)) = (env("MAILWARD_SMTP_HOST"), env("MAILWARD_SMTP_FROM")) {
        cfg.smtp = Some(app::core::config::SmtpConfig {
            host,
            port: env("MAILWARD_SMTP_PORT")
                .map(|p| {
                    p.parse()
                        .map_err(|_| "MAILWARD_SMTP_PORT must be a port number".to_string())
                })
                .transpose()?
                .unwrap_or(25),
            from,
        });
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
        .build()
        .expect("tokio runtime");
    rt.block_on(run(cli.command, cfg))
}

async fn run(cmd: Command, cfg: Config) -> ExitCode {
    let fail = |e: &dyn std::fmt::Display| {
        eprintln!("mailward: {e}");
        ExitCode::FAILURE
    };
    let db = match app::core::db::Db::connect(&cfg.database_url).await {
        Ok(db) => db,
        Err(e) => return fail(&e),
    };
    if let Err(e) = db.migrate().await {
        return fail(&e);
    }
    let state = app::core::state::AppState::new(db, cfg);
    match cmd {
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
        }) => {
            let scopes: Vec<String> = scopes.split(',').map(|s| s.trim().to_string()).collect();
            match app::auth::service::create_token_for_email(&state, &email, &name, &scopes, days)
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
        Command::Seed {
            domains,
            mailboxes_per_domain,
        } => {
            let started = std::time::Instant::now();
            let plan = crate::seed::SeedPlan {
                domains,
                mailboxes_per_domain,
            };
            match crate::seed::seed(&state, &plan).await {
                Ok(s) => {
                    eprintln!(
                        "Seeded {} tenants, {} domains, {} mailboxes in {:.1} s. First domain: {}. \
                         Benchmark owner session cookie (valid 12 h):",
                        s.tenants,
                        s.domains,
                        s.mailboxes,
                        started.elapsed().as_secs_f64(),
                        s.first_domain
                    );
                    println!("{}", s.cookie);
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e.user_message()),
            }
        }
        Command::Audit(AuditCmd::Verify) => match app::audit::service::verify(&state.db).await {
            Ok(r) if r.ok() => {
                println!("Audit chain intact: {} events verified.", r.events);
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
        },
    }
}
