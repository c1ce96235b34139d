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
    /// Replaced by `trusted_proxies` (a list of addresses); `true` is refused with a message
    /// saying so, because "trust any peer's X-Forwarded-For" let clients choose their address.
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
    /// Where alert e-mails leave (`[alert_smtp]`, same fields as `[smtp]`): best a relay other
    /// than the monitored mail plane, so alerts still go out when its address is blocklisted.
    /// Unset: `[smtp]`.
    pub alert_smtp: Option<SmtpConfig>,
    /// The agency's name, as people read it in mail: the sender's display name (when
    /// `smtp.from` has none) and the head of every message (`MAILWARD_AGENCY_NAME`).
    pub agency_name: String,
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
    /// The audit key file (64 hex digits, created on first start when missing): keys the audit
    /// chain and signs checkpoints; keep it off the database (`MAILWARD_AUDIT_KEY_FILE`).
    /// Default: `audit.key` beside a SQLite database, else `data/audit.key`.
    pub audit_key_file: Option<String>,
    /// Reverse proxies whose `X-Forwarded-For` / `-Proto` are believed: addresses or CIDR
    /// ranges (`MAILWARD_TRUSTED_PROXIES`, comma-separated).
    pub trusted_proxies: Vec<String>,
    /// A recursive resolver, used only to find each domain's authoritative nameservers and
    /// their addresses (`IP:PORT`; `MAILWARD_DNS_RESOLVER`). Unset: the first `nameserver` of
    /// `/etc/resolv.conf`. Records themselves are always asked of the authoritative servers.
    pub dns_resolver: Option<String>,
    /// The port authoritative nameservers are asked on (`MAILWARD_DNS_PORT`; 53 in real life).
    pub dns_port: u16,
    /// Minutes between two DNS scans of every domain.
    pub dns_scan_minutes: i64,
    /// How long one DNS question may take before its answer counts as unknown.
    pub dns_timeout_ms: u64,
    /// The key that seals DKIM private keys in the database (64 hex digits, made on first use
    /// when missing; `MAILWARD_DKIM_KEY_FILE`). Default: `dkim.key` beside a SQLite database,
    /// else `data/dkim.key`. Back it up with the database: without it the keys cannot sign.
    pub dkim_key_file: Option<String>,
    /// Days a DKIM key signs before the scanner starts its rotation (0: only by hand).
    pub dkim_rotate_days: i64,
    /// Days a replaced key's record stays published after the switch (mail in flight still
    /// verifies), before the key is retired.
    pub dkim_retire_days: i64,
    /// How long an applied DNS change may take to be seen on every authoritative nameserver
    /// before its verification fails (and an RFC 2136 change is rolled back by itself).
    pub dns_verify_seconds: i64,
    /// Seconds between two looks while a DNS change is being verified.
    pub dns_verify_poll_seconds: i64,
    /// Domains per batch of a bulk DNS change (after its canary domain), unless the plan says.
    pub dns_bulk_batch_size: i64,
    /// A bulk DNS change that would update or delete more than this share (percent) of the
    /// records a zone is known to hold is unsafe: an approver must override it with a reason.
    pub dns_bulk_max_percent: i64,
    /// The Maildir of the mailbox DMARC aggregate reports are sent to (`rua`), which the DNS
    /// scan reads (`MAILWARD_DMARC_MAILDIR`; unset: reports only by upload and API).
    pub dmarc_maildir: Option<String>,
    /// A zone the operator controls, for DKIM selectors delegated by CNAME (`MAILWARD_DKIM_ZONE`,
    /// e.g. `dkim.mail.example.net`): a delegated domain publishes `mw1._domainkey` and
    /// `mw2._domainkey` as CNAMEs to `mwN.<domain>.<zone>` once, and its key records live here.
    pub dkim_zone: Option<String>,
    /// The primary nameserver of `dkim_zone` that accepts RFC 2136 updates (`IP:PORT`;
    /// `MAILWARD_DKIM_ZONE_SERVER`). Unset: Mailward shows the records to add by hand.
    pub dkim_zone_server: Option<String>,
    /// The mail plane's doveadm HTTP API (`http://127.0.0.1:8080`; `MAILWARD_DOVEADM_URL`),
    /// rendered with `mailward mailplane render --doveadm-port`: revoking a mailbox's access
    /// in an incident, offboarding it or "lock now" ends its live IMAP sessions there at once
    /// (`doveadm kick`), and offboarded mail is deleted when its retention ends. The key is
    /// `mailplane-doveadm.key` beside the database. Unset: sessions end at their next login,
    /// and kept mail is not deleted (an alert says so).
    pub doveadm_url: Option<String>,
    /// The mail plane's port 25 (`127.0.0.1:25`; `MAILWARD_MAILPLANE_SMTP`): the offboarding
    /// scan asks it, without sending anything, whether it still takes mail for the address.
    /// Unset: the scan reads the database only (and, with `doveadm_url`, the live sessions).
    pub mailplane_smtp: Option<String>,
    /// The ports a tenant's own outgoing relay may use (`MAILWARD_RELAY_PORTS`, comma
    /// separated): the mail ports, so the relay form and its connection test cannot be turned
    /// on other services.
    pub relay_ports: Vec<u16>,
    /// An RDAP service for "Look up in RDAP" on a domain's control record (registrar and
    /// expiry; `https://rdap.org` redirects to each registry's server; `MAILWARD_RDAP_URL`).
    /// Unset: expiry and registrar are entered by hand.
    pub rdap_url: Option<String>,
    /// A file holding the TSIG key for those updates as `algorithm:name:base64-secret` (the
    /// `knsupdate -y` / `nsupdate -y` form; `MAILWARD_DKIM_ZONE_TSIG_FILE`). Keep it 0600.
    pub dkim_zone_tsig_file: Option<String>,
    /// Failed sign-ins (console, self-service, IMAP, SMTP) from one address — or against one
    /// account — within `alert_failure_minutes` that raise an alert.
    pub alert_failure_burst: i64,
    pub alert_failure_minutes: i64,
    /// A mail login from a network the account has not used for this many days is an alert.
    pub alert_new_network_days: i64,
    /// A share (percent) of a tenant's own mail failing DMARC at receivers, in one DMARC
    /// aggregate report, that raises an alert.
    pub alert_auth_fail_percent: i64,
    /// Mail logins a mailbox needs (over a week at least) before a login at an hour far
    /// outside them is an alert.
    pub alert_odd_hour_min_logins: i64,
    /// A MaxMind-format country database (GeoLite2-Country or GeoIP2-Country `.mmdb`;
    /// `MAILWARD_GEOIP_COUNTRY_DB`): mail logins from a country an account has not used are an
    /// alert. Unset: nothing geographic is claimed. Read at start; restart for a new file.
    pub geoip_country_db: Option<String>,
    /// Mail probes after a DNS change (`[probe]`): unset, a change is verified on the
    /// nameservers only.
    pub probe: Option<ProbeConfig>,
}

