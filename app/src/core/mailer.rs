//! Outgoing mail (invitations, notices) through lettre over SMTP. A few connections are kept
//! open and reused (a bulk import sends thousands of messages, several at once), with
//! TCP_NODELAY set: lettre
//! writes the message and its final "." separately, and with Nagle's algorithm on, each
//! message waited ~40 ms for the server's delayed ACK. A reused connection that has gone
//! stale is replaced once.
//!
//! Each new connection is protected as `[smtp] tls` says (STARTTLS that must succeed, TLS
//! from the first byte, or none for a relay on this host), with the server's certificate
//! verified against the system's CAs plus `tls_ca_file`, then signs in (AUTH PLAIN/LOGIN)
//! when a user name is set. TLS is rustls (ring) inside lettre, over our own TCP stream so
//! that TCP_NODELAY holds with TLS too. When `serve` starts, the settings in effect are
//! logged and one connection is made in the background ([`Mailer::announce`]), so a server
//! that cannot work (no STARTTLS, an untrusted certificate, a refused password) is reported
//! then rather than at the first invitation.
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
#[allow(deprecated)]
use lettre::transport::smtp::client::AsyncNetworkStream;
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use lettre::Message;
use tokio::sync::Mutex;

use super::config::{is_loopback_host, SmtpConfig, SmtpTls};
use super::error::{AppError, AppResult};

/// One message to send.
#[derive(Clone, Debug)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
    /// The one-time link (invitation id) this message carries, withdrawn if it cannot be sent.
    pub link: Option<String>,
}

#[derive(Clone)]
pub struct Mailer {
    /// The agency's name: the sender's display name and the head of every message.
    name: Arc<str>,
    /// None: outgoing mail is not configured. Some(Err): configured, but unusable (the
    /// reason is the error of every send; `load_config` refuses such settings at start).
    smtp: Option<Result<Arc<Prepared>, String>>,
    /// Kept connections; a send takes a free one (or waits for one in turn).
    conns: Arc<Vec<Mutex<Option<AsyncSmtpConnection>>>>,
    turn: Arc<std::sync::atomic::AtomicUsize>,
}

/// The settings, checked once: TLS mode and parameters (certificates loaded).
struct Prepared {
    cfg: SmtpConfig,
    mode: SmtpTls,
    tls: Option<TlsParameters>,
    /// Errors name the `[smtp]` settings to change (Mailward's own mail), or not (a tenant's
    /// relay tried from its page).
    settings_hints: bool,
}

/// How many SMTP connections are kept at most (and so how many messages go out at once).
pub const CONNECTIONS: usize = 4;

/// Connecting, TLS and signing in together.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
const SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// The TLS parameters for `cfg` (None for `tls = "none"`): the system's CAs plus
/// `tls_ca_file`, or no verification at all with `tls_insecure_skip_verify`. The server's
/// certificate must name `host` (a DNS name or an IP address).
pub fn tls_parameters(cfg: &SmtpConfig) -> Result<Option<TlsParameters>, String> {
    if cfg.tls_mode()? == SmtpTls::None {
        return Ok(None);
    }
    let host = cfg.host.trim_start_matches('[').trim_end_matches(']');
    let mut b = TlsParameters::builder(host.to_string());
    if let Some(pem) = cfg.ca_pem()? {
        let cert = Certificate::from_pem(&pem).map_err(|e| {
            format!(
                "smtp.tls_ca_file {}: {e}",
                cfg.tls_ca_file.as_deref().unwrap_or_default()
            )
        })?;
        b = b.add_root_certificate(cert);
    }
    if cfg.tls_insecure_skip_verify {
        // Not checked at all: neither the chain nor the name it was issued for.
        b = b
            .dangerous_accept_invalid_certs(true)
            .dangerous_accept_invalid_hostnames(true);
    }
    b.build_rustls()
        .map(Some)
        .map_err(|e| format!("smtp: TLS settings for {host}: {e}"))
}

impl Prepared {
    fn new(cfg: SmtpConfig) -> Result<Prepared, String> {
        let mode = cfg.tls_mode()?;
        let tls = tls_parameters(&cfg)?;
        Ok(Prepared {
            cfg,
            mode,
            tls,
            settings_hints: true,
        })
    }

