//! Runtime configuration: defaults, then an optional TOML file, then environment variables
//! (`MAILWARD_*`), then command-line flags (the server crate applies the last two).
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub bind: String,
    /// `sqlite://PATH` (default `./data/mailward.db`) or `postgres://…`.
    pub database_url: String,
    /// The address people use to reach Mailward; links in mail and on the console use it.
    pub public_url: String,
    /// Mark cookies `Secure` and send HSTS: `auto` (when `public_url` is https or the proxy
    /// says so), `always`, `never`.
    pub secure_cookies: String,
    /// Trust `X-Forwarded-For` / `X-Forwarded-Proto` from a reverse proxy in front.
    pub trust_proxy: bool,
    /// Sessions end after this many minutes without a request.
    pub session_idle_minutes: i64,
    /// …and this many hours after sign-in, whatever the activity.
    pub session_absolute_hours: i64,
    /// Invitation links stay valid this long.
    pub invite_ttl_hours: i64,
    /// Operator-initiated mailbox resets one operator may start per hour.
    pub reset_limit_per_operator_hour: i64,
    /// …and all operators together in one tenant per hour.
    pub reset_limit_per_tenant_hour: i64,
    /// A burst of resets in one tenant (this many within `reset_burst_minutes`) raises an
    /// alert on the dashboard.
    pub reset_burst_count: i64,
    pub reset_burst_minutes: i64,
    /// Change requests not decided within this many hours expire.
    pub change_request_ttl_hours: i64,
    /// Outgoing mail for invitations; without it, links can only be revealed once.
    pub smtp: Option<SmtpConfig>,
    /// `text` or `json`.
    pub log_format: String,
    /// Folder with `pkg/` (CSS, JS, wasm) served as static files.
    pub site_root: String,
    /// For tests and drills only, never in production: a file holding a number of seconds
    /// added to the system clock, read again every 200 ms (`MAILWARD_CLOCK_OFFSET_FILE`).
    /// End-to-end tests use it to let expiries pass.
    pub clock_offset_file: Option<String>,
    /// The mail server's host name that mail programs connect to (IMAP 993/143, submission
    /// 587), shown to mailbox owners in /me (`MAILWARD_MAIL_HOST`). Unset: not shown.
    pub mail_host: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    pub from: String,
}

fn default_smtp_port() -> u16 {
    25
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1:8080".into(),
            database_url: "sqlite://data/mailward.db".into(),
            public_url: String::new(),
            secure_cookies: "auto".into(),
            trust_proxy: false,
            session_idle_minutes: 30,
            session_absolute_hours: 12,
            invite_ttl_hours: 72,
            reset_limit_per_operator_hour: 5,
            reset_limit_per_tenant_hour: 20,
            reset_burst_count: 3,
            reset_burst_minutes: 10,
            change_request_ttl_hours: 72,
            smtp: None,
            log_format: "text".into(),
            site_root: "target/site".into(),
            clock_offset_file: None,
            mail_host: None,
        }
    }
}

impl Config {
    pub fn public_url(&self) -> String {
        if self.public_url.is_empty() {
            format!("http://{}", self.bind)
        } else {
            self.public_url.trim_end_matches('/').to_string()
        }
    }
    pub fn always_secure(&self) -> bool {
        self.secure_cookies == "always"
            || (self.secure_cookies == "auto" && self.public_url().starts_with("https://"))
    }
    pub fn validate(&self) -> Result<(), String> {
        if !["auto", "always", "never"].contains(&self.secure_cookies.as_str()) {
            return Err(format!(
                "secure_cookies must be auto, always or never (got {:?})",
                self.secure_cookies
            ));
        }
        if !["text", "json"].contains(&self.log_format.as_str()) {
            return Err(format!(
                "log_format must be text or json (got {:?})",
                self.log_format
            ));
        }
        if let Some(h) = &self.mail_host {
            if h.is_empty() || h.contains(|c: char| c.is_whitespace() || c == '/' || c == ':') {
                return Err(format!("mail_host must be a host name (got {h:?})"));
            }
        }
        if self.session_idle_minutes < 1 || self.session_absolute_hours < 1 {
            return Err("session timeouts must be positive".into());
        }
        if self.invite_ttl_hours < 1 || self.invite_ttl_hours > 24 * 30 {
            return Err("invite_ttl_hours must be between 1 and 720".into());
        }
        for (name, v) in [
            (
                "reset_limit_per_operator_hour",
                self.reset_limit_per_operator_hour,
            ),
            (
                "reset_limit_per_tenant_hour",
                self.reset_limit_per_tenant_hour,
            ),
            ("reset_burst_count", self.reset_burst_count),
            ("reset_burst_minutes", self.reset_burst_minutes),
            ("change_request_ttl_hours", self.change_request_ttl_hours),
        ] {
            if !(1..=10_000).contains(&v) {
                return Err(format!("{name} must be between 1 and 10000 (got {v})"));
            }
        }
        Ok(())
    }
}
