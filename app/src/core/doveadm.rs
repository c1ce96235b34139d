//! The mail plane's doveadm HTTP API (Dovecot's `service doveadm { inet_listener http }`):
//! ending mailboxes' live IMAP sessions at once (`doveadm kick`) when their access is revoked
//! in an incident, and deleting an offboarded mailbox's mail when its retention ends
//! (`doveadm expunge`), and the ACL that lets delegates open a mailbox's folders
//! (`doveadm acl set`). Mailward and Dovecot share `mailplane-doveadm.key` (beside the database,
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

/// Sends doveadm commands (`[name, parameters]`) in one request; each answer in order:
/// `Ok(result)` or `Err(what Dovecot said)` (exit code 67: no such user). `Err` for the whole
/// call: the mail plane was not asked (not configured) or did not answer.
pub async fn call(
    cfg: &Config,
    commands: &[(&str, serde_json::Value)],
) -> Result<Vec<Result<serde_json::Value, String>>, String> {
    let Some(url) = cfg.doveadm_url.as_deref() else {
        return Err("the mail plane's doveadm API is not configured (doveadm_url)".into());
    };
    if commands.is_empty() {
        return Ok(Vec::new());
    }
    let key = api_key(cfg).map_err(|e| e.to_string())?;
    let body: Vec<serde_json::Value> = commands
        .iter()
        .enumerate()
        .map(|(i, (name, params))| serde_json::json!([name, params, format!("c{i}")]))
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
    Ok((0..commands.len())
        .map(|i| {
            let tag = format!("c{i}");
            match answers.iter().find(|a| a[2] == tag.as_str()) {
                Some(a) if a[0] == "doveadmResponse" => Ok(a[1].clone()),
                Some(a) if a[1]["exitCode"] == 67 => Err("no such user".to_string()),
                Some(a) => Err(a[1].to_string()),
                None => Err("no answer".into()),
            }
        })
        .collect())
}

/// Ends every live IMAP (and LMTP-less) connection of each user, one doveadm `kick` per user
/// in one request. `Err`: the mail plane was not asked (not configured) or did not answer.
pub async fn kick(cfg: &Config, users: &[String]) -> Result<Vec<Kicked>, String> {
    let commands: Vec<(&str, serde_json::Value)> = users
        .iter()
        .map(|u| ("kick", serde_json::json!({ "mask": [u] })))
        .collect();
    Ok(call(cfg, &commands)
        .await?
        .into_iter()
        .map(|a| match a {
            Ok(v) => Kicked::Ended(count_kicked(&v)),
            Err(e) => Kicked::Failed(e),
        })
        .collect())
}

/// Live connections of `user` on the mail plane (`doveadm who`): 0 when none.
pub async fn who(cfg: &Config, user: &str) -> Result<i64, String> {
    let answers = call(cfg, &[("who", serde_json::json!({ "mask": [user] }))]).await?;
    match answers.into_iter().next() {
        // `[{"username": …, "connections": "2", "service": "imap", …}]`, one row per service.
        Some(Ok(v)) => Ok(v
            .as_array()
            .map(|rows| {
                rows.iter()
                    .filter(|r| r["username"].as_str() == Some(user))
                    .map(|r| {
                        r["connections"]
                            .as_str()
                            .and_then(|c| c.parse::<i64>().ok())
                            .or_else(|| r["connections"].as_i64())
                            .unwrap_or(1)
                    })
                    .sum()
            })
            .unwrap_or(0)),
        Some(Err(e)) => Err(format!("doveadm who: {e}")),
        None => Err("doveadm who: no answer".into()),
    }
}

/// What one mailbox's mail amounted to: messages and bytes (virtual sizes) in all folders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Stored {
    pub messages: i64,
    pub bytes: i64,
}

fn stored(v: &serde_json::Value) -> Stored {
    // `mailboxStatus` with totalSum answers `[{"messages": "2", "vsize": "1234"}]`.
    let n = |k: &str| {
        v[0][k]
            .as_str()
            .and_then(|s| s.parse().ok())
            .or_else(|| v[0][k].as_i64())
            .unwrap_or(0)
    };
    Stored {
        messages: n("messages"),
        bytes: n("vsize"),
    }
}

