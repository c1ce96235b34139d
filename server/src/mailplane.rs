//! `mailward mailplane render`: a complete Postfix + Dovecot configuration that reads this
//! Mailward database through the `mail_*` views (migration 0008) and nothing else.
//!
//! Postfix takes mail on port 25 for active domains and on submission (587, STARTTLS
//! required, SASL through Dovecot), resolves routes with `mail_aliases` (each mailbox maps to
//! itself first, so a catch-all never swallows a real mailbox) and hands local mail to
//! Dovecot over LMTP. Dovecot serves IMAP (143 with STARTTLS, 993 with TLS) — no POP3 —,
//! verifies the `{ARGON2ID}` strings Mailward stores, app passwords per protocol, and
//! enforces quotas; its `quota_clone` writes usage back into `mail_usage`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct RenderArgs {
    /// Folder to write into: postfix/ (main.cf, master.cf, SQL maps) and dovecot/.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Where the running servers keep their queue, sockets, state and logs (default OUT/var).
    #[arg(long, value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    /// Where mail is stored, one folder per mailbox (default OUT/var/mail).
    #[arg(long, value_name = "DIR")]
    pub mail_dir: Option<PathBuf>,
    /// The system user that owns stored mail.
    #[arg(long, default_value = "vmail")]
    pub mail_user: String,
    /// The mail server's host name (HELO, banners, bounces).
    #[arg(long, default_value = "mail.localhost")]
    pub hostname: String,
    /// The address both servers listen on (0.0.0.0 for all).
    #[arg(long, default_value = "127.0.0.1")]
    pub listen: String,
    #[arg(long, default_value_t = 25)]
    pub smtp_port: u16,
    #[arg(long, default_value_t = 587)]
    pub submission_port: u16,
    #[arg(long, default_value_t = 143)]
    pub imap_port: u16,
    #[arg(long, default_value_t = 993)]
    pub imaps_port: u16,
    /// TLS certificate (PEM, full chain) for IMAP, IMAPS and submission.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: PathBuf,
    /// TLS private key (PEM).
    #[arg(long, value_name = "FILE")]
    pub tls_key: PathBuf,
    /// Send outgoing mail through this host (`[host]:port`); default: straight to MX. With
    /// `--relay-username` it is the platform's managed relay, which paid plans send through.
    #[arg(long, value_name = "HOST")]
    pub relayhost: Option<String>,
    /// Sign in to `--relayhost` as this user (SASL); the password comes from
    /// `--relay-password-file` and is written into a 0640 file beside the maps.
    #[arg(long, value_name = "USER", requires = "relayhost")]
    pub relay_username: Option<String>,
    /// A file holding the managed relay's password (its first line).
    #[arg(long, value_name = "FILE", requires = "relay_username")]
    pub relay_password_file: Option<PathBuf>,
    /// How to encrypt the managed relay's connection when signing in: `starttls` (default) or
    /// `tls` (TLS from the first byte, as on port 465). A password is never sent in the clear.
    #[arg(long, value_name = "MODE", default_value = "starttls")]
    pub relay_tls: String,
    /// The database URL the mail servers use, when it differs from Mailward's own (e.g. a
    /// PostgreSQL role that may only read the mail_* views: see README).
    #[arg(long, value_name = "URL")]
    pub mail_database_url: Option<String>,
    /// Where Postfix sends its notices (resource and software problems, double bounces);
    /// without it they are not sent.
    #[arg(long, value_name = "ADDRESS")]
    pub postmaster: Option<String>,
    /// Answer failed logins at once (no auth delay, no penalty): for test harnesses only.
    #[arg(long)]
    pub fast_auth_failures: bool,
    /// Sign submitted mail with DKIM through `mailward milter` at this address
    /// (`inet:127.0.0.1:8891`). While it is unreachable, submissions are deferred, never sent
    /// unsigned.
    #[arg(long, value_name = "SOCKET")]
    pub milter: Option<String>,
    /// Hold submissions to each plan's messages per hour through `mailward policy` at this
    /// address (`inet:127.0.0.1:10040`). While it is unreachable, submissions are deferred
    /// ("try again later"), never let through unlimited.
    #[arg(long, value_name = "SOCKET")]
    pub policy: Option<String>,
    /// Report every IMAP and SMTP authentication to Mailward at this address (its own
    /// listener, e.g. `http://127.0.0.1:8080`), through Dovecot's authentication policy
    /// protocol: failed-login bursts and logins from new networks become alerts. A Mailward
    /// that does not answer never blocks a login.
    #[arg(long, value_name = "URL")]
    pub auth_policy: Option<String>,
    /// The secret Dovecot presents to that endpoint (filled in from Mailward's
    /// `mailplane-policy.key`, never given on the command line).
    #[arg(skip)]
    pub auth_policy_token: Option<String>,
    /// Open Dovecot's doveadm HTTP API on this port (on `--listen`), so Mailward can end a
    /// revoked mailbox's live IMAP sessions at once (`doveadm_url` in Mailward's config).
    #[arg(long, value_name = "PORT")]
    pub doveadm_port: Option<u16>,
    /// The API key Mailward presents (filled in from `mailplane-doveadm.key`, never given on
    /// the command line).
    #[arg(skip)]
    pub doveadm_api_key: Option<String>,
    /// Deliver `mailward-probe@` of every hosted domain to this mailbox, and let its login
    /// send as those addresses: Mailward's mail probes after a DNS change (`[probe]` in
    /// Mailward's settings; the mailbox is one of your own tenant's).
    #[arg(long, value_name = "ADDRESS")]
    pub probe_mailbox: Option<String>,
}

