//! A private Postfix + Dovecot for one test: `mailward mailplane render` writes the
//! configuration for the test's database, `scripts/mailplane start` runs it on free loopback
//! ports, and a [`SmtpSink`] stands in for the rest of the internet (the relay host).
//! Clients are real: `tests/mailclient.py` speaks SMTP, submission and IMAP.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{unique, Backend, SmtpSink, TestApp};

pub struct MailPlane {
    pub dir: PathBuf,
    pub smtp: u16,
    pub submission: u16,
    pub imap: u16,
    pub imaps: u16,
    /// Mail that leaves (external forwards) arrives here.
    pub relay: SmtpSink,
    /// The managed relay requiring a sign-in, when the options asked for one (then mail
    /// leaves through it, not through `relay`).
    pub managed: Option<RelaySink>,
    /// Seconds from `scripts/mailplane start` to all four ports listening.
    pub bring_up_secs: f64,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A private CA (`ca.pem`) and the mail servers' certificate signed by it (`cert.pem`, with
/// the CA after it, and `key.pem`) for `mail.localhost`, `localhost` and 127.0.0.1, so a
/// client that trusts `ca.pem` verifies the servers on loopback.
pub fn make_certs(dir: &Path) {
    let p = |f: &str| dir.join(f).display().to_string();
    run(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=Mailward test CA",
        "-keyout",
        &p("ca-key.pem"),
        "-out",
        &p("ca.pem"),
    ]));
    run(Command::new("openssl").args([
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=mail.localhost",
        "-keyout",
        &p("key.pem"),
        "-out",
        &p("server.csr"),
    ]));
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints = critical, CA:FALSE\n\
         keyUsage = critical, digitalSignature, keyEncipherment\n\
         extendedKeyUsage = serverAuth\n\
         subjectAltName = DNS:mail.localhost, DNS:localhost, IP:127.0.0.1\n",
    )
    .unwrap();
    run(Command::new("openssl").args([
        "x509",
        "-req",
        "-in",
        &p("server.csr"),
        "-CA",
        &p("ca.pem"),
        "-CAkey",
        &p("ca-key.pem"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &p("server.ext"),
        "-out",
        &p("leaf.pem"),
    ]));
    let chain = std::fs::read_to_string(dir.join("leaf.pem")).unwrap()
        + &std::fs::read_to_string(dir.join("ca.pem")).unwrap();
    std::fs::write(dir.join("cert.pem"), chain).unwrap();
}

/// The optional parts of a test mail plane.
#[derive(Default)]
pub struct Options {
    /// Submitted mail signed by the milter at this socket (`inet:…`).
    pub milter: Option<String>,
    /// Every authentication reported to the test's Mailward.
    pub report: bool,
    /// The doveadm HTTP API on this port.
    pub doveadm: Option<u16>,
    /// Mailward's probe mailbox.
    pub probe: Option<String>,
    /// Submissions held to sending limits by the policy server at this socket.
    pub policy: Option<String>,
    /// Port 25 on this port (the app's `mailplane_smtp` points there); default a free one.
    pub smtp_port: Option<u16>,
    /// Outgoing mail leaves through a managed relay that requires encryption and this sign-in
    /// (a [`RelaySink`], in [`MailPlane::managed`]) instead of the plain [`SmtpSink`].
    pub managed_relay: Option<RelayLogin>,
}

/// A relay's sign-in and how it encrypts.
#[derive(Clone)]
pub struct RelayLogin {
    pub user: String,
    pub password: String,
    /// TLS from the first byte (as on 465) instead of STARTTLS.
    pub implicit_tls: bool,
}

/// `tests/relaysink.py` on a loopback port: a relay that takes mail only encrypted and signed
/// in, and keeps what it takes (with the user it signed in as). Stopped when dropped.
pub struct RelaySink {
    pub port: u16,
    out: PathBuf,
    child: std::process::Child,
}

