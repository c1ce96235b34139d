//! Outgoing mail (invitations, notices) through lettre over SMTP. A few connections are kept
//! open and reused (a bulk import sends thousands of messages, several at once), with
//! TCP_NODELAY set: lettre
//! writes the message and its final "." separately, and with Nagle's algorithm on, each
//! message waited ~40 ms for the server's delayed ACK. A reused connection that has gone
//! stale is replaced once.
use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use lettre::Message;
use tokio::sync::Mutex;

use super::config::SmtpConfig;
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
    smtp: Option<SmtpConfig>,
    /// Kept connections; a send takes a free one (or waits for one in turn).
    conns: Arc<Vec<Mutex<Option<AsyncSmtpConnection>>>>,
    turn: Arc<std::sync::atomic::AtomicUsize>,
}

/// How many SMTP connections are kept at most (and so how many messages go out at once).
pub const CONNECTIONS: usize = 4;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const SEND_TIMEOUT: Duration = Duration::from_secs(60);

impl Mailer {
    pub fn new(smtp: Option<SmtpConfig>) -> Self {
        Mailer {
            smtp,
            conns: Arc::new((0..CONNECTIONS).map(|_| Mutex::new(None)).collect()),
            turn: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        }
    }
    pub fn is_configured(&self) -> bool {
        self.smtp.is_some()
    }

    async fn connect(cfg: &SmtpConfig) -> AppResult<AsyncSmtpConnection> {
        let fail = |e: &dyn std::fmt::Display| {
            AppError::Internal(format!(
                "cannot reach the SMTP server {}:{}: {e}",
                cfg.host, cfg.port
            ))
        };
        let stream = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio::net::TcpStream::connect((cfg.host.as_str(), cfg.port)),
        )
        .await
        .map_err(|e| fail(&e))?
        .map_err(|e| fail(&e))?;
        stream.set_nodelay(true).map_err(|e| fail(&e))?;
        AsyncSmtpConnection::connect_with_transport(Box::new(stream), &ClientId::default())
            .await
            .map_err(|e| fail(&e))
    }

    pub async fn send(&self, to: &str, subject: &str, body: String) -> AppResult<()> {
        let Some(cfg) = &self.smtp else {
            return Err(AppError::Conflict("outgoing mail is not configured".into()));
        };
        let from: Mailbox = cfg
            .from
            .parse()
            .map_err(|e| AppError::Config(format!("smtp.from: {e}")))?;
        let to: Mailbox = to
            .parse()
            .map_err(|_| AppError::invalid("That email address is not valid."))?;
        let msg = Message::builder()
            .from(from)
            .to(to)
            .subject(subject)
            .body(body)
            .map_err(AppError::internal)?;
        let envelope = msg.envelope().clone();
        let bytes = msg.formatted();
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
                *conn = Some(Self::connect(cfg).await?);
            }
            let c = conn.as_mut().expect("connected above");
            match tokio::time::timeout(SEND_TIMEOUT, c.send(&envelope, &bytes)).await {
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
