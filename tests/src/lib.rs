//! Test harness: the real router on a random loopback port over a fresh database, on SQLite
//! or on PostgreSQL (a throwaway cluster started once per test process with initdb/pg_ctl).
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use app::core::config::Config;
use app::core::db::Db;
use app::core::state::AppState;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        app::core::secrets::new_id("t").trim_start_matches("t_")[..12].to_string()
    )
}

// ---------- PostgreSQL ----------

struct PgCluster {
    port: u16,
}

static PG: OnceLock<Result<PgCluster, String>> = OnceLock::new();

fn find_pg_bin(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs.reverse();
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.exists())
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(name))
                    .find(|p| p.exists())
            })
        })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Runs a PostgreSQL tool, as the `postgres` user when we are root (initdb refuses root).
fn pg_cmd(bin: &Path, args: &[&str]) -> Command {
    let root = is_root();
    let mut c = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    c.args(args);
    c
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn start_cluster() -> Result<PgCluster, String> {
    let initdb = find_pg_bin("initdb")
        .ok_or("initdb not found: install postgresql (scripts/install-deps test)")?;
    let pg_ctl = find_pg_bin("pg_ctl").ok_or("pg_ctl not found")?;
    let dir = std::env::temp_dir().join(unique("mailward-pg-"));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    if is_root() {
        Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status()
            .map_err(|e| e.to_string())?;
    }
    let data = dir.join("data");
    let data_s = data.to_string_lossy().to_string();
    let out = pg_cmd(
        &initdb,
        &[
            "-D",
            &data_s,
            "-U",
            "mailward",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
    )
    .output()
    .map_err(|e| format!("initdb: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let port = free_port();
    let opts = format!(
        "-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={} -c fsync=off \
         -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
        dir.to_string_lossy()
    );
    let log = dir.join("pg.log").to_string_lossy().to_string();
    let out = pg_cmd(
        &pg_ctl,
        &["-D", &data_s, "-o", &opts, "-l", &log, "-w", "start"],
    )
    .output()
    .map_err(|e| format!("pg_ctl: {e}"))?;
    if !out.status.success() {
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        return Err(format!(
            "pg_ctl start failed: {}\n{log}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    // Stop the cluster and remove its files when this test process ends, however it ends.
    let watchdog = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {ctl} -D '{data_s}' stop -m immediate >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        ctl = if is_root() {
            format!("runuser -u postgres -- {}", pg_ctl.display())
        } else {
            pg_ctl.display().to_string()
        },
        dir = dir.display(),
    );
    Command::new("setsid")
        .args(["sh", "-c", &watchdog])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("watchdog: {e}"))?;
    Ok(PgCluster { port })
}

/// A fresh, empty PostgreSQL database URL (external server via MAILWARD_TEST_PG_URL, else
/// the harness's own cluster).
pub async fn fresh_postgres_url() -> String {
    let admin = match std::env::var("MAILWARD_TEST_PG_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => {
            let cluster = PG
                .get_or_init(start_cluster)
                .as_ref()
                .expect("PostgreSQL for tests");
            format!("postgres://mailward@127.0.0.1:{}/postgres", cluster.port)
        }
    };
    let name = unique("mw_");
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&admin)
        .await
        .expect("connect to test PostgreSQL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .expect("create test database");
    pool.close().await;
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    format!("{base}/{name}")
}

// ---------- the app ----------

pub struct TestApp {
    pub base: String,
    pub state: AppState,
    pub backend: Backend,
    pub database_url: String,
    _server: tokio::task::JoinHandle<()>,
}

impl TestApp {
    /// The actions in the audit log, newest first (up to 500).
    pub async fn audit_actions(&self) -> Vec<String> {
        let sys = app::core::authz::Actor::system("test");
        let g = app::core::authz::authorize(&sys, app::core::authz::Action::ViewAudit).unwrap();
        app::audit::service::list(
            &self.state.db,
            &g,
            &app::audit::AuditFilter {
                limit: Some(500),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .events
        .into_iter()
        .map(|e| e.action)
        .collect()
    }
    /// An app whose outgoing mail goes to a fresh [`SmtpSink`].
    pub async fn start_with_mail(
        b: Backend,
        tweak: impl FnOnce(&mut app::core::config::Config),
    ) -> (TestApp, SmtpSink) {
        let sink = SmtpSink::start().await;
        let port = sink.port;
        let app = TestApp::start_with(b, |c| {
            c.smtp = Some(app::core::config::SmtpConfig {
                host: "127.0.0.1".into(),
                port,
                from: "Mailward <mailward@agency.example>".into(),
                ..Default::default()
            });
            tweak(c);
        })
        .await;
        (app, sink)
    }

    /// A tenant "Acme" on `plan` with these domains, all active; returns the tenant's slug
    /// and the domain ids.
    pub async fn tenant_with_domains(&self, plan: &str, domains: &[&str]) -> (String, Vec<String>) {
        use app::tenancy::service as tenancy;
        let sys = app::core::authz::Actor::system("test");
        let t = tenancy::create_tenant(
            &self.state,
            &sys,
            &tenancy::NewTenant {
                name: "Acme".into(),
                plan_id: plan.into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let mut ids = Vec::new();
        for name in domains {
            let d = tenancy::add_domain(&self.state, &sys, &t.slug, name, "")
                .await
                .unwrap();
            // No DNS in most tests: activated by the owners' override (the DNS tests verify).
            tenancy::activate_unverified(&self.state, &sys, &d.id, "test fixture")
                .await
                .unwrap();
            ids.push(d.id);
        }
        (t.slug, ids)
    }

    /// The one number a query returns (`SELECT CAST(COUNT(*) AS BIGINT) …`).
    pub async fn count(&self, sql: &str) -> i64 {
        use sqlx::Row;
        sqlx::query(sql)
            .fetch_one(self.state.db.pool())
            .await
            .unwrap()
            .try_get::<i64, _>(0)
            .unwrap()
    }

    pub async fn start(backend: Backend) -> TestApp {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let database_url = match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(unique("mailward-test-"));
                std::fs::create_dir_all(&dir).unwrap();
                format!("sqlite://{}/mailward.db", dir.display())
            }
            Backend::Postgres => fresh_postgres_url().await,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let key_dir = std::env::temp_dir().join(unique("mailward-key-"));
        let audit_key_file = key_dir.join("audit.key").display().to_string();
        let mut config = Config {
            bind: addr.to_string(),
            database_url: database_url.clone(),
            audit_key_file: Some(audit_key_file.clone()),
            // No question leaves the machine: a loopback port nobody answers on, unless a
            // test starts its own nameserver (tests/src/dns.rs).
            dns_resolver: Some("127.0.0.1:9".into()),
            dkim_key_file: Some(key_dir.join("dkim.key").display().to_string()),
            dns_port: 9,
            dns_timeout_ms: 300,
            ..Config::default()
        };
        tweak(&mut config);
        let db = Db::connect(&database_url).await.expect("database");
        db.migrate().await.expect("migrations");
        let db = app::audit::service::attach_key(db, &config)
            .await
            .expect("audit key");
        let state = AppState::new(db, config, server::kinds());
        let router = server::router(state.clone());
        let handle = tokio::spawn(async move {
            axum_serve(listener, router).await;
        });
        TestApp {
            base: format!("http://{addr}"),
            state,
            backend,
            database_url,
            _server: handle,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// An API token of `email` with comma-separated `scopes`, valid for a week.
    pub async fn api_token(&self, email: &str, scopes: &str) -> String {
        app::auth::service::create_token_for_email(
            &self.state,
            email,
            "tests",
            &[scopes.to_string()],
            7,
        )
        .await
        .unwrap()
        .1
    }

    /// One REST call with a bearer token: the status and the JSON body (`null` when empty).
    pub async fn api(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = reqwest::Client::new()
            .request(method.parse().unwrap(), self.url(path))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let json = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
        };
        (status, json)
    }

    /// The `mailward` command line on this app's database (and its audit key).
    pub fn cli(&self) -> std::process::Command {
        let mut c = std::process::Command::new(mailward_bin());
        c.env("MAILWARD_DATABASE_URL", &self.database_url);
        if let Some(k) = &self.state.config.audit_key_file {
            c.env("MAILWARD_AUDIT_KEY_FILE", k);
        }
        c
    }

    /// A browser-like client: keeps cookies, does not follow redirects, says its requests
    /// come from our own pages.
    pub fn browser(&self) -> Browser {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("sec-fetch-site", "same-origin".parse().unwrap());
        headers.insert("origin", self.base.parse().unwrap());
        Browser {
            base: self.base.clone(),
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .default_headers(headers)
                .user_agent("mailward-tests")
                // A page that never finishes is a bug to report, not a reason to wait forever.
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    /// Runs first-run setup through the HTTP forms; returns the signed-in owner.
    pub async fn setup_owner(&self) -> Account {
        let link = app::auth::service::ensure_setup_link(&self.state)
            .await
            .unwrap()
            .expect("an empty database gets a setup link");
        let path = link.trim_start_matches(&self.base).to_string();
        let b = self.browser();
        let email = "owner@agency.example".to_string();
        let password = "violet tugboat mirrors 42".to_string();
        let r = b
            .post(
                &format!("{path}/password"),
                &[
                    ("email", email.as_str()),
                    ("display_name", "Olivia Owner"),
                    ("password", password.as_str()),
                    ("confirm", password.as_str()),
                ],
            )
            .await;
        assert_eq!(r.status(), 303);
        let page = b.get_text(&path).await;
        let secret =
            totp_secret_in(&page).unwrap_or_else(|| panic!("TOTP secret on the page: {page}"));
        let code = app::core::secrets::totp_code(&secret, self.state.clock.now()).unwrap();
        let r = b
            .post(&format!("{path}/totp"), &[("code", code.as_str())])
            .await;
        assert_eq!(r.headers()["location"], "/welcome/recovery-codes");
        let page = b.get_text("/welcome/recovery-codes").await;
        let codes = recovery_codes_in(&page);
        assert_eq!(codes.len(), 10, "ten recovery codes shown");
        b.post("/account/recovery-codes/ack", &[]).await;
        Account {
            email,
            password,
            totp_secret: secret,
            recovery_codes: codes,
            browser: b,
        }
    }

    /// Invites someone through the console as `by` (a POST to `form_path`), reveals the link
    /// once on `page_path` and accepts it: the new, signed-in account.
    pub async fn invite_through(
        &self,
        by: &Account,
        form_path: &str,
        form: &[(&str, &str)],
        page_path: &str,
        email: &str,
        name: &str,
    ) -> Account {
        let r = by.browser.post(form_path, form).await;
        assert_eq!(r.status(), 303);
        let page = by.browser.get_text(page_path).await;
        let i = page
            .find(email)
            .unwrap_or_else(|| panic!("invitation for {email} listed on {page_path}"));
        let reveal = between(&page[i..], "action=\"", "/reveal\"").expect("reveal button");
        by.browser.post(&format!("{reveal}/reveal"), &[]).await;
        let page = by.browser.get_text(page_path).await;
        let link = testid_text(&page, "fresh-secret").expect("link shown once");
        self.accept_invite(&link, name, "harbour lights at midnight")
            .await
    }

    /// Accepts an invitation link through the forms; returns the new, signed-in account.
    pub async fn accept_invite(&self, link: &str, name: &str, password: &str) -> Account {
        let path = link.trim_start_matches(&self.base).to_string();
        let b = self.browser();
        let r = b
            .post(
                &format!("{path}/password"),
                &[
                    ("display_name", name),
                    ("password", password),
                    ("confirm", password),
                ],
            )
            .await;
        assert_eq!(r.status(), 303);
        let page = b.get_text(&path).await;
        let secret = totp_secret_in(&page).unwrap_or_else(|| panic!("TOTP step: {page}"));
        let code = self.next_totp(&secret);
        let r = b
            .post(&format!("{path}/totp"), &[("code", code.as_str())])
            .await;
        assert_eq!(r.headers()["location"], "/welcome/recovery-codes");
        let codes = recovery_codes_in(&b.get_text("/welcome/recovery-codes").await);
        b.post("/account/recovery-codes/ack", &[]).await;
        let email = between(&page, "<p class=\"text-sm font-medium\">", "<").unwrap_or_default();
        Account {
            email,
            password: password.into(),
            totp_secret: secret,
            recovery_codes: codes,
            browser: b,
        }
    }

    /// A fresh TOTP code for `secret`, one step after any code used so far.
    pub fn next_totp(&self, secret: &str) -> String {
        self.state.clock.advance(30);
        app::core::secrets::totp_code(secret, self.state.clock.now()).unwrap()
    }
}

async fn axum_serve(listener: tokio::net::TcpListener, router: axum_router::Router) {
    axum_router::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
    .unwrap();
}

pub mod dns;
pub mod geoip;
pub mod mailplane;
pub mod rdap;
pub mod webhooks;

use axum as axum_router;

pub struct Account {
    pub email: String,
    pub password: String,
    pub totp_secret: String,
    pub recovery_codes: Vec<String>,
    pub browser: Browser,
}

pub struct Browser {
    pub base: String,
    pub http: reqwest::Client,
}

impl Browser {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{}", self.base, path))
            .send()
            .await
            .unwrap()
    }
    pub async fn get_text(&self, path: &str) -> String {
        self.get(path).await.text().await.unwrap()
    }
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}{}", self.base, path))
            .form(form)
            .send()
            .await
            .unwrap()
    }
    /// Password then second factor; returns where the last step redirected to.
    pub async fn sign_in(&self, email: &str, password: &str, code: &str) -> String {
        let r = self
            .post("/login", &[("email", email), ("password", password)])
            .await;
        let to = r.headers()["location"].to_str().unwrap().to_string();
        if to != "/login/verify" {
            return to;
        }
        let r = self.post("/login/verify", &[("code", code)]).await;
        r.headers()["location"].to_str().unwrap().to_string()
    }
    /// The flash message shown by the next page view of `path`.
    pub async fn flash(&self, path: &str) -> Option<String> {
        let page = self.get_text(path).await;
        let rest = page.split("data-testid=\"flash\"").nth(1)?;
        let msg = rest.split("<span>").nth(1)?.split("</span>").next()?;
        Some(msg.to_string())
    }
}

/// The session cookie (`mailward_session=…`) a response sets, if any.
pub fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("mailward_session="))
        .map(|v| v.split(';').next().unwrap().to_string())
}

pub fn between(s: &str, start: &str, end: &str) -> Option<String> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)? + i;
    Some(s[i..j].to_string())
}

/// The text right inside the element marked `data-testid="ID"` (up to its first child tag).
/// The TOTP secret shown for entering by hand (the page groups it by four; spaces dropped).
pub fn totp_secret_in(page: &str) -> Option<String> {
    testid_text(page, "totp-secret").map(|s| s.split_whitespace().collect())
}

pub fn testid_text(page: &str, id: &str) -> Option<String> {
    let start = page.find(&format!("data-testid=\"{id}\""))?;
    between(&page[start..], ">", "<")
}

pub fn recovery_codes_in(page: &str) -> Vec<String> {
    let Some(start) = page.find("data-testid=\"recovery-codes\"") else {
        return vec![];
    };
    let Some(list) = between(&page[start..], ">", "</ul>") else {
        return vec![];
    };
    list.split("<li")
        .skip(1)
        .filter_map(|li| li.split('>').nth(1)?.split('<').next().map(str::to_string))
        .collect()
}

/// Declares one test body to run on both databases.
#[macro_export]
macro_rules! both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::Backend::Postgres).await
            }
        }
    };
}

