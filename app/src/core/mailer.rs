//! Outgoing mail (invitations, notices) through lettre over SMTP.
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::config::SmtpConfig;
use super::error::{AppError, AppResult};

#[derive(Clone)]
pub struct Mailer {
    smtp: Option<SmtpConfig>,
}

impl Mailer {
    pub fn new(smtp: Option<SmtpConfig>) -> Self {
        Mailer { smtp }
    }
    pub fn is_configured(&self) -> bool {
        self.smtp.is_some()
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
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host.as_str())
            .port(cfg.port)
            .build();
        transport
            .send(msg)
            .await
            .map_err(|e| AppError::Internal(format!("sending mail failed: {e}")))?;
        Ok(())
    }
}