impl RelaySink {
    /// A relay on `port` (a [`free_port`]) with the certificate in `certs` ([`make_certs`]).
    pub fn start(certs: &Path, port: u16, login: &RelayLogin) -> RelaySink {
        use std::io::BufRead;
        let out = certs.join(format!("relay-{port}.jsonl"));
        let mut child = Command::new("python3")
            .arg(repo().join("tests/relaysink.py"))
            .arg(port.to_string())
            .arg(certs.join("cert.pem"))
            .arg(certs.join("key.pem"))
            .arg(&login.user)
            .arg(&login.password)
            .arg(if login.implicit_tls {
                "tls"
            } else {
                "starttls"
            })
            .arg(&out)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert_eq!(first.trim(), "ready", "relaysink did not start");
        RelaySink { port, out, child }
    }

    /// What it took and refused so far, one JSON object each.
    pub fn entries(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Waits (up to 30 s) until `n` messages arrived; the messages.
    pub async fn wait_for(&self, n: usize) -> Vec<serde_json::Value> {
        for _ in 0..300 {
            let got: Vec<_> = self
                .entries()
                .into_iter()
                .filter(|e| e.get("data").is_some())
                .collect();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!(
            "the relay on {} got fewer than {n} messages: {:?}",
            self.port,
            self.entries()
        );
    }
}

impl Drop for RelaySink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl MailPlane {
    /// The CA that signed the mail servers' certificate (trust it to verify them).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// Renders and starts a mail plane over `app`'s database. Needs root and the packages
    /// `scripts/mailplane install` puts in place (scripts/test does both).
    pub async fn start(app: &TestApp) -> MailPlane {
        Self::start_with(app, None).await
    }

    /// The mail plane with submitted mail signed by the milter at `milter` (`inet:…`).
    pub async fn start_with(app: &TestApp, milter: Option<String>) -> MailPlane {
        Self::start_full(app, milter, false, None).await
    }

    /// The mail plane with the doveadm HTTP API on `port` (the app's `doveadm_url` points
    /// there: start the app with [`free_port`]'s port in its config first).
    pub async fn start_with_doveadm(app: &TestApp, port: u16) -> MailPlane {
        Self::start_full(app, None, false, Some(port)).await
    }

    /// The mail plane reporting every authentication to the test's Mailward (Dovecot's
    /// authentication policy protocol).
    pub async fn start_reporting(app: &TestApp) -> MailPlane {
        Self::start_full(app, None, true, None).await
    }

    /// The mail plane of Mailward's mail probes: `mailward-probe@` of every hosted domain goes
    /// to `probe_mailbox`, whose login may send as those addresses; submitted mail is signed
    /// through `milter`.
    pub async fn start_probing(
        app: &TestApp,
        milter: Option<String>,
        probe_mailbox: &str,
    ) -> MailPlane {
        Self::start_full_with(app, milter, false, None, Some(probe_mailbox.to_string())).await
    }

    /// Where the mailbox `mailbox_id` of `tenant_id` keeps its mail (Dovecot's home + Maildir).
    pub fn maildir(&self, tenant_id: &str, mailbox_id: &str) -> PathBuf {
        self.dir
            .join("conf/var/mail")
            .join(tenant_id)
            .join(mailbox_id)
            .join("Maildir")
    }

    /// The mail plane with submissions held to the plans' sending limits by the policy
    /// server at `policy` (`inet:…`, a [`Sidecar::policy`]).
    pub async fn start_limiting(app: &TestApp, policy: &str) -> MailPlane {
        Self::start_opts(
            app,
            Options {
                policy: Some(policy.to_string()),
                ..Options::default()
            },
        )
        .await
    }

    async fn start_full(
        app: &TestApp,
        milter: Option<String>,
        report: bool,
        doveadm: Option<u16>,
    ) -> MailPlane {
        Self::start_full_with(app, milter, report, doveadm, None).await
    }

    async fn start_full_with(
        app: &TestApp,
        milter: Option<String>,
        report: bool,
        doveadm: Option<u16>,
        probe: Option<String>,
    ) -> MailPlane {
        Self::start_opts(
            app,
            Options {
                milter,
                report,
                doveadm,
                probe,
                ..Options::default()
            },
        )
        .await
    }

    /// Renders and starts the mail plane with every optional part as `o` says.
    pub async fn start_opts(app: &TestApp, o: Options) -> MailPlane {
        let Options {
            milter,
            report,
            doveadm,
            probe,
            policy,
            smtp_port,
            managed_relay,
        } = o;
        let uid = run(Command::new("id").arg("-u"));
        assert_eq!(
            uid.trim(),
            "0",
            "the mail-plane tests start Postfix and Dovecot: run them as root (CI does)"
        );
        let dir = std::env::temp_dir().join(unique("mwmp-"));
        std::fs::create_dir_all(&dir).unwrap();
        make_certs(&dir);
        if app.backend == Backend::Sqlite {
            // The mail servers' users read the file (and Dovecot writes usage into it): with
            // WAL they need write access to the file, its journal and its folder.
            let db = app.database_url.trim_start_matches("sqlite://");
            let folder = Path::new(db).parent().unwrap();
            run(Command::new("chmod").arg("0777").arg(folder));
            run(Command::new("sh")
                .arg("-c")
                .arg(format!("chmod 0666 {}/*", folder.display())));
        }
        let relay = SmtpSink::start().await;
        let managed = managed_relay.as_ref().map(|l| {
            let m = RelaySink::start(&dir, free_port(), l);
            std::fs::write(dir.join("relay-password"), format!("{}\n", l.password)).unwrap();
            m
        });
        // On PostgreSQL the mail servers use a role that may only read the mail_* views and
        // write mail_usage (scripts/mailplane-role.pg.sql), as the README advises.
        let mail_url = match app.backend {
            Backend::Sqlite => app.database_url.clone(),
            Backend::Postgres => {
                let role = unique("mailplane_").to_lowercase();
                let sql = std::fs::read_to_string(repo().join("scripts/mailplane-role.pg.sql"))
                    .unwrap()
                    .replace("MAILPLANE_ROLE", &role);
                sqlx::raw_sql(&sql)
                    .execute(app.state.db.pool())
                    .await
                    .unwrap();
                let mut u = url::Url::parse(&app.database_url).unwrap();
                u.set_username(&role).unwrap();
                u.set_password(None).unwrap();
                u.to_string()
            }
        };
        let db = server::mailplane::DbTarget::parse(&mail_url).unwrap();
        // Free ports are found by binding and letting go; another test may take one meanwhile,
        // so a start that fails is tried again on new ports.
        let mut last_error = String::new();
        for _ in 0..3 {
            let args = server::mailplane::RenderArgs {
                out: dir.join("conf"),
                run_dir: None,
                mail_dir: None,
                mail_user: "vmail".into(),
                hostname: "mail.localhost".into(),
                listen: "127.0.0.1".into(),
                smtp_port: smtp_port.unwrap_or_else(free_port),
                submission_port: free_port(),
                imap_port: free_port(),
                imaps_port: free_port(),
                tls_cert: dir.join("cert.pem"),
                tls_key: dir.join("key.pem"),
                relayhost: Some(format!(
                    "[127.0.0.1]:{}",
                    managed.as_ref().map_or(relay.port, |m| m.port)
                )),
                relay_username: managed_relay.as_ref().map(|l| l.user.clone()),
                relay_password_file: managed_relay.as_ref().map(|_| dir.join("relay-password")),
                relay_tls: if managed_relay.as_ref().is_some_and(|l| l.implicit_tls) {
                    "tls".into()
                } else {
                    "starttls".into()
                },
                mail_database_url: None,
                postmaster: None,
                fast_auth_failures: true,
                milter: milter.clone(),
                policy: policy.clone(),
                auth_policy: report.then(|| app.base.clone()),
                auth_policy_token: report
                    .then(|| app::monitoring::service::policy_token(&app.state.config).unwrap()),
                doveadm_port: doveadm,
                doveadm_api_key: doveadm
                    .map(|_| app::core::doveadm::api_key(&app.state.config).unwrap()),
                probe_mailbox: probe.clone(),
            };
            let files = server::mailplane::render(&args, &db).unwrap();
            server::mailplane::write(&args, &files).unwrap();
            let started = std::time::Instant::now();
            let out = Command::new(repo().join("scripts/mailplane"))
                .arg("start")
                .arg(&args.out)
                .output()
                .unwrap();
            if out.status.success() {
                return MailPlane {
                    dir,
                    smtp: args.smtp_port,
                    submission: args.submission_port,
                    imap: args.imap_port,
                    imaps: args.imaps_port,
                    relay,
                    managed,
                    bring_up_secs: started.elapsed().as_secs_f64(),
                };
            }
            last_error = String::from_utf8_lossy(&out.stderr).into_owned();
            let _ = Command::new(repo().join("scripts/mailplane"))
                .arg("stop")
                .arg(&args.out)
                .output();
        }
        panic!("the mail plane did not start: {last_error}");
    }

    /// Runs tests/mailclient.py; its JSON answer.
    pub async fn client(&self, args: &[&str]) -> serde_json::Value {
        let out = tokio::process::Command::new("python3")
            .arg(repo().join("tests/mailclient.py"))
            .args(args)
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "mailclient {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Mail from outside to `to` on port 25; the JSON answer (`ok`, `refused`).
    pub async fn smtp(&self, from: &str, to: &[&str], subject: &str) -> serde_json::Value {
        let port = self.smtp.to_string();
        self.client(&["smtp", &port, from, &to.join(","), subject])
            .await
    }

    /// Like [`Self::smtp`], with a body of about `size` bytes.
    pub async fn smtp_sized(
        &self,
        from: &str,
        to: &str,
        subject: &str,
        size: usize,
    ) -> serde_json::Value {
        let port = self.smtp.to_string();
        self.client(&["smtp", &port, from, to, subject, &size.to_string()])
            .await
    }

    /// A signed-in client sends through submission (STARTTLS, AUTH PLAIN).
    pub async fn submit(
        &self,
        user: &str,
        password: &str,
        to: &str,
        subject: &str,
    ) -> serde_json::Value {
        let port = self.submission.to_string();
        self.client(&["submit", &port, user, password, user, to, subject])
            .await
    }

    /// `n` messages from a signed-in client over `parallel` sessions: `{"sent": …,
    /// "refusals": [{"n", "code", "error"}…], "errors": […]}`.
    pub async fn submit_many(
        &self,
        user: &str,
        password: &str,
        to: &str,
        subject: &str,
        n: usize,
        parallel: usize,
    ) -> serde_json::Value {
        let port = self.submission.to_string();
        let (n, parallel) = (n.to_string(), parallel.to_string());
        self.client(&[
            "submitmany",
            &port,
            user,
            password,
            user,
            to,
            subject,
            &n,
            &parallel,
        ])
        .await
    }

    /// Whether IMAP (STARTTLS port, from loopback) accepts this login.
    /// An IMAPS login from another loopback address (`127.x.y.z`: another network).
    pub async fn imap_login_from(&self, source: &str, user: &str, password: &str) -> bool {
        let out = tokio::process::Command::new("python3")
            .arg(repo().join("tests/mailclient.py"))
            .args(["login", &self.imaps.to_string(), user, password, "tls"])
            .env("MAILCLIENT_SOURCE", source)
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "mailclient: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["ok"] == true
    }

    pub async fn imap_login(&self, user: &str, password: &str) -> bool {
        let port = self.imap.to_string();
        self.client(&["login", &port, user, password]).await["ok"] == true
    }

    /// Subjects in the INBOX, once at least `at_least` messages are there (up to 15 s).
    pub async fn inbox(&self, user: &str, password: &str, at_least: usize) -> Vec<String> {
        let port = self.imap.to_string();
        let mut last = Vec::new();
        for _ in 0..150 {
            let v = self.client(&["subjects", &port, user, password]).await;
            assert_eq!(v["ok"], true, "IMAP login of {user} failed: {v}");
            last = v["subjects"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect();
            if last.len() >= at_least {
                return last;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        last
    }

    /// Messages the relay host has received, once at least `at_least` are there (up to 15 s).
    pub async fn relayed(&self, at_least: usize) -> Vec<String> {
        for _ in 0..150 {
            let m = self.relay.messages();
            if m.len() >= at_least {
                return m;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        self.relay.messages()
    }

    /// Postfix's queue now, one JSON object per message (`postqueue -j`: `queue_name` is
    /// `hold`, `active`, `deferred` or `incoming`).
    pub fn queue(&self) -> Vec<serde_json::Value> {
        let out = Command::new("postqueue")
            .arg("-c")
            .arg(self.dir.join("conf/postfix"))
            .arg("-j")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Postfix's queue is empty (everything delivered, relayed or bounced): up to 15 s.
    pub async fn settled(&self) {
        let conf = self.dir.join("conf/postfix");
        for _ in 0..150 {
            let out = Command::new("postqueue")
                .arg("-c")
                .arg(&conf)
                .arg("-j")
                .output()
                .unwrap();
            if out.stdout.is_empty() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("Postfix's queue did not empty: {}", self.log("postfix.log"));
    }

    /// A log of the running servers (postfix.log, dovecot.log).
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join("conf/var/log").join(name)).unwrap_or_default()
    }

    /// `doveadm` against this instance.
    pub fn doveadm(&self, args: &[&str]) -> String {
        run(Command::new("doveadm")
            .arg("-c")
            .arg(self.dir.join("conf/dovecot/dovecot.conf"))
            .args(args))
    }
}

impl Drop for MailPlane {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/mailplane"))
            .arg("stop")
            .arg(self.dir.join("conf"))
            .output();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// `mailward milter` or `mailward policy` for one test, on a free loopback port, over the test's database and key
/// files; stopped when dropped.
pub struct Sidecar {
    child: std::process::Child,
    pub socket: String,
    log: PathBuf,
}

/// `mailward milter`, the DKIM signer.
pub type Milter = Sidecar;

impl Sidecar {
    /// `mailward milter` (DKIM signing).
    pub async fn start(app: &TestApp) -> Sidecar {
        Self::spawn(app, "milter").await
    }

    /// `mailward policy` (sending limits).
    pub async fn policy(app: &TestApp) -> Sidecar {
        Self::spawn(app, "policy").await
    }

    async fn spawn(app: &TestApp, command: &str) -> Sidecar {
        let port = free_port();
        let log = std::env::temp_dir()
            .join(unique(&format!("mw{command}-")))
            .with_extension("log");
        let cfg = &app.state.config;
        let child = Command::new(crate::mailward_bin())
            .args([command, "--listen", &format!("127.0.0.1:{port}")])
            .env("MAILWARD_DATABASE_URL", &app.database_url)
            .env(
                "MAILWARD_AUDIT_KEY_FILE",
                cfg.audit_key_file.clone().unwrap_or_default(),
            )
            .env(
                "MAILWARD_DKIM_KEY_FILE",
                cfg.dkim_key_file.clone().unwrap_or_default(),
            )
            .env("MAILWARD_LOG", "debug,sqlx=warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Sidecar {
                    child,
                    socket: format!("inet:127.0.0.1:{port}"),
                    log,
                };
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "mailward {command} did not listen: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