    /// "smtp.example.com:587 (STARTTLS, signed in as USER)" — for logs and errors.
    fn describe(&self) -> String {
        let c = &self.cfg;
        let tls = match self.mode {
            SmtpTls::StartTls => "STARTTLS",
            SmtpTls::Implicit => "implicit TLS",
            SmtpTls::None => "no TLS",
        };
        let verify = match self.mode {
            SmtpTls::None => "",
            _ if c.tls_insecure_skip_verify => ", certificate NOT verified",
            _ if c.tls_ca_file.is_some() => ", certificate verified (system CAs + tls_ca_file)",
            _ => ", certificate verified (system CAs)",
        };
        let user = match &c.username {
            Some(u) => format!(", signed in as {u}"),
            None => ", no sign-in".into(),
        };
        format!("{}:{} ({tls}{verify}{user})", c.host, c.port)
    }
}

/// A TLS stream lettre made (implicit TLS) handed back to lettre as a plain transport, so
/// that the TCP stream under it is ours (with TCP_NODELAY).
#[allow(deprecated)]
#[derive(Debug)]
struct Wrapped(AsyncNetworkStream);

#[allow(deprecated)]
impl tokio::io::AsyncRead for Wrapped {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let dst = buf.initialize_unfilled();
        match futures_io::AsyncRead::poll_read(Pin::new(&mut self.0), cx, dst) {
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[allow(deprecated)]
impl tokio::io::AsyncWrite for Wrapped {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        futures_io::AsyncWrite::poll_write(Pin::new(&mut self.0), cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_io::AsyncWrite::poll_flush(Pin::new(&mut self.0), cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_io::AsyncWrite::poll_close(Pin::new(&mut self.0), cx)
    }
}

impl AsyncTokioStream for Wrapped {
    fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.0.peer_addr()
    }
}

impl Mailer {
    /// `name`: who the mail is from, in words (`agency_name`), used as the sender's display
    /// name when `smtp.from` has none, and on top of every message.
    pub fn new(smtp: Option<SmtpConfig>, name: &str) -> Self {
        Mailer {
            name: Arc::from(name),
            smtp: smtp.map(|cfg| Prepared::new(cfg).map(Arc::new)),
            conns: Arc::new((0..CONNECTIONS).map(|_| Mutex::new(None)).collect()),
            turn: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        }
    }

    /// For `serve` at start: logs the settings in effect (warning about unverified or
    /// unencrypted connections) and checks them with one connection in the background (kept
    /// for the first message), logging what fails in words. Other commands stay quiet: some
    /// print results on stdout, where the log goes too.
    pub fn announce(&self) {
        match &self.smtp {
            None => tracing::info!("outgoing mail is not configured: links are revealed once"),
            Some(Err(e)) => tracing::error!("outgoing mail cannot work: {e}"),
            Some(Ok(p)) => {
                tracing::info!("outgoing mail via {}", p.describe());
                if p.cfg.tls_insecure_skip_verify && p.mode != SmtpTls::None {
                    tracing::warn!(
                        "smtp.tls_insecure_skip_verify is on: the SMTP server's certificate is \
                         not checked, so anyone on the path can read the mail and the password"
                    );
                }
                if p.mode == SmtpTls::None && !is_loopback_host(&p.cfg.host) {
                    tracing::warn!(
                        "smtp.tls = \"none\": mail to {} travels unencrypted",
                        p.cfg.host
                    );
                }
                let m = self.clone();
                tokio::spawn(async move {
                    match m.check().await {
                        Ok(()) => tracing::info!("outgoing mail: connected and ready"),
                        Err(e) => tracing::error!("outgoing mail will fail: {e}"),
                    }
                });
            }
        }
    }
    pub fn is_configured(&self) -> bool {
        self.smtp.is_some()
    }

    fn prepared(&self) -> AppResult<&Arc<Prepared>> {
        match &self.smtp {
            None => Err(AppError::Conflict("outgoing mail is not configured".into())),
            Some(Err(e)) => Err(AppError::Config(e.clone())),
            Some(Ok(p)) => Ok(p),
        }
    }

    /// One connection to `cfg` (TCP, TLS, sign-in), closed again: "host:port (STARTTLS, …)"
    /// when everything passed, or what failed, in words. Nothing is sent. For a relay someone
    /// enters on a page (the words name no settings file).
    pub async fn try_once(cfg: SmtpConfig) -> Result<String, String> {
        let mut p = Prepared::new(cfg)?;
        p.settings_hints = false;
        let mut conn = Self::connect(&p).await.map_err(|e| match e {
            AppError::Internal(s) | AppError::Config(s) => s,
            e => e.to_string(),
        })?;
        let _ = conn.quit().await;
        Ok(p.describe())
    }

    /// Connects (TLS, sign-in) once and keeps the connection for the next message.
    pub async fn check(&self) -> AppResult<()> {
        let p = self.prepared()?;
        let Some(mut slot) = self.conns.iter().find_map(|c| c.try_lock().ok()) else {
            return Ok(()); // all busy: sending, so connected
        };
        if slot.as_ref().is_some_and(|c| !c.has_broken()) {
            return Ok(());
        }
        *slot = Some(Self::connect(p).await?);
        Ok(())
    }

    async fn connect(p: &Prepared) -> AppResult<AsyncSmtpConnection> {
        match tokio::time::timeout(CONNECT_TIMEOUT, Self::open(p)).await {
            Ok(r) => r,
            Err(_) => Err(AppError::Internal(format!(
                "no answer in time from the SMTP server {}",
                p.describe()
            ))),
        }
    }

    async fn open(p: &Prepared) -> AppResult<AsyncSmtpConnection> {
        let cfg = &p.cfg;
        let at = format!("{}:{}", cfg.host, cfg.port);
        let fail = |e: &dyn std::fmt::Display| {
            AppError::Internal(format!("cannot reach the SMTP server {at}: {e}"))
        };
        let tls_fail = |e: &dyn std::fmt::Display| {
            let hint = if p.settings_hints
                && cfg.tls_ca_file.is_none()
                && e.to_string().contains("certificate")
            {
                " (a private CA: set smtp.tls_ca_file)"
            } else {
                ""
            };
            AppError::Internal(format!("TLS with the SMTP server {at} failed: {e}{hint}"))
        };
        let host = cfg.host.trim_start_matches('[').trim_end_matches(']');
        let stream = tokio::net::TcpStream::connect((host, cfg.port))
            .await
            .map_err(|e| fail(&e))?;
        stream.set_nodelay(true).map_err(|e| fail(&e))?;
        let hello = ClientId::default();
        let mut conn = match (&p.mode, &p.tls) {
            (SmtpTls::Implicit, Some(tls)) => {
                #[allow(deprecated)]
                let mut s = AsyncNetworkStream::use_existing_tokio1(Box::new(stream));
                s.upgrade_tls(tls.clone()).await.map_err(|e| tls_fail(&e))?;
                AsyncSmtpConnection::connect_with_transport(Box::new(Wrapped(s)), &hello)
                    .await
                    .map_err(|e| fail(&e))?
            }
            _ => AsyncSmtpConnection::connect_with_transport(Box::new(stream), &hello)
                .await
                .map_err(|e| fail(&e))?,
        };
        if let (SmtpTls::StartTls, Some(tls)) = (&p.mode, &p.tls) {
            if !conn.can_starttls() {
                conn.abort().await;
                if !p.settings_hints {
                    return Err(AppError::Internal(format!(
                        "the SMTP server {at} does not offer STARTTLS"
                    )));
                }
                return Err(AppError::Internal(format!(
                    "the SMTP server {at} does not offer STARTTLS, which smtp.tls = \"starttls\" \
                     requires (the default except for a relay on this host; set smtp.tls = \"none\" \
                     only for a relay you reach without crossing a network)"
                )));
            }
            conn.starttls(tls.clone(), &hello)
                .await
                .map_err(|e| tls_fail(&e))?;
        }
        if let Some(user) = &cfg.username {
            let password = cfg.password().map_err(AppError::Config)?.ok_or_else(|| {
                AppError::Config("smtp.username is set without a password".into())
            })?;
            let creds = Credentials::new(user.clone(), password);
            if let Err(e) = conn
                .auth(&[Mechanism::Plain, Mechanism::Login], &creds)
                .await
            {
                conn.abort().await;
                return Err(AppError::Internal(format!(
                    "the SMTP server {at} refused the sign-in as {user}: {e}"
                )));
            }
        }
        Ok(conn)
    }

    /// Sends `body` (plain text, paragraphs separated by blank lines) in the one template
    /// every message of Mailward's goes out in ([`compose`]): text and HTML alternatives,
    /// UTF-8 declared, a Message-ID, the sender with a display name.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> AppResult<()> {
        let p = self.prepared()?;
        let from: Mailbox = p
            .cfg
            .from
            .parse()
            .map_err(|e| AppError::Config(format!("smtp.from: {e}")))?;
        let from = match from.name {
            Some(_) => from,
            None => Mailbox::new(Some(self.name.to_string()), from.email),
        };
        let to: Mailbox = to
            .parse()
            .map_err(|_| AppError::invalid("That email address is not valid."))?;
        let (plain, html) = compose(&self.name, subject, &body);
        let id = format!(
            "<{}@{}>",
            super::secrets::new_id("msg"),
            from.email.domain()
        );
        let msg = Message::builder()
            .from(from)
            .to(to)
            .subject(subject)
            .message_id(Some(id))
            .multipart(MultiPart::alternative_plain_html(plain, html))
            .map_err(AppError::internal)?;
        let envelope = msg.envelope().clone();
        self.deliver(&envelope, &msg.formatted()).await
    }

    /// Sends a message already formatted (`bytes`, CRLF line ends) with its own envelope:
    /// `from` None is the null sender (`MAIL FROM:<>`). The mail probes use it.
    pub async fn send_raw(&self, from: Option<&str>, to: &str, bytes: &[u8]) -> AppResult<()> {
        let addr = |a: &str| {
            a.parse::<lettre::Address>()
                .map_err(|_| AppError::invalid(format!("{a} is not a mail address")))
        };
        let from = from.map(addr).transpose()?;
        let envelope =
            lettre::address::Envelope::new(from, vec![addr(to)?]).map_err(AppError::internal)?;
        self.deliver(&envelope, bytes).await
    }

    async fn deliver(&self, envelope: &lettre::address::Envelope, bytes: &[u8]) -> AppResult<()> {
        let p = self.prepared()?;
        let free = self.conns.iter().find_map(|c| c.try_lock().ok());
        let mut conn = match free {
            Some(c) => c,
            None => {
                let i = self.turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % CONNECTIONS;
                self.conns[i].lock().await
            }
        };
        for attempt in 0..2 {
            let reused = conn.as_ref().is_some_and(|c| !c.has_broken());
            if !reused {
                *conn = Some(Self::connect(p).await?);
            }
            let c = conn.as_mut().expect("connected above");
            match tokio::time::timeout(SEND_TIMEOUT, c.send(envelope, bytes)).await {
                Ok(Ok(_)) => return Ok(()),
                // A kept connection the server has closed meanwhile: once more on a new one.
                Ok(Err(e)) if reused && attempt == 0 && !e.is_permanent() => {
                    *conn = None;
                    continue;
                }
                Ok(Err(e)) => {
                    *conn = None;
                    return Err(AppError::Internal(format!("sending mail failed: {e}")));
                }
                Err(_) => {
                    *conn = None;
                    return Err(AppError::Internal("sending mail timed out".into()));
                }
            }
        }
        Err(AppError::Internal("sending mail failed".into()))
    }
}

/// The one template: the text as written, signed with the agency's name, and the same as a
/// plain HTML page — the agency's name on top, one paragraph per blank-line-separated block,
/// addresses of links made clickable (a link alone in its paragraph becomes a button with the
/// address written out under it). Every value is escaped; no images, no tracking.
pub fn compose(agency: &str, subject: &str, text: &str) -> (String, String) {
    let text = text.replace("\r\n", "\n");
    let text = text.trim_end();
    let plain = format!("{text}\n\n-- \n{agency}\n");
    let mut html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title></head>\n<body style=\"margin:0;padding:24px 12px;background:#f4f4f5;\
         font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:#18181b\">\
         <div style=\"max-width:560px;margin:0 auto;background:#ffffff;border:1px solid #e4e4e7;\
         border-radius:8px;padding:24px\">\n\
         <p style=\"margin:0 0 20px;font-size:13px;font-weight:600;color:#52525b\">{}</p>\n",
        escape(subject),
        escape(agency)
    );
    for para in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        if is_link(para) {
            let href = escape(para);
            html += &format!(
                "<p style=\"margin:0 0 8px\"><a href=\"{href}\" style=\"display:inline-block;\
                 background:#4f46e5;color:#ffffff;text-decoration:none;padding:10px 18px;\
                 border-radius:6px;font-weight:600\">Open the link</a></p>\n\
                 <p style=\"margin:0 0 16px;font-size:12px;color:#71717a;word-break:break-all\">\
                 {href}</p>\n"
            );
        } else {
            let lines: Vec<String> = para.lines().map(linkify).collect();
            html += &format!(
                "<p style=\"margin:0 0 16px;line-height:1.5\">{}</p>\n",
                lines.join("<br>\n")
            );
        }
    }
    html += &format!(
        "<p style=\"margin:24px 0 0;font-size:12px;color:#a1a1aa\">{}</p></div></body></html>",
        escape(agency)
    );
    (plain, html)
}