/// Deletes every message of `user` in every folder (`doveadm expunge mailbox * all`), and
/// says what was there before and what is left after (both read in the same request).
/// `Ok(None)`: the mail plane knows no such user (nothing to delete there).
pub async fn purge(cfg: &Config, user: &str) -> Result<Option<(Stored, Stored)>, String> {
    let status = serde_json::json!({
        "user": user, "field": ["messages", "vsize"], "mailboxMask": ["*"], "totalSum": true,
    });
    let answers = call(
        cfg,
        &[
            ("mailboxStatus", status.clone()),
            (
                "expunge",
                serde_json::json!({ "user": user, "query": ["mailbox", "*", "all"] }),
            ),
            ("mailboxStatus", status),
        ],
    )
    .await?;
    let mut it = answers.into_iter();
    let (Some(before), Some(expunged), Some(after)) = (it.next(), it.next(), it.next()) else {
        return Err("the mail plane's doveadm API answered too little".into());
    };
    match (before, expunged, after) {
        (Ok(b), Ok(_), Ok(a)) => Ok(Some((stored(&b), stored(&a)))),
        (Err(e), _, _) if e == "no such user" => Ok(None),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => Err(format!("doveadm: {e}")),
    }
}

/// Whether a kick answer names a disconnected user: Dovecot 2.3 answers
/// `[{"result": "user@example.com"}]` per user it disconnected, `[]` when none was connected.
fn count_kicked(v: &serde_json::Value) -> i64 {
    v.as_array().map(|a| a.len() as i64).unwrap_or(0)
}

/// The ACL group whose members may open `mailbox_id`'s folders with `access` (read or
/// read_write): the view `mail_shared_groups` puts a delegate in it (`'mw-' || folders || '-'
/// || mailbox_id`), the mailbox's ACL names it.
pub fn folder_group(access: crate::types::FolderAccess, mailbox_id: &str) -> String {
    format!("mw-{}-{mailbox_id}", access.as_str())
}

/// Rights in Dovecot's words: the owner all of them; readers may list, read and keep their
/// own `\Seen` flags; writers may also file, flag, expunge and make folders (never delete a
/// folder or change the ACL).
const READ_RIGHTS: &[&str] = &["lookup", "read", "write-seen"];
const WRITE_RIGHTS: &[&str] = &[
    "lookup",
    "read",
    "write",
    "write-seen",
    "write-deleted",
    "insert",
    "post",
    "expunge",
    "create",
];
/// What only the owner may do besides: delete folders and change the ACL.
const OWNER_ONLY_RIGHTS: &[&str] = &["delete", "admin"];

/// Makes `user`'s folders openable by the members of its two folder groups (`folder_group`):
/// sets the ACL of its INBOX, which every folder of it without an ACL of its own follows
/// (`acl_defaults_from_inbox`). The same ACL for every grant (who is a member comes from the
/// database), so setting it again changes nothing. `Err`: not configured, no answer, or
/// Dovecot refused (said how).
pub async fn share_folders(cfg: &Config, user: &str, mailbox_id: &str) -> Result<(), String> {
    use crate::types::FolderAccess;
    let set = |id: String, rights: &[&str]| {
        (
            "aclSet",
            serde_json::json!({ "user": user, "mailbox": "INBOX", "id": id, "right": rights }),
        )
    };
    let owner: Vec<&str> = WRITE_RIGHTS
        .iter()
        .chain(OWNER_ONLY_RIGHTS)
        .copied()
        .collect();
    let commands = [
        set("owner".into(), &owner),
        set(
            format!("group={}", folder_group(FolderAccess::Read, mailbox_id)),
            READ_RIGHTS,
        ),
        set(
            format!(
                "group={}",
                folder_group(FolderAccess::ReadWrite, mailbox_id)
            ),
            WRITE_RIGHTS,
        ),
    ];
    for answer in call(cfg, &commands).await? {
        if let Err(e) = answer {
            return Err(format!("doveadm acl set: {e}"));
        }
    }
    Ok(())
}
