//! The mail plane's doveadm HTTP API (Dovecot's `service doveadm { inet_listener http }`):
//! ending mailboxes' live IMAP sessions at once (`doveadm kick`) when their access is revoked
//! in an incident. Mailward and Dovecot share `mailplane-doveadm.key` (beside the database,
//! made by `mailward serve` on first use; `mailward mailplane render --doveadm-port` writes it
//! into Dovecot's configuration, readable by root and Dovecot only).
use base64::Engine;

use super::config::Config;
use super::{AppError, AppResult};

const KEY_FILE: &str = "mailplane-doveadm.key";

/// The shared API key (64 hex digits), made on first use.
pub fn api_key(cfg: &Config) -> AppResult<String> {
    let path = super::audit_key::secret_path(cfg, None, KEY_FILE);
    let (secret, _) = super::audit_key::load_or_create_secret(&path, "doveadm API key")?;
    Ok(hex::encode(secret))
}

/// The key for `mailward mailplane render`: read, never made (`serve` makes it as the user it
/// runs as; a file made here by root would be unreadable to it).
pub fn existing_api_key(cfg: &Config) -> AppResult<String> {
    let path = super::audit_key::secret_path(cfg, None, KEY_FILE);
    if !path.exists() {
        return Err(AppError::Config(format!(
            "{} does not exist yet: start `mailward serve` once (it makes it), then render again",
            path.display()
        )));
    }
    api_key(cfg)
}

fn http() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("HTTP client")
    })
}

/// What the mail plane said about one kick.
#[derive(Debug, Clone, PartialEq)]
pub enum Kicked {
    /// Dovecot disconnected the user (1) or found no connection of theirs (0).
    Ended(i64),
    /// The API answered with an error for this user.
    Failed(String),
}

/// Ends every live IMAP (and LMTP-less) connection of each user, one doveadm `kick` per user
/// in one request. `Err`: the mail plane was not asked (not configured) or did not answer.
pub async fn kick(cfg: &Config, users: &[String]) -> Result<Vec<Kicked>, String> {
    let Some(url) = cfg.doveadm_url.as_deref() else {
        return Err("the mail plane's doveadm API is not configured (doveadm_url)".into());
    };
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let key = api_key(cfg).map_err(|e| e.to_string())?;
    let body: Vec<serde_json::Value> = users
        .iter()
        .enumerate()
        .map(|(i, u)| serde_json::json!(["kick", { "mask": [u] }, format!("k{i}")]))
        .collect();
    let endpoint = format!("{}/doveadm/v1", url.trim_end_matches('/'));
    let r = http()
        .post(&endpoint)
        .header(
            "Authorization",
            format!(
                "X-Dovecot-API {}",
                base64::engine::general_purpose::STANDARD.encode(key.as_bytes())
            ),
        )
        .json(&body)
        .send()
        .await
        .map_err(|e| format!("the mail plane's doveadm API did not answer: {e}"))?;
    let status = r.status();
    let text = r
        .text()
        .await
        .map_err(|e| format!("the mail plane's doveadm API: {e}"))?;
    if !status.is_success() {
        return Err(format!(
            "the mail plane's doveadm API answered {status}{}",
            if status == reqwest::StatusCode::UNAUTHORIZED {
                " (the key in mailplane-doveadm.key is not the one Dovecot has: render again)"
            } else {
                ""
            }
        ));
    }
    let answers: Vec<serde_json::Value> = serde_json::from_str(&text).map_err(|_| {
        "the mail plane's doveadm API answered something else than JSON".to_string()
    })?;
    Ok((0..users.len())
        .map(|i| {
            let tag = format!("k{i}");
            match answers.iter().find(|a| a[2] == tag.as_str()) {
                Some(a) if a[0] == "doveadmResponse" => Kicked::Ended(count_kicked(&a[1])),
                Some(a) => Kicked::Failed(a[1].to_string()),
                None => Kicked::Failed("no answer".into()),
            }
        })
        .collect())
}

/// Whether a kick answer names a disconnected user: Dovecot 2.3 answers
/// `[{"result": "user@example.com"}]` per user it disconnected, `[]` when none was connected.
fn count_kicked(v: &serde_json::Value) -> i64 {
    v.as_array().map(|a| a.len() as i64).unwrap_or(0)
}