/// How the mail servers reach the database.
#[derive(Debug, Clone, PartialEq)]
pub enum DbTarget {
    Sqlite {
        path: PathBuf,
    },
    Postgres {
        host: String,
        port: u16,
        user: String,
        password: String,
        dbname: String,
        sslmode: Option<String>,
    },
}

impl DbTarget {
    pub fn parse(url: &str) -> Result<DbTarget, String> {
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let rest = rest.trim_start_matches("//");
            let path = rest.split('?').next().unwrap_or(rest);
            if path.is_empty() || path == ":memory:" {
                return Err(
                    "the mail plane needs a database file, not an in-memory database".into(),
                );
            }
            if path.contains(char::is_control) {
                return Err("the SQLite path holds control characters".into());
            }
            let path = std::path::absolute(path).map_err(|e| format!("{path}: {e}"))?;
            return Ok(DbTarget::Sqlite { path });
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let u = url::Url::parse(url).map_err(|e| format!("database URL: {e}"))?;
            // As sqlx reads it: percent-decoded (a `+` stays a plus).
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            let dbname = dec(u.path().trim_start_matches('/'));
            if dbname.is_empty() {
                return Err("the PostgreSQL URL names no database".into());
            }
            let target = DbTarget::Postgres {
                host: u.host_str().unwrap_or("127.0.0.1").to_string(),
                port: u.port().unwrap_or(5432),
                user: dec(u.username()),
                password: u.password().map(dec).unwrap_or_default(),
                dbname,
                sslmode: u
                    .query_pairs()
                    .find(|(k, _)| k == "sslmode")
                    .map(|(_, v)| v.into_owned()),
            };
            if let DbTarget::Postgres {
                host,
                user,
                password,
                dbname,
                ..
            } = &target
            {
                // Postfix's map files take one value per line, verbatim.
                if [host, user, password, dbname]
                    .iter()
                    .any(|v| v.contains(char::is_control))
                {
                    return Err("the PostgreSQL URL holds control characters".into());
                }
            }
            return Ok(target);
        }
        Err(format!(
            "unsupported database URL {url:?} (sqlite: or postgres:)"
        ))
    }

    /// The lines a Postfix `sqlite:`/`pgsql:` map file starts with.
    fn postfix_connect(&self) -> String {
        match self {
            DbTarget::Sqlite { path } => format!("dbpath = {}\n", path.display()),
            DbTarget::Postgres { host, port, user, password, dbname, .. } => format!(
                "hosts = inet:{host}:{port}\nuser = {user}\npassword = {password}\ndbname = {dbname}\n"
            ),
        }
    }

    /// A Postfix map's query: `sqlite` reads a view, planned once per connection by SQLite's
    /// statement cache. PostgreSQL plans every query Postfix sends (plain queries, no
    /// prepared statements) — 1–2.5 ms for the routing views, far longer than the lookup — so
    /// there `postgres` calls the view's plpgsql lookup function (migration 0026), whose plan
    /// stays with the connection. Both answer the same rows.
    fn postfix_query(&self, sqlite: &str, postgres: &str) -> String {
        match self {
            DbTarget::Sqlite { .. } => sqlite.to_string(),
            DbTarget::Postgres { .. } => postgres.to_string(),
        }
    }

    fn postfix_type(&self) -> &'static str {
        match self {
            DbTarget::Sqlite { .. } => "sqlite",
            DbTarget::Postgres { .. } => "pgsql",
        }
    }

    fn dovecot_driver(&self) -> &'static str {
        match self {
            DbTarget::Sqlite { .. } => "sqlite",
            DbTarget::Postgres { .. } => "pgsql",
        }
    }

    /// Dovecot's `connect = "…"`: for PostgreSQL a libpq connection string (each value
    /// quoted the libpq way), inside a Dovecot quoted string.
    fn dovecot_connect(&self) -> String {
        let raw = match self {
            DbTarget::Sqlite { path } => path.display().to_string(),
            DbTarget::Postgres {
                host,
                port,
                user,
                password,
                dbname,
                sslmode,
            } => {
                let q = |v: &str| format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"));
                let mut s = format!(
                    "host={} port={port} dbname={} user={}",
                    q(host),
                    q(dbname),
                    q(user)
                );
                if !password.is_empty() {
                    let _ = write!(s, " password={}", q(password));
                }
                if let Some(m) = sslmode {
                    let _ = write!(s, " sslmode={}", q(m));
                }
                s
            }
        };
        format!("\"{}\"", raw.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// One file of the rendered configuration: where (relative to OUT), what, and whether it
/// holds database credentials (then only root and the mail servers may read it).
pub struct RenderedFile {
    pub path: &'static str,
    pub text: String,
    pub secret: bool,
}

/// Renders every file; nothing is written.
pub fn render(args: &RenderArgs, db: &DbTarget) -> Result<Vec<RenderedFile>, String> {
    for (flag, socket) in [("--milter", &args.milter), ("--policy", &args.policy)] {
        let Some(m) = socket else { continue };
        let ok = (m.starts_with("inet:") || m.starts_with("unix:"))
            && m.len() > 5
            && m.chars().all(|c| c.is_ascii_graphic() && c != ',');
        if !ok {
            return Err(format!(
                "{flag} {m:?}: give the socket as inet:HOST:PORT or unix:PATH"
            ));
        }
    }
    let out = std::path::absolute(&args.out).map_err(|e| e.to_string())?;
    let run = match &args.run_dir {
        Some(d) => std::path::absolute(d).map_err(|e| e.to_string())?,
        None => out.join("var"),
    };
    let mail = match &args.mail_dir {
        Some(d) => std::path::absolute(d).map_err(|e| e.to_string())?,
        None => run.join("mail"),
    };
    let cert = std::path::absolute(&args.tls_cert).map_err(|e| e.to_string())?;
    let key = std::path::absolute(&args.tls_key).map_err(|e| e.to_string())?;
    for (name, p) in [("--tls-cert", &cert), ("--tls-key", &key)] {
        if !p.is_file() {
            return Err(format!("{name} {}: no such file", p.display()));
        }
    }
    let user_ok = args.mail_user.len() <= 32
        && args
            .mail_user
            .starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && args
            .mail_user
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !user_ok {
        return Err(format!(
            "--mail-user {:?}: give a system user's name (lower case letters, digits, _ and -)",
            args.mail_user
        ));
    }
    if args.hostname.contains(char::is_whitespace) || args.hostname.is_empty() {
        return Err("--hostname must be a host name".into());
    }
    for (name, p) in [("--out", &out), ("--run-dir", &run), ("--mail-dir", &mail)] {
        let s = p.display().to_string();
        if s.contains(char::is_whitespace) || s.contains(['\'', '"', '%', '$']) {
            return Err(format!(
                "{name} {s}: use a path without spaces, quotes, % or $"
            ));
        }
    }
    // Unix socket paths are limited to 107 bytes.
    let base = run.join("dovecot");
    if base.join("quota-status-postfix").as_os_str().len() > 100 {
        return Err(format!(
            "--run-dir {} is too long for Unix sockets",
            run.display()
        ));
    }
    let p = |rel: &str| out.join(rel).display().to_string();
    let b = |name: &str| base.join(name).display().to_string();
    // Postfix asks through its proxymap service: one connection per map, not one per process.
    let ty = format!("proxy:{}", db.postfix_type());
    let mut files = Vec::new();

    // ---------- Postfix ----------
    let map = |query: &str| {
        format!(
        "# Rendered by `mailward mailplane render`: render again rather than edit.\n{}query = {query}\n",
        db.postfix_connect()
    )
    };
    // Only full addresses can match a mailbox or an inactive address, but Postfix also asks
    // these maps for `@domain`, and access maps (check_recipient_access, check_sender_access)
    // for the bare domain, each parent domain and `localpart@` — five questions or more per
    // RCPT, the sender's again at every RCPT. `'%u@%d'` is the address itself, and Postfix
    // sends no query at all for a key without a local part or a domain. Not for the aliases:
    // `@domain` is the catch-all.
    files.push(RenderedFile {
        path: "postfix/sql-domains.cf",
        text: map(&db.postfix_query(
            "SELECT domain FROM mail_domains WHERE domain = '%s'",
            "SELECT mail_lookup_domain('%s')",
        )),
        secret: true,
    });
    files.push(RenderedFile {
        path: "postfix/sql-mailboxes.cf",
        text: map(&db.postfix_query(
            "SELECT address FROM mail_users WHERE address = '%u@%d'",
            "SELECT mail_lookup_user('%u@%d')",
        )),
        secret: true,
    });
    files.push(RenderedFile {
        path: "postfix/sql-aliases.cf",
        text: map(&db.postfix_query(
            "SELECT target FROM mail_aliases WHERE source = '%s'",
            "SELECT mail_lookup_aliases('%s')",
        )),
        secret: true,
    });
    files.push(RenderedFile {
        path: "postfix/sql-inactive.cf",
        text: map(&db.postfix_query(
            "SELECT '550 5.1.1 User unknown' FROM mail_inactive WHERE address = '%u@%d'",
            "SELECT '550 5.1.1 User unknown' FROM mail_lookup_inactive('%u@%d')",
        )),
        secret: true,
    });
    files.push(RenderedFile {
        path: "postfix/sql-hosted-senders.cf",
        text: map(&db.postfix_query(
            "SELECT '553 5.7.1 Sign in (submission) to send as this address' FROM mail_users WHERE address = '%u@%d'",
            "SELECT '553 5.7.1 Sign in (submission) to send as this address' FROM mail_lookup_user('%u@%d')",
        )),
        secret: true,
    });
    files.push(RenderedFile {
        path: "postfix/sql-senders.cf",
        text: map(&db.postfix_query(
            "SELECT login FROM mail_sender_logins WHERE address = '%u@%d'",
            "SELECT mail_lookup_login('%u@%d')",
        )),
        secret: true,
    });
    // Mail probes: one map, asked before the database's others, for both questions (where
    // does mail for mailward-probe@ a live hosted domain go, and which login may send as it).
    // Only hosted live domains: mail to mailward-probe@ anywhere else is left alone.
    let probe_map = match &args.probe_mailbox {
        Some(m) => {
            let ok = m.len() <= 254
                && m.split_once('@')
                    .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.contains('@'))
                && m.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "@.-_+".contains(c))
                && !m.to_ascii_lowercase().starts_with("mailward-probe@");
            if !ok {
                return Err(format!(
                    "--probe-mailbox {m:?}: give one mailbox address (not a mailward-probe@ one)"
                ));
            }
            files.push(RenderedFile {
                path: "postfix/sql-probe.cf",
                text: map(&db.postfix_query(
                    &format!(
                        "SELECT '{m}' FROM mail_domains WHERE domain = '%d' AND '%u' = 'mailward-probe'"
                    ),
                    &format!(
                        "SELECT '{m}' FROM mail_lookup_domain('%d') WHERE '%u' = 'mailward-probe'"
                    ),
                )),
                secret: true,
            });
            format!("{ty}:{}, ", p("postfix/sql-probe.cf"))
        }
        None => String::new(),
    };
    let listen: std::net::IpAddr = args.listen.parse().map_err(|_| {
        format!(
            "--listen {}: give one IP address (0.0.0.0 or :: for all)",
            args.listen
        )
    })?;
    let listen_all = listen.is_unspecified();
    let relayhost = args.relayhost.clone().unwrap_or_default();
    if relayhost.chars().any(|c| c.is_whitespace() || c == ',') {
        return Err(format!(
            "--relayhost {relayhost:?}: give one host, [host]:port"
        ));
    }
    let wrapper = match args.relay_tls.as_str() {
        "starttls" => false,
        "tls" => true,
        other => return Err(format!("--relay-tls {other:?}: starttls or tls")),
    };
    // The managed relay's sign-in: a texthash map keyed by the relay as written, read by the
    // smtp client at start (0640, group postfix).
    let managed_auth = match (&args.relay_username, &args.relay_password_file) {
        (Some(user), Some(file)) => {
            if user.is_empty() || user.chars().any(|c| c == ':' || c.is_whitespace()) {
                return Err("--relay-username: a user name without spaces or colons".into());
            }
            let password = std::fs::read_to_string(file)
                .map_err(|e| format!("--relay-password-file {}: {e}", file.display()))?;
            let password = password.lines().next().unwrap_or_default();
            if password.is_empty() || password.chars().any(char::is_control) {
                return Err(format!(
                    "--relay-password-file {}: its first line is the password (not empty, no control characters)",
                    file.display()
                ));
            }
            files.push(RenderedFile {
                path: "postfix/relay-password",
                text: format!("{relayhost} {user}:{password}\n"),
                secret: true,
            });
            format!(
                "# The managed relay: paid plans' mail leaves through it, signed in, encrypted.\n\
                 smtp_sasl_auth_enable = yes\n\
                 smtp_sasl_password_maps = texthash:{}\n\
                 smtp_sasl_security_options = noanonymous\n\
                 smtp_sasl_tls_security_options = noanonymous\n\
                 smtp_tls_security_level = encrypt\n{}",
                p("postfix/relay-password"),
                if wrapper {
                    "smtp_tls_wrappermode = yes\n"
                } else {
                    ""
                }
            )
        }
        (Some(_), None) => return Err("--relay-username needs --relay-password-file".into()),
        _ => "smtp_tls_security_level = may\n".into(),
    };
    // Tenants' own relays: `mailward policy` answers which relay a hosted sender's mail takes
    // and with which credentials (socketmap), so a changed relay needs no new rendering.
    let (tenant_relays, relay_services) = match &args.policy {
        Some(sock) => {
            let map = |name: &str| format!("socketmap:{sock}:{name}");
            let service = |name: &str, wrapper: bool| {
                format!(
                    "{name:<16} unix  -       -      n      -      -       smtp\n\
                     \x20 -o syslog_name=postfix/{name}\n\
                     \x20 -o smtp_tls_security_level=encrypt\n{}\
                     \x20 -o smtp_sasl_auth_enable=yes\n\
                     \x20 -o smtp_sender_dependent_authentication=yes\n\
                     \x20 -o smtp_sasl_password_maps={}\n\
                     \x20 -o smtp_sasl_security_options=noanonymous\n\
                     \x20 -o smtp_sasl_tls_security_options=noanonymous\n",
                    if wrapper { "  -o smtp_tls_wrappermode=yes\n" } else { "" },
                    map("sasl")
                )
            };
            (
                format!(
                    "# A tenant's own relay (set on its page): `mailward policy` names it per sender.\n\
                     sender_dependent_default_transport_maps = {}\n",
                    map("transport")
                ),
                service("mwrelay", false) + &service("mwrelays", true),
            )
        }
        None => (
            "# No --policy: every tenant's mail leaves the same way (tenants' own relays need it).\n".into(),
            String::new(),
        ),
    };
    if let Some(pm) = &args.postmaster {
        if pm.contains(char::is_whitespace) || !pm.contains('@') {
            return Err(format!("--postmaster {pm}: give one mail address"));
        }
    }
    let notices = match &args.postmaster {
        Some(pm) => format!(
            "notify_classes = resource, software, 2bounce\nerror_notice_recipient = {pm}\n2bounce_notice_recipient = {pm}\nbounce_notice_recipient = {pm}\ndelay_notice_recipient = {pm}\n"
        ),
        None => "# No --postmaster: Postfix's notices are not sent.\nnotify_classes =\n".into(),
    };
    files.push(RenderedFile {
        path: "postfix/main.cf",
        text: format!(
            r#"# Postfix for Mailward — rendered by `mailward mailplane render`; render again rather than edit.
# Every answer about domains, mailboxes and routes comes from Mailward's database views.
compatibility_level = 3.6
myhostname = {host}
myorigin = $myhostname
mydestination =
local_recipient_maps =
local_transport = error:this server only delivers to hosted mailboxes
alias_maps =
alias_database =
biff = no
append_dot_mydomain = no
inet_interfaces = {inet}
inet_protocols = all
queue_directory = {run}/postfix/queue
data_directory = {run}/postfix/data
maillog_file_prefixes = {run}/log
maillog_file = {run}/log/postfix.log

# Hosted mail: domains, mailboxes and routes from the views.
virtual_mailbox_domains = {ty}:{dom}
virtual_mailbox_maps = {ty}:{mbx}
virtual_alias_maps = {probe_map}{ty}:{ali}
virtual_alias_domains =
virtual_transport = lmtp:unix:{lmtp}
relayhost = {relayhost}
{managed_auth}{tenant_relays}{notices}
# Port 25: mail for hosted domains only; an unknown recipient is refused before the quota is
# asked (Dovecot still knows offboarded mailboxes until their mail is purged); a full mailbox
# is refused at RCPT time, and nobody may claim a hosted mailbox as the sender without signing in.
smtpd_banner = $myhostname ESMTP
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
smtpd_sender_restrictions = check_sender_access {ty}:{hosted_senders}
smtpd_recipient_restrictions = check_recipient_access {ty}:{inactive}, reject_unauth_destination, reject_unlisted_recipient, check_policy_service unix:{quota_status}
# Submission (see master.cf): a signed-in client sends with its own address as the sender,
# never an empty one.
submission_sender_restrictions = reject_sender_login_mismatch, check_sender_access inline:{{ {{ <> = 553 5.7.1 Send with your own address as the sender }} }}
submission_recipient_restrictions = check_recipient_access {ty}:{inactive}{policy_rcpt}
{policy_eod}proxy_read_maps = $virtual_mailbox_domains $virtual_mailbox_maps $virtual_alias_maps $smtpd_sender_login_maps $smtpd_sender_restrictions $smtpd_recipient_restrictions $submission_recipient_restrictions
smtpd_sasl_type = dovecot
smtpd_sasl_path = {auth}
smtpd_sasl_auth_enable = no
smtpd_sender_login_maps = {probe_map}{ty}:{senders}
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_security_level = may
message_size_limit = 52428800
"#,
            host = args.hostname,
            inet = if listen_all { "all".to_string() } else { listen.to_string() },
            run = run.display(),
            dom = p("postfix/sql-domains.cf"),
            mbx = p("postfix/sql-mailboxes.cf"),
            ali = p("postfix/sql-aliases.cf"),
            senders = p("postfix/sql-senders.cf"),
            inactive = p("postfix/sql-inactive.cf"),
            hosted_senders = p("postfix/sql-hosted-senders.cf"),
            policy_rcpt = match &args.policy {
                Some(s) => format!(", check_policy_service {s}"),
                None => String::new(),
            },
            policy_eod = match &args.policy {
                Some(s) => format!(
                    "# Sending limits (messages per hour by plan): `mailward policy` counts each finished message.\n\
                     submission_end_of_data_restrictions = check_policy_service {s}\n\
                     smtpd_policy_service_timeout = 20s\n\
                     smtpd_policy_service_default_action = 451 4.3.0 Sending limits cannot be checked just now; try again later\n"
                ),
                None => "# No --policy: submissions are not held to the plans' messages per hour.\n".into(),
            },
            lmtp = b("lmtp-postfix"),
            quota_status = b("quota-status-postfix"),
            auth = b("auth-postfix"),
            cert = cert.display(),
            key = key.display(),
        ),
        secret: false,
    });
    let at = |port: u16| match listen {
        _ if listen_all => port.to_string(),
        std::net::IpAddr::V6(a) => format!("[{a}]:{port}"),
        std::net::IpAddr::V4(a) => format!("{a}:{port}"),
    };
    files.push(RenderedFile {
        path: "postfix/master.cf",
        text: format!(
            r#"# Postfix services — rendered by `mailward mailplane render`. No service is chrooted.
# service        type  private unpriv chroot wakeup maxproc command
{smtp:<16} inet  n       -      n      -      -       smtpd
{sub:<16} inet  n       -      n      -      -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_auth_only=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_sender_restrictions=$submission_sender_restrictions
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=$submission_recipient_restrictions
{policy}{milter}pickup           unix  n       -      n      60     1       pickup
cleanup          unix  n       -      n      -      0       cleanup
qmgr             unix  n       -      n      300    1       qmgr
tlsmgr           unix  -       -      n      1000?  1       tlsmgr
rewrite          unix  -       -      n      -      -       trivial-rewrite
bounce           unix  -       -      n      -      0       bounce
defer            unix  -       -      n      -      0       bounce
trace            unix  -       -      n      -      0       bounce
verify           unix  -       -      n      -      1       verify
flush            unix  n       -      n      1000?  0       flush
proxymap         unix  -       -      n      -      -       proxymap
proxywrite       unix  -       -      n      -      1       proxymap
smtp             unix  -       -      n      -      -       smtp
relay            unix  -       -      n      -      -       smtp
showq            unix  n       -      n      -      -       showq
error            unix  -       -      n      -      -       error
retry            unix  -       -      n      -      -       error
discard          unix  -       -      n      -      -       discard
lmtp             unix  -       -      n      -      -       lmtp
anvil            unix  -       -      n      -      1       anvil
scache           unix  -       -      n      -      1       scache
postlog          unix-dgram n  -      n      -      1       postlogd
{relay_services}"#,
            smtp = at(args.smtp_port),
            sub = at(args.submission_port),
            policy = if args.policy.is_some() {
                "  -o smtpd_end_of_data_restrictions=$submission_end_of_data_restrictions\n"
            } else {
                ""
            },
            milter = match &args.milter {
                Some(m) => format!(
                    "  -o smtpd_milters={m}\n  -o milter_default_action=tempfail\n  -o milter_protocol=6\n"
                ),
                None => String::new(),
            },
        ),
        secret: false,
    });

    // ---------- Dovecot ----------
    let sql_head = format!(
        "# Rendered by `mailward mailplane render`: render again rather than edit.\ndriver = {}\nconnect = {}\n",
        db.dovecot_driver(),
        db.dovecot_connect()
    );
    // The owner's password: active mailboxes only.
    files.push(RenderedFile {
        path: "dovecot/sql-passdb.conf.ext",
        text: format!(
            "{sql_head}password_query = SELECT address AS user, password FROM mail_users WHERE address = '%Lu' AND login = 1\n"
        ),
        secret: true,
    });
    // App passwords: found by their public first group, for the protocol they were issued for.
    files.push(RenderedFile {
        path: "dovecot/sql-app-passwords.conf.ext",
        text: format!(
            "{sql_head}password_query = SELECT address AS user, password FROM mail_app_passwords WHERE address = '%Lu' AND protocol = '%Ls' AND selector = '%4w'\n"
        ),
        secret: true,
    });
    // Homes: the mailboxes that may hold mail, offboarded ones until their mail is purged
    // (doveadm reaches them to delete it; the passdb above still refuses them).
    files.push(RenderedFile {
        path: "dovecot/sql-userdb.conf.ext",
        // acl_groups: the folder groups of the mailboxes delegated to it (shared folders);
        // NULL when none, which Dovecot leaves out. uid and gid are mail_uid's: an IMAP
        // process opening another user's shared folders may look up only users of its uid.
        text: format!(
            "{sql_head}user_query = SELECT '{mail}/' || tenant_id || '/' || id AS home, '{user}' AS uid, '{user}' AS gid, '*:bytes=' || quota_bytes AS quota_rule, (SELECT {agg} FROM mail_shared_groups WHERE address = '%Lu') AS acl_groups FROM mail_homes WHERE address = '%Lu'\n\
             iterate_query = SELECT address AS user FROM mail_homes\n",
            mail = mail.display(),
            user = args.mail_user,
            agg = match db {
                DbTarget::Sqlite { .. } => "group_concat(grp, ',')",
                DbTarget::Postgres { .. } => "string_agg(grp, ',')",
            },
        ),
        secret: true,
    });
    files.push(RenderedFile {
        path: "dovecot/dict-usage.conf.ext",
        text: format!(
            "# Rendered by `mailward mailplane render`: usage flows back into mail_usage.\nconnect = {}\n\
             map {{\n  pattern = priv/quota/storage\n  table = mail_usage\n  username_field = address\n  value_field = bytes\n  value_type = uint\n}}\n\
             map {{\n  pattern = priv/quota/messages\n  table = mail_usage\n  username_field = address\n  value_field = messages\n  value_type = uint\n}}\n",
            db.dovecot_connect()
        ),
        secret: true,
    });
    // Authentication reports to Mailward: in a file of their own, readable by root and
    // Dovecot only (it holds the policy token).
    let policy = match (&args.auth_policy, &args.auth_policy_token) {
        (Some(url), Some(token)) => {
            let url = url.trim_end_matches('/');
            let ok = (url.starts_with("http://") || url.starts_with("https://"))
                && url.chars().all(|c| c.is_ascii_graphic());
            if !ok {
                return Err(format!(
                    "--auth-policy {url:?}: give Mailward's address as http://HOST:PORT"
                ));
            }
            files.push(RenderedFile {
                path: "dovecot/auth-policy.conf.ext",
                text: format!(
                    "# Rendered by `mailward mailplane render`: render again rather than edit.\n\
                     # Every authentication is reported to Mailward (monitoring) after it happened: the\n\
                     # login does not wait for it, and a failure to reach Mailward never refuses one. (No\n\
                     # check before authentication yet: it would put a round trip on every login, and\n\
                     # Mailward refuses none so far.)\n\
                     auth_policy_server_url = {url}{path}\n\
                     auth_policy_server_api_header = X-Mailward-Policy:{token}\n\
                     auth_policy_hash_nonce = {token}\n\
                     auth_policy_request_attributes = login=%{{requested_username}} remote=%{{rip}} protocol=%s via=%{{passdb:mailward_via}}\n\
                     auth_policy_report_after_auth = yes\n\
                     auth_policy_check_before_auth = no\n\
                     auth_policy_check_after_auth = no\n\
                     auth_policy_reject_on_fail = no\n\
                     auth_policy_server_timeout_msecs = 2000\n",
                    path = app::monitoring::http::POLICY_PATH,
                ),
                secret: true,
            });
            format!("!include {}\n", p("dovecot/auth-policy.conf.ext"))
        }
        (Some(_), None) => {
            return Err("--auth-policy needs the policy token (the CLI reads it)".into())
        }
        _ => String::new(),
    };
    // The doveadm HTTP API for Mailward: in a file of its own, readable by root and Dovecot
    // only (it holds the key).
    let doveadm = match (args.doveadm_port, &args.doveadm_api_key) {
        (Some(port), Some(key)) => {
            if !key.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err("the doveadm API key must be hex digits".into());
            }
            files.push(RenderedFile {
                path: "dovecot/doveadm-api.conf.ext",
                text: format!(
                    "# Rendered by `mailward mailplane render`: render again rather than edit.\n\
                     # Mailward ends a revoked mailbox's live sessions through this API (doveadm kick).\n\
                     doveadm_api_key = {key}\n\
                     service doveadm {{\n  inet_listener http {{\n    address = {listen}\n    port = {port}\n  }}\n}}\n",
                    listen = args.listen,
                ),
                secret: true,
            });
            format!("!include {}\n", p("dovecot/doveadm-api.conf.ext"))
        }
        (Some(_), None) => {
            return Err("--doveadm-port needs the doveadm API key (the CLI reads it)".into())
        }
        _ => String::new(),
    };
    let dh = Path::new("/usr/share/dovecot/dh.pem");
    let fast = if args.fast_auth_failures {
        "\n# --fast-auth-failures (test harnesses): no delay and no penalty after a failed login.\n\
         auth_failure_delay = 0\nservice anvil {\n  unix_listener anvil-auth-penalty {\n    mode = 0\n  }\n}\n"
    } else {
        ""
    };
    files.push(RenderedFile {
        path: "dovecot/dovecot.conf",
        text: format!(
            r#"# Dovecot for Mailward — rendered by `mailward mailplane render`; render again rather than edit.
# IMAP (STARTTLS on {imap}, TLS on {imaps}) and LMTP for Postfix. No POP3.
protocols = imap lmtp
listen = {listen}
instance_name = mailward-{inst}
base_dir = {base}
state_dir = {run}/dovecot-state
log_path = {run}/log/dovecot.log
info_log_path = {run}/log/dovecot.log
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
{dh}ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login
auth_username_format = %Lu

mail_uid = {user}
mail_gid = {user}
first_valid_uid = 1
mail_location = maildir:~/Maildir
mail_plugins = $mail_plugins quota quota_clone acl

namespace inbox {{
  inbox = yes
  separator = /
  mailbox Drafts {{
    special_use = \Drafts
    auto = subscribe
  }}
  mailbox Sent {{
    special_use = \Sent
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \Trash
    auto = subscribe
  }}
  mailbox Junk {{
    special_use = \Junk
    auto = subscribe
  }}
}}

# Shared folders: a delegate finds the mailboxes delegated to it under Shared/<address>/.
# Each mailbox's INBOX ACL (set by Mailward through doveadm) names its two folder groups,
# and its other folders follow INBOX; the userdb's acl_groups (from mail_shared_groups) says
# which groups a user is in. \Seen flags stay the delegate's own. No imap_acl: an owner's
# mail program cannot SETACL (a grant to "anyone" would reach every tenant), so who shares
# what is only ever Mailward's, audited.
namespace shared {{
  type = shared
  separator = /
  prefix = Shared/%%u/
  location = maildir:%%h/Maildir:INDEXPVT=~/shared/%%u
  subscriptions = no
  list = children
}}

# The owner's password first; then the app password for this protocol.
passdb {{
  driver = sql
  args = {passdb}
  override_fields = mailward_via=password
}}
passdb {{
  driver = sql
  args = {apppass}
  override_fields = mailward_via=app_password
}}
{policy}{doveadm}
userdb {{
  driver = sql
  args = {userdb}
}}

# Quotas: the mailbox's allocation (else the tenant's whole pool) from the userdb;
# usage is cloned into Mailward's mail_usage table after every change.
quota_full_tempfail = no
plugin {{
  quota = count:Mailbox
  quota_vsizes = yes
  quota_grace = 0%%
  quota_clone_dict = proxy::usage
  quota_status_success = DUNNO
  quota_status_nouser = DUNNO
  quota_status_overquota = "552 5.2.2 Mailbox is full"
  acl = vfile
  acl_defaults_from_inbox = yes
  acl_shared_dict = file:{mail}/shared-mailboxes.db
}}
dict {{
  usage = {ty_dict}:{dict}
}}

protocol imap {{
  mail_plugins = $mail_plugins imap_quota
}}
protocol lmtp {{
  postmaster_address = postmaster@{host}
}}

service imap-login {{
  inet_listener imap {{
    port = {imap}
  }}
  inet_listener imaps {{
    port = {imaps}
    ssl = yes
  }}
}}
service lmtp {{
  unix_listener lmtp-postfix {{
    mode = 0660
    user = postfix
    group = postfix
  }}
}}
service auth {{
  unix_listener auth-postfix {{
    mode = 0660
    user = postfix
    group = postfix
  }}
}}
service dict {{
  unix_listener dict {{
    mode = 0660
    user = {user}
    group = {user}
  }}
}}
service quota-status {{
  executable = quota-status -p postfix
  client_limit = 1
  unix_listener quota-status-postfix {{
    mode = 0660
    user = postfix
    group = postfix
  }}
}}
{fast}"#,
            imap = args.imap_port,
            imaps = args.imaps_port,
            listen = match listen {
                std::net::IpAddr::V4(_) if listen_all => "*".to_string(),
                std::net::IpAddr::V6(_) if listen_all => "*, ::".to_string(),
                a => a.to_string(),
            },
            inst = instance_id(&out),
            base = base.display(),
            run = run.display(),
            cert = cert.display(),
            key = key.display(),
            dh = if dh.is_file() {
                format!("ssl_dh = <{}\n", dh.display())
            } else {
                String::new()
            },
            user = args.mail_user,
            passdb = p("dovecot/sql-passdb.conf.ext"),
            apppass = p("dovecot/sql-app-passwords.conf.ext"),
            userdb = p("dovecot/sql-userdb.conf.ext"),
            ty_dict = db.dovecot_driver(),
            dict = p("dovecot/dict-usage.conf.ext"),
            host = args.hostname,
            mail = mail.display(),
            policy = policy,
            doveadm = doveadm,
        ),
        secret: false,
    });
    files.push(RenderedFile {
        path: "mailplane.env",
        text: format!(
            "# Read by scripts/mailplane (start, stop, status).\nMAILPLANE_RUN={}\nMAILPLANE_MAIL={}\nMAILPLANE_USER={}\nMAILPLANE_SQLITE={}\nMAILPLANE_PORTS=\"{} {} {} {}\"\nMAILPLANE_LISTEN={}\n",
            run.display(),
            mail.display(),
            args.mail_user,
            match db {
                DbTarget::Sqlite { path } => path.display().to_string(),
                _ => String::new(),
            },
            args.smtp_port,
            args.submission_port,
            args.imap_port,
            args.imaps_port,
            args.listen,
        ),
        secret: false,
    });
    Ok(files)
}