/// The `mailward` binary built by `scripts/build` (or `MAILWARD_BIN`).
pub fn mailward_bin() -> PathBuf {
    if let Ok(p) = std::env::var("MAILWARD_BIN") {
        return PathBuf::from(p);
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/mailward");
    assert!(
        p.exists(),
        "{} is missing: run `cargo build -p server` first (scripts/test does)",
        p.display()
    );
    p
}

/// A minimal SMTP server on loopback that keeps every message it is given (for mail that
/// Mailward sends: invitations, notices).
pub struct SmtpSink {
    pub port: u16,
    pub messages: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// While set, recipients whose address contains "bounce" are refused (550).
    pub refusing: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// While set, every message received is also handed on — as a mailbox elsewhere that
    /// forwards everything would — to this address on port 25 of 127.0.0.1 at this port.
    pub forward: std::sync::Arc<std::sync::Mutex<Option<(u16, String)>>>,
}

/// Hands `msg` (as the sink stored it: lines still dot-stuffed, LF ends) to the SMTP server
/// on 127.0.0.1:`port` for `rcpt`, from the null sender. Quietly gives up on any refusal.
async fn hand_on(port: u16, rcpt: String, msg: String) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let Ok(sock) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return;
    };
    let (r, mut w) = sock.into_split();
    let mut lines = BufReader::new(r).lines();
    async fn reply(
        lines: &mut tokio::io::Lines<BufReader<tokio::net::tcp::OwnedReadHalf>>,
    ) -> Option<String> {
        loop {
            let l = lines.next_line().await.ok()??;
            if l.len() < 4 || l.as_bytes()[3] != b'-' {
                return Some(l);
            }
        }
    }
    let mut data = String::new();
    for l in msg.lines() {
        data.push_str(l);
        data.push_str("\r\n");
    }
    data.push_str(".\r\n");
    let steps = [
        ("EHLO forwarder.outside.example\r\n".to_string(), '2'),
        ("MAIL FROM:<>\r\n".to_string(), '2'),
        (format!("RCPT TO:<{rcpt}>\r\n"), '2'),
        ("DATA\r\n".to_string(), '3'),
        (data, '2'),
        ("QUIT\r\n".to_string(), '2'),
    ];
    if reply(&mut lines).await.is_none() {
        return;
    }
    for (cmd, want) in steps {
        if w.write_all(cmd.as_bytes()).await.is_err() {
            return;
        }
        match reply(&mut lines).await {
            Some(l) if l.starts_with(want) => {}
            _ => return,
        }
    }
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let refusing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let store = messages.clone();
        let refuse = refusing.clone();
        let forward = std::sync::Arc::new(std::sync::Mutex::new(None::<(u16, String)>));
        let fwd = forward.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let store = store.clone();
                let refuse = refuse.clone();
                let fwd = fwd.clone();
                tokio::spawn(async move {
                    let (r, mut w) = sock.into_split();
                    let mut lines = BufReader::new(r).lines();
                    let _ = w.write_all(b"220 sink ESMTP\r\n").await;
                    while let Ok(Some(line)) = lines.next_line().await {
                        let cmd = line.to_ascii_uppercase();
                        let reply: &[u8] = if cmd.starts_with("EHLO") {
                            b"250-sink\r\n250 8BITMIME\r\n"
                        } else if cmd.starts_with("RCPT")
                            && cmd.contains("BOUNCE")
                            && refuse.load(std::sync::atomic::Ordering::Relaxed)
                        {
                            b"550 no such user here\r\n"
                        } else if cmd.starts_with("DATA") {
                            let _ = w.write_all(b"354 go ahead\r\n").await;
                            let mut msg = String::new();
                            while let Ok(Some(l)) = lines.next_line().await {
                                if l == "." {
                                    break;
                                }
                                msg.push_str(&l);
                                msg.push('\n');
                            }
                            if let Some((port, rcpt)) = fwd.lock().unwrap().clone() {
                                tokio::spawn(hand_on(port, rcpt, msg.clone()));
                            }
                            store.lock().unwrap().push(msg);
                            b"250 queued\r\n"
                        } else if cmd.starts_with("QUIT") {
                            let _ = w.write_all(b"221 bye\r\n").await;
                            break;
                        } else {
                            b"250 OK\r\n"
                        };
                        if w.write_all(reply).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        SmtpSink {
            port,
            messages,
            refusing,
            forward,
        }
    }

    /// From now on, hands every message received on to `rcpt` at 127.0.0.1:`port` too.
    pub fn forward_to(&self, port: u16, rcpt: &str) {
        *self.forward.lock().unwrap() = Some((port, rcpt.to_string()));
    }

    /// Messages received, quoted-printable bodies decoded.
    pub fn messages(&self) -> Vec<String> {
        self.messages
            .lock()
            .unwrap()
            .iter()
            .map(|m| decode_qp(m))
            .collect()
    }

    /// Messages exactly as received (dot-unstuffed, nothing decoded): for signatures.
    pub fn raw_messages(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }
}

/// Decodes quoted-printable text (soft line breaks and =XX escapes), as a mail client would.
pub fn decode_qp(s: &str) -> String {
    let joined = s.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------- the real server ----------

/// The real `mailward serve` over a test's database, configured by environment variables
/// and optionally a config file; its log (stdout and stderr) goes to a file. Stopped on drop.
pub struct Served {
    pub child: std::process::Child,
    pub base: String,
    pub log: std::path::PathBuf,
}

impl Served {
    pub async fn start(
        app: &TestApp,
        dir: &std::path::Path,
        name: &str,
        env: &[(&str, String)],
        toml: Option<String>,
    ) -> Served {
        let site = dir.join("site");
        for f in server::SITE_FILES {
            let p = site.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "").unwrap();
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let mut c = app.cli();
        // The environment variables of `[smtp]` are cleared: a test sets what it means.
        for k in server::cli::SMTP_ENV {
            c.env_remove(k);
        }
        if let Some(t) = toml {
            let f = dir.join(format!("{name}.toml"));
            std::fs::write(&f, t).unwrap();
            c.arg("--config").arg(f);
        }
        c.args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .env("MAILWARD_SITE_ROOT", &site)
            .env_remove("MAILWARD_LOG")
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        for (k, v) in env {
            c.env(k, v);
        }
        let mut s = Served {
            child: c.spawn().unwrap(),
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        let http = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(r) = http.get(format!("{}/healthz", s.base)).send().await {
                if r.status() == 200 {
                    return s;
                }
            }
            if let Ok(Some(st)) = s.child.try_wait() {
                panic!("mailward serve ({name}) exited with {st}: {}", s.log());
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("mailward serve ({name}) did not answer: {}", s.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log, once it holds `needle` (up to 15 s).
    pub async fn log_with(&self, needle: &str) -> String {
        for _ in 0..150 {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("{needle:?} not in the log: {}", self.log());
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the futures concurrently (on this task) and returns their outputs in order.
pub async fn join_all<F: std::future::Future>(fs: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut handles: Vec<std::pin::Pin<Box<F>>> = fs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = handles.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (h, o) in handles.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match h.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *o = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|o| o.unwrap()).collect()
}