/// Mail probes (`[probe]`): after a DNS change is seen on every nameserver, one message comes
/// in through the mail plane's port 25 to `mailward-probe@<domain>` and one leaves from that
/// address through submission to `outbound_to`, which brings it back; both must reach the
/// probe mailbox, and the returned one must pass DKIM, SPF and DMARC (checked with mail-auth
/// against the live DNS) before the change counts as verified. The mail plane is rendered
/// with `--probe-mailbox` so that `mailward-probe@` of every hosted domain goes to that
/// mailbox and its login may send as it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// The mail plane's port 25 (`127.0.0.1:25`), where the inbound probe arrives as mail
    /// from outside would.
    pub inbound: String,
    /// The mail plane's submission, signed in as the probe mailbox (same fields as `[smtp]`;
    /// `from` is the probe mailbox's address).
    pub submission: SmtpConfig,
    /// The probe mailbox's Maildir, where both probes end (read and emptied of probes here).
    pub maildir: String,
    /// Where the outbound probe goes: an address at another provider that forwards what it
    /// gets to `mailward-probe@` one of the hosted domains.
    pub outbound_to: String,
    /// The address the mail plane sends to the internet from: SPF is checked for it.
    pub sending_ip: String,
    /// The name the mail plane greets with (its HELO), for SPF.
    pub helo: String,
    /// Seconds both probes may take to arrive (after the nameservers agree).
    #[serde(default = "default_probe_wait")]
    pub wait_seconds: i64,
}