/// A short name for this configuration's Dovecot instance (several can run on one host).
fn instance_id(out: &Path) -> String {
    let h = out
        .display()
        .to_string()
        .bytes()
        .fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100000001b3)
        });
    format!("{:08x}", h as u32)
}

/// Writes the rendered files under `args.out`: each to a temporary file created with its
/// final mode (0640 for those holding credentials, 0644 for the rest), then renamed into
/// place, so no credentials file is ever readable by others.
pub fn write(args: &RenderArgs, files: &[RenderedFile]) -> Result<(), String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    for f in files {
        let path = args.out.join(f.path);
        let dir = path.parent().unwrap_or(&args.out);
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let tmp = path.with_extension("mailward-tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(if f.secret { 0o640 } else { 0o644 })
            .open(&tmp)
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        file.write_all(f.text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(
            DbTarget::parse("sqlite:///var/lib/mailward/mailward.db?mode=rwc").unwrap(),
            DbTarget::Sqlite {
                path: "/var/lib/mailward/mailward.db".into()
            }
        );
        assert_eq!(
            DbTarget::parse("postgres://mw:p%40ss+w%27rd@db.internal:6543/mail?sslmode=require")
                .unwrap(),
            DbTarget::Postgres {
                host: "db.internal".into(),
                port: 6543,
                user: "mw".into(),
                password: "p@ss+w'rd".into(),
                dbname: "mail".into(),
                sslmode: Some("require".into()),
            }
        );
        // libpq quoting inside Dovecot quoting.
        let pg = DbTarget::parse("postgres://mw:a%27b%5Cc%22d@h/m").unwrap();
        assert_eq!(
            pg.dovecot_connect(),
            r#""host='h' port=5432 dbname='m' user='mw' password='a\\'b\\\\c\"d'""#
        );
        assert!(DbTarget::parse("sqlite::memory:").is_err());
        assert!(DbTarget::parse("postgres://h/").is_err());
        assert!(DbTarget::parse("mysql://h/db").is_err());
    }
}