fn is_link(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://")) && !s.contains(char::is_whitespace)
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One line, escaped, its `http(s)://` words made links (trailing punctuation left outside).
fn linkify(line: &str) -> String {
    line.split(' ')
        .map(|w| {
            let end = w.trim_end_matches(['.', ',', ';', ':', ')', '!', '?']);
            if is_link(end) {
                let e = escape(end);
                format!(
                    "<a href=\"{e}\" style=\"color:#4f46e5\">{e}</a>{}",
                    escape(&w[end.len()..])
                )
            } else {
                escape(w)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_escapes_and_links() {
        let (plain, html) = compose(
            "Acme & Co <agency>",
            "Set a <password>",
            "Hello \"Anna Müller\",\nsee https://mw.example/x?a=1&b=2.\n\nhttps://mw.example/invite/mwm_abc\n\n<script>alert(1)</script>\n",
        );
        assert!(plain.starts_with("Hello \"Anna Müller\",\n"));
        assert!(plain.ends_with("\n\n-- \nAcme & Co <agency>\n"));
        assert!(html.contains("<title>Set a &lt;password&gt;</title>"));
        assert!(html.contains(">Acme &amp; Co &lt;agency&gt;</p>"));
        assert!(html.contains(
            "Hello &quot;Anna Müller&quot;,<br>\nsee <a href=\"https://mw.example/x?a=1&amp;b=2\""
        ));
        assert!(html.contains("b=2</a>.</p>\n"), "{html}");
        assert!(html.contains("<a href=\"https://mw.example/invite/mwm_abc\" style="));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("<script>"));
    }

    fn smtp(host: &str, port: u16, tls: Option<&str>) -> SmtpConfig {
        SmtpConfig {
            host: host.into(),
            port,
            from: "a@example.com".into(),
            tls: tls.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn tls_parameters_follow_the_mode() {
        assert!(tls_parameters(&smtp("127.0.0.1", 25, None))
            .unwrap()
            .is_none());
        for (host, port, tls) in [
            ("smtp.example.com", 465, None),
            ("smtp.example.com", 25, Some("implicit")),
            ("smtp.example.com", 587, None),
            ("[::1]", 587, Some("starttls")),
            ("127.0.0.1", 465, None),
        ] {
            let p = tls_parameters(&smtp(host, port, tls))
                .unwrap()
                .unwrap_or_else(|| panic!("TLS for {host}:{port}"));
            assert_eq!(p.domain(), host.trim_matches(['[', ']']));
        }
        let mut c = smtp("smtp.example.com", 465, None);
        c.tls_insecure_skip_verify = true;
        assert!(tls_parameters(&c).unwrap().is_some());
        // A CA file that looks like PEM but is not a certificate.
        let dir = std::env::temp_dir().join(format!("mw-mailer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("bad.pem");
        std::fs::write(
            &bad,
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        c.tls_insecure_skip_verify = false;
        c.tls_ca_file = Some(bad.display().to_string());
        let e = tls_parameters(&c).err().unwrap();
        assert!(
            e.starts_with(&format!("smtp.tls_ca_file {}", bad.display())),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Sends the mail a committed transaction queued (`Tx::commit_outbox`). Mail that cannot be
/// handed over goes to the registered [`crate::core::registry::UnsentMail`] handlers (the
/// mailboxes capability withdraws a one-time link it carried); the error then says what was
/// done (`done`, "X was created") and what was not.
pub async fn deliver(
    st: &super::state::AppState,
    by: &super::authz::Actor,
    mails: Vec<Mail>,
    done: &str,
) -> super::AppResult<()> {
    let mut failed = None;
    for mail in mails {
        if let Err(e) = st
            .mailer
            .send(&mail.to, &mail.subject, mail.body.clone())
            .await
        {
            let msg = unsent(st, by, &mail, &e, done).await?;
            failed.get_or_insert(msg);
        }
    }
    match failed {
        Some(msg) => Err(super::AppError::Unavailable(msg)),
        None => Ok(()),
    }
}

/// After `mail` could not be sent: the registered handlers act on it, and the answer says in
/// words what was done and what was not.
pub async fn unsent(
    st: &super::state::AppState,
    by: &super::authz::Actor,
    mail: &Mail,
    e: &super::AppError,
    done: &str,
) -> super::AppResult<String> {
    tracing::warn!(error = %e, to = %mail.to, "mail not sent");
    let mut msg = format!(
        "{done}, but the email to {} could not be sent ({e}).",
        mail.to
    );
    for h in st.kinds.unsent_handlers() {
        if let Some(said) = h.unsent(st, by, mail, e).await? {
            msg.push(' ');
            msg.push_str(&said);
        }
    }
    Ok(msg)
}