fn default_probe_wait() -> i64 {
    300
}

impl ProbeConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.inbound.parse::<std::net::SocketAddr>().is_err() {
            return Err(format!(
                "probe.inbound must be the mail plane's port 25 as IP:PORT (got {:?})",
                self.inbound
            ));
        }
        self.submission
            .validate()
            .map_err(|e| format!("[probe.submission]: {e}"))?;
        if self.submission.username.is_none() {
            return Err(
                "[probe.submission] needs username and password (the probe mailbox's login)".into(),
            );
        }
        if self.maildir.trim().is_empty() {
            return Err("probe.maildir must be the probe mailbox's Maildir".into());
        }
        if self
            .outbound_to
            .to_ascii_lowercase()
            .starts_with("mailward-probe@")
        {
            return Err("probe.outbound_to must be an address elsewhere, not a mailward-probe@ one (that one never leaves the mail plane)".into());
        }
        if crate::types::EmailAddress::parse(&self.outbound_to).is_err() {
            return Err(format!(
                "probe.outbound_to must be one mail address (got {:?})",
                self.outbound_to
            ));
        }
        if self.sending_ip.parse::<std::net::IpAddr>().is_err() {
            return Err(format!(
                "probe.sending_ip must be the IP address the mail plane sends from (got {:?})",
                self.sending_ip
            ));
        }
        if self.helo.is_empty() || self.helo.contains(|c: char| c.is_whitespace()) {
            return Err(format!(
                "probe.helo must be a host name (got {:?})",
                self.helo
            ));
        }
        if !(10..=3600).contains(&self.wait_seconds) {
            return Err("probe.wait_seconds must be 10–3600".into());
        }
        Ok(())
    }
}

/// Outgoing mail (`[smtp]`). `Debug` never shows the password.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    pub from: String,
    /// Sign in (AUTH PLAIN or LOGIN) with this user name…
    #[serde(default)]
    pub username: Option<String>,
    /// …and this password, or the contents of `password_file` (one or the other).
    #[serde(default)]
    pub password: Option<String>,
    /// A file holding the password (e.g. a systemd credential); read at start and at each
    /// new connection, so a rotated password is picked up without a restart.
    #[serde(default)]
    pub password_file: Option<String>,
    /// `starttls` (required; submission, 587), `implicit` (TLS from the first byte, 465) or
    /// `none` (plain: only for a relay on the same host). Unset: see [`SmtpConfig::tls_mode`].
    #[serde(default)]
    pub tls: Option<String>,
    /// A PEM file of CA certificates to trust besides the system's (e.g. a private CA).
    #[serde(default)]
    pub tls_ca_file: Option<String>,
    /// Accept any certificate (no verification at all). An escape hatch, warned about at start.
    #[serde(default)]
    pub tls_insecure_skip_verify: bool,
}

fn default_smtp_port() -> u16 {
    25
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: String::new(),
            port: default_smtp_port(),
            from: String::new(),
            username: None,
            password: None,
            password_file: None,
            tls: None,
            tls_ca_file: None,
            tls_insecure_skip_verify: false,
        }
    }
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("from", &self.from)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("password_file", &self.password_file)
            .field("tls", &self.tls)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("tls_insecure_skip_verify", &self.tls_insecure_skip_verify)
            .finish()
    }
}

/// How the connection to the SMTP server is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain SMTP, then STARTTLS, which must succeed before anything else is sent.
    StartTls,
    /// TLS from the first byte (SMTPS, port 465).
    Implicit,
    /// No encryption.
    None,
}

impl SmtpTls {
    pub fn name(self) -> &'static str {
        match self {
            SmtpTls::StartTls => "starttls",
            SmtpTls::Implicit => "implicit",
            SmtpTls::None => "none",
        }
    }
}

/// `localhost`, 127.0.0.0/8 or ::1: traffic to it never leaves this machine.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.to_ascii_lowercase().ends_with(".localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl SmtpConfig {
    /// The TLS mode: `tls` when set; otherwise `implicit` on port 465, `none` for a relay on
    /// this host (loopback) that is given no user name and no TLS setting, and `starttls`
    /// (required, certificate verified) for everything else.
    pub fn tls_mode(&self) -> Result<SmtpTls, String> {
        match self.tls.as_deref().map(str::trim) {
            Some("starttls") => Ok(SmtpTls::StartTls),
            Some("implicit") => Ok(SmtpTls::Implicit),
            Some("none") => Ok(SmtpTls::None),
            Some(other) => Err(format!(
                "smtp.tls must be starttls, implicit or none (got {other:?})"
            )),
            None if self.port == 465 => Ok(SmtpTls::Implicit),
            None if is_loopback_host(&self.host)
                && self.username.is_none()
                && self.tls_ca_file.is_none()
                && !self.tls_insecure_skip_verify =>
            {
                Ok(SmtpTls::None)
            }
            None => Ok(SmtpTls::StartTls),
        }
    }

    /// The password to sign in with: `password`, or the contents of `password_file` (one
    /// trailing line break dropped). The error names the setting, never the secret.
    pub fn password(&self) -> Result<Option<String>, String> {
        match (&self.password, &self.password_file) {
            (Some(_), Some(_)) => {
                Err("smtp.password and smtp.password_file: set one, not both".into())
            }
            (Some(p), None) => Ok(Some(p.clone())),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("smtp.password_file {path}: cannot read it: {e}"))?;
                let p = text
                    .strip_suffix('\n')
                    .map(|t| t.strip_suffix('\r').unwrap_or(t))
                    .unwrap_or(&text);
                if p.is_empty() {
                    return Err(format!("smtp.password_file {path} is empty"));
                }
                Ok(Some(p.to_string()))
            }
            (None, None) => Ok(None),
        }
    }

    /// The extra CA certificates (`tls_ca_file`), checked to hold at least one.
    pub fn ca_pem(&self) -> Result<Option<Vec<u8>>, String> {
        let Some(path) = &self.tls_ca_file else {
            return Ok(None);
        };
        let pem = std::fs::read(path)
            .map_err(|e| format!("smtp.tls_ca_file {path}: cannot read it: {e}"))?;
        if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
            return Err(format!(
                "smtp.tls_ca_file {path}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it"
            ));
        }
        Ok(Some(pem))
    }

    /// Everything that can be checked without connecting: clear messages naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.host.trim().is_empty() {
            return Err("smtp.host is empty".into());
        }
        if self.port == 0 {
            return Err("smtp.port must be a port number".into());
        }
        if let Err(e) = self.from.parse::<lettre::message::Mailbox>() {
            return Err(format!(
                "smtp.from {:?} is not a mail address: {e}",
                self.from
            ));
        }
        let mode = self.tls_mode()?;
        let password = self.password()?;
        match (&self.username, &password) {
            (Some(u), _) if u.is_empty() => return Err("smtp.username is empty".into()),
            (Some(_), None) => {
                return Err(
                    "smtp.username is set without smtp.password or smtp.password_file".into(),
                )
            }
            (None, Some(_)) => {
                return Err("smtp.password (or password_file) is set without smtp.username".into())
            }
            _ => {}
        }
        if mode == SmtpTls::None {
            if self.tls_ca_file.is_some() || self.tls_insecure_skip_verify {
                return Err(
                    "smtp.tls_ca_file / tls_insecure_skip_verify have no effect with smtp.tls = \"none\""
                        .into(),
                );
            }
            if self.username.is_some() && !is_loopback_host(&self.host) {
                return Err(format!(
                    "smtp.tls = \"none\" would send the password to {} unencrypted: use starttls or implicit",
                    self.host
                ));
            }
        }
        if self.tls_insecure_skip_verify && self.tls_ca_file.is_some() {
            return Err(
                "smtp.tls_ca_file and smtp.tls_insecure_skip_verify: set one, not both".into(),
            );
        }
        self.ca_pem()?;
        Ok(())
    }
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
            alert_smtp: None,
            agency_name: "Mailward".into(),
            log_format: "text".into(),
            site_root: "target/site".into(),
            clock_offset_file: None,
            mail_host: None,
            audit_key_file: None,
            trusted_proxies: Vec::new(),
            dns_resolver: None,
            dns_port: 53,
            dns_scan_minutes: 15,
            dns_timeout_ms: 2000,
            dkim_key_file: None,
            dkim_rotate_days: 90,
            dkim_retire_days: 7,
            dns_verify_seconds: 600,
            dns_verify_poll_seconds: 10,
            dns_bulk_batch_size: 50,
            dns_bulk_max_percent: 30,
            dmarc_maildir: None,
            dkim_zone: None,
            dkim_zone_server: None,
            doveadm_url: None,
            mailplane_smtp: None,
            relay_ports: vec![25, 465, 587, 2525],
            rdap_url: None,
            dkim_zone_tsig_file: None,
            alert_failure_burst: 10,
            alert_failure_minutes: 10,
            alert_new_network_days: 30,
            alert_auth_fail_percent: 10,
            alert_odd_hour_min_logins: 30,
            geoip_country_db: None,
            probe: None,
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
        let name = self.agency_name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(format!(
                "agency_name must be 1 to 100 characters on one line (got {:?})",
                self.agency_name
            ));
        }
        if !["text", "json"].contains(&self.log_format.as_str()) {
            return Err(format!(
                "log_format must be text or json (got {:?})",
                self.log_format
            ));
        }
        if self.trust_proxy {
            return Err(
                "trust_proxy is replaced by trusted_proxies: list the proxies' addresses \
                        or ranges, e.g. trusted_proxies = [\"127.0.0.1\"] \
                        (MAILWARD_TRUSTED_PROXIES=127.0.0.1)"
                    .into(),
            );
        }
        super::web::NetList::parse(&self.trusted_proxies)?;
        if !(1..=1440).contains(&self.dns_scan_minutes) {
            return Err("dns_scan_minutes must be between 1 and 1440".into());
        }
        if !(0..=3650).contains(&self.dkim_rotate_days)
            || !(1..=365).contains(&self.dkim_retire_days)
        {
            return Err("dkim_rotate_days must be 0–3650 and dkim_retire_days 1–365".into());
        }
        if !(10..=86_400).contains(&self.dns_verify_seconds)
            || !(1..=600).contains(&self.dns_verify_poll_seconds)
        {
            return Err(
                "dns_verify_seconds must be 10–86400 and dns_verify_poll_seconds 1–600".into(),
            );
        }
        if !(1..=1000).contains(&self.dns_bulk_batch_size)
            || !(1..=100).contains(&self.dns_bulk_max_percent)
        {
            return Err("dns_bulk_batch_size must be 1–1000 and dns_bulk_max_percent 1–100".into());
        }
        if !(100..=30_000).contains(&self.dns_timeout_ms) {
            return Err("dns_timeout_ms must be between 100 and 30000".into());
        }
        if let Some(r) = &self.dns_resolver {
            if r.parse::<std::net::SocketAddr>().is_err() && r.parse::<std::net::IpAddr>().is_err()
            {
                return Err(format!(
                    "dns_resolver must be an address such as 127.0.0.1:53 (got {r:?})"
                ));
            }
        }
        if let Some(z) = &self.dkim_zone {
            let z = z.trim_end_matches('.');
            if z.is_empty()
                || z.len() > 200
                || !z.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() < 64
                        && l.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                })
            {
                return Err(format!("dkim_zone must be a DNS zone name (got {z:?})"));
            }
        }
        if let Some(u) = &self.doveadm_url {
            let ok = (u.starts_with("http://") || u.starts_with("https://"))
                && u.chars().all(|c| c.is_ascii_graphic());
            if !ok {
                return Err(format!(
                    "doveadm_url must be the doveadm HTTP API's address, such as http://127.0.0.1:8080 (got {u:?})"
                ));
            }
        }
        if self.relay_ports.is_empty() || self.relay_ports.contains(&0) {
            return Err(
                "relay_ports must list the ports tenants' relays may use, such as [25, 465, 587, 2525]"
                    .into(),
            );
        }
        if let Some(a) = &self.mailplane_smtp {
            if a.parse::<std::net::SocketAddr>().is_err() {
                return Err(format!(
                    "mailplane_smtp must be the mail plane's port 25 as IP:PORT, such as 127.0.0.1:25 (got {a:?})"
                ));
            }
        }
        if let Some(u) = &self.rdap_url {
            let ok = (u.starts_with("http://") || u.starts_with("https://"))
                && u.chars().all(|c| c.is_ascii_graphic());
            if !ok {
                return Err(format!(
                    "rdap_url must be an RDAP service's address, such as https://rdap.org (got {u:?})"
                ));
            }
        }
        if let Some(s) = &self.dkim_zone_server {
            if s.parse::<std::net::SocketAddr>().is_err() && s.parse::<std::net::IpAddr>().is_err()
            {
                return Err(format!(
                    "dkim_zone_server must be an address such as 127.0.0.1:53 (got {s:?})"
                ));
            }
            if self.dkim_zone.is_none() {
                return Err("dkim_zone_server is set but dkim_zone is not".into());
            }
        }
        if self.dkim_zone_tsig_file.is_some() && self.dkim_zone_server.is_none() {
            return Err("dkim_zone_tsig_file is set but dkim_zone_server is not".into());
        }
        if let Some(h) = &self.mail_host {
            if h.is_empty() || h.contains(|c: char| c.is_whitespace() || c == '/' || c == ':') {
                return Err(format!("mail_host must be a host name (got {h:?})"));
            }
        }
        if let Some(smtp) = &self.smtp {
            smtp.validate()?;
        }
        if let Some(smtp) = &self.alert_smtp {
            smtp.validate().map_err(|e| format!("[alert_smtp]: {e}"))?;
        }
        if let Some(p) = &self.probe {
            p.validate()?;
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
            ("alert_failure_burst", self.alert_failure_burst),
            ("alert_failure_minutes", self.alert_failure_minutes),
            ("alert_new_network_days", self.alert_new_network_days),
            ("alert_odd_hour_min_logins", self.alert_odd_hour_min_logins),
        ] {
            if !(1..=10_000).contains(&v) {
                return Err(format!("{name} must be between 1 and 10000 (got {v})"));
            }
        }
        if !(1..=100).contains(&self.alert_auth_fail_percent) {
            return Err(format!(
                "alert_auth_fail_percent must be between 1 and 100 (got {})",
                self.alert_auth_fail_percent
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod smtp_tests {
    use super::*;

    fn smtp(host: &str, port: u16) -> SmtpConfig {
        SmtpConfig {
            host: host.into(),
            port,
            from: "Mailward <mailward@agency.example>".into(),
            ..Default::default()
        }
    }

    fn temp_dir() -> std::path::PathBuf {
        std::env::temp_dir().join(format!("mw-smtp-{}", std::process::id()))
    }

    fn temp(name: &str, text: &str) -> String {
        let dir = temp_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }

    #[test]
    fn tls_defaults_follow_host_port_and_sign_in() {
        // An old [smtp] with host/port/from only: a relay on this host stays plain…
        for host in ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.53"] {
            assert_eq!(smtp(host, 25).tls_mode(), Ok(SmtpTls::None), "{host}");
        }
        // …anything else must do STARTTLS (verified), 465 speaks TLS from the start.
        assert_eq!(
            smtp("smtp.example.com", 25).tls_mode(),
            Ok(SmtpTls::StartTls)
        );
        assert_eq!(smtp("10.0.0.5", 587).tls_mode(), Ok(SmtpTls::StartTls));
        assert_eq!(
            smtp("smtp.example.com", 465).tls_mode(),
            Ok(SmtpTls::Implicit)
        );
        assert_eq!(smtp("localhost", 465).tls_mode(), Ok(SmtpTls::Implicit));
        // Signing in, or any TLS setting, means TLS even on this host.
        let mut c = smtp("localhost", 587);
        c.username = Some("u@example.com".into());
        assert_eq!(c.tls_mode(), Ok(SmtpTls::StartTls));
        let mut c = smtp("localhost", 587);
        c.tls_ca_file = Some("/x.pem".into());
        assert_eq!(c.tls_mode(), Ok(SmtpTls::StartTls));
        // Explicit wins.
        let mut c = smtp("smtp.example.com", 465);
        c.tls = Some("starttls".into());
        assert_eq!(c.tls_mode(), Ok(SmtpTls::StartTls));
        c.tls = Some("ssl".into());
        assert!(c
            .tls_mode()
            .unwrap_err()
            .contains("smtp.tls must be starttls, implicit or none"));
    }

    #[test]
    fn probe_settings_are_checked() {
        let good = || super::ProbeConfig {
            inbound: "127.0.0.1:25".into(),
            submission: SmtpConfig {
                username: Some("probe@ops.example".into()),
                password: Some("pw".into()),
                tls: Some("starttls".into()),
                ..smtp("127.0.0.1", 587)
            },
            maildir: "/var/mail/probe/Maildir".into(),
            outbound_to: "back@elsewhere.example".into(),
            sending_ip: "203.0.113.25".into(),
            helo: "mail.example.net".into(),
            wait_seconds: 300,
        };
        assert_eq!(good().validate(), Ok(()));
        let cases: Vec<(super::ProbeConfig, &str)> = vec![
            (
                super::ProbeConfig {
                    inbound: "mail.example.net".into(),
                    ..good()
                },
                "probe.inbound",
            ),
            (
                super::ProbeConfig {
                    maildir: " ".into(),
                    ..good()
                },
                "probe.maildir",
            ),
            (
                super::ProbeConfig {
                    outbound_to: "not an address".into(),
                    ..good()
                },
                "probe.outbound_to",
            ),
            (
                super::ProbeConfig {
                    outbound_to: "mailward-probe@ops.example".into(),
                    ..good()
                },
                "not a mailward-probe@",
            ),
            (
                super::ProbeConfig {
                    sending_ip: "mail".into(),
                    ..good()
                },
                "probe.sending_ip",
            ),
            (
                super::ProbeConfig {
                    helo: "a b".into(),
                    ..good()
                },
                "probe.helo",
            ),
            (
                super::ProbeConfig {
                    wait_seconds: 5,
                    ..good()
                },
                "wait_seconds",
            ),
            (
                super::ProbeConfig {
                    submission: SmtpConfig {
                        username: None,
                        password: None,
                        ..good().submission
                    },
                    ..good()
                },
                "username and password",
            ),
        ];
        for (c, says) in cases {
            let e = c.validate().unwrap_err();
            assert!(e.contains(says), "{says}: {e}");
            assert!(!e.contains("pw\""), "never the password: {e}");
        }
    }

    #[test]
    fn validation_names_the_setting_and_never_the_password() {
        let secret = "hunter2-do-not-print";
        let ok = smtp("127.0.0.1", 25);
        assert_eq!(ok.validate(), Ok(()));
        let mut c = smtp("smtp.example.com", 587);
        c.password = Some(secret.into());
        let e = c.validate().unwrap_err();
        assert!(e.contains("without smtp.username"), "{e}");
        c.username = Some("u@example.com".into());
        assert_eq!(c.validate(), Ok(()));
        c.password_file = Some(temp("pw", "x\n"));
        let e = c.validate().unwrap_err();
        assert!(e.contains("not both"), "{e}");
        assert!(!e.contains(secret));
        c.password = None;
        c.password_file = Some("/nonexistent/smtp-password".into());
        let e = c.validate().unwrap_err();
        assert!(
            e.contains("smtp.password_file /nonexistent/smtp-password"),
            "{e}"
        );
        // A password file: one trailing newline is not part of the password.
        c.password_file = Some(temp("pw2", &format!("{secret}\n")));
        assert_eq!(c.password(), Ok(Some(secret.to_string())));
        c.password_file = Some(temp("pw3", "\n"));
        assert!(c.validate().unwrap_err().contains("is empty"));
        let mut c = smtp("smtp.example.com", 587);
        c.username = Some("u@example.com".into());
        assert!(c.validate().unwrap_err().contains("without smtp.password"));
        // The password never crosses a network in clear.
        let mut c = smtp("smtp.example.com", 25);
        c.tls = Some("none".into());
        c.username = Some("u@example.com".into());
        c.password = Some(secret.into());
        let e = c.validate().unwrap_err();
        assert!(e.contains("unencrypted"), "{e}");
        assert!(!e.contains(secret));
        // CA file: readable and PEM.
        let mut c = smtp("smtp.example.com", 587);
        c.tls_ca_file = Some("/nonexistent/ca.pem".into());
        assert!(c
            .validate()
            .unwrap_err()
            .contains("smtp.tls_ca_file /nonexistent/ca.pem"));
        c.tls_ca_file = Some(temp("notpem", "hello"));
        assert!(c.validate().unwrap_err().contains("no PEM certificate"));
        let mut c = smtp("127.0.0.1", 25);
        c.tls = Some("none".into());
        c.tls_insecure_skip_verify = true;
        assert!(c.validate().unwrap_err().contains("no effect"));
        let mut c = smtp("smtp.example.com", 587);
        c.from = "not an address".into();
        assert!(c.validate().unwrap_err().contains("smtp.from"));
        // Config's Debug (which may be logged) shows that a password is set, not what it is.
        let mut c = smtp("smtp.example.com", 587);
        c.username = Some("u@example.com".into());
        c.password = Some(secret.into());
        let cfg = Config {
            smtp: Some(c),
            ..Config::default()
        };
        let shown = format!("{cfg:?}");
        assert!(!shown.contains(secret), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        let _ = std::fs::remove_dir_all(temp_dir());
    }

    #[test]
    fn smtp_section_deserializes() {
        // The server reads TOML; serde is the same for any format.
        let cfg: Config = serde_json::from_value(serde_json::json!({"smtp": {
            "host": "smtp.example.com", "port": 587, "from": "a@example.com",
            "username": "a@example.com", "password_file": "/run/credentials/pw",
            "tls": "starttls", "tls_ca_file": "/etc/ca.pem"
        }}))
        .unwrap();
        let s = cfg.smtp.unwrap();
        assert_eq!(s.tls_mode(), Ok(SmtpTls::StartTls));
        assert_eq!(s.password_file.as_deref(), Some("/run/credentials/pw"));
        assert!(!s.tls_insecure_skip_verify);
        // Unknown keys are refused, as elsewhere.
        assert!(
            serde_json::from_value::<Config>(serde_json::json!({"smtp": {
                "host": "h", "from": "a@example.com", "starttls": true
            }}))
            .is_err()
        );
    }
}
