//! Mailboxes: addresses in a tenant's domains, with a quota allocated from the tenant's
//! storage pool, and their lifecycle — provisioning by invitation (the operator never knows
//! the password), the owner's recovery codes and app passwords, resets (self-service with a
//! recovery code, or operator-initiated, governed for critical mailboxes) and offboarding
//! with a receipt.
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
pub mod http;
#[cfg(feature = "ssr")]
pub mod kinds;
pub mod me;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod rest;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod store;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Mailbox {
    pub id: String,
    pub tenant_id: String,
    pub domain_id: String,
    pub address: String,
    pub display_name: String,
    pub status: MailboxStatus,
    /// Allocation from the tenant's pool in bytes; none = unlimited within the pool.
    pub quota_bytes: Option<i64>,
    /// Bytes stored, as the mail plane reports it; none until it has reported.
    pub used_bytes: Option<i64>,
    /// Recovery address for registrars, billing, consoles…: resets need a second person.
    pub critical: bool,
    pub created_at: i64,
    /// The person's other address, where invitations and security notices go.
    pub contact_email: Option<String>,
    /// The operator an invitation link was revealed to, until the owner sets a password.
    pub invite_revealed_to: Option<String>,
    /// When the owner last set a password (none: never).
    pub password_set_at: Option<i64>,
    pub offboarded_at: Option<i64>,
    /// Offboarded with "keep mail for N days": when the mail plane deletes the mail.
    pub purge_after: Option<i64>,
    /// When its mail was deleted (after `purge_after`).
    pub purged_at: Option<i64>,
    /// A shared mailbox: nobody signs in to it; people reach it through delegation.
    #[serde(default)]
    pub shared: bool,
}

/// A mailbox in the cross-tenant list.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MailboxRow {
    pub mailbox: Mailbox,
    pub tenant_name: String,
    pub tenant_slug: String,
}

/// The mailbox list's query (all plain GET parameters).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct MailboxQuery {
    /// Part of the address or the person's name.
    #[serde(default)]
    pub q: String,
    /// `invited`, `active`, `locked`, `offboarded`; empty: all but offboarded.
    #[serde(default)]
    pub status: String,
    /// 1-based page of 100.
    #[serde(default)]
    pub page: i64,
}

pub use crate::types::MailboxStatus;
pub const MAILBOX_STATUSES: [&str; 4] = ["invited", "active", "locked", "offboarded"];
pub const MAILBOX_PAGE: i64 = 100;

/// What the activation page shows for an open link.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Activation {
    pub address: String,
    pub display_name: String,
    /// `provision` or `reset`.
    pub purpose: String,
    pub expires_at: i64,
}

/// A burst of password resets in one tenant (a dashboard alert).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ResetBurst {
    pub tenant_id: String,
    pub tenant_name: String,
    pub tenant_slug: String,
    pub resets: i64,
    pub minutes: i64,
}

/// A new mailbox, as a form or the API gives it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewMailbox {
    /// The full address (`ann@example.com`), or only the local part when `domain` is given.
    pub address: String,
    /// Domain id or name (optional when `address` is complete).
    #[serde(default)]
    pub domain: Option<String>,
    pub display_name: String,
    /// Allocation from the pool, e.g. `500 MB`, `2 GB`; empty = unlimited within the pool.
    #[serde(default)]
    pub quota: Option<String>,
    #[serde(default)]
    pub critical: bool,
    /// The person's current address: the invitation link is mailed there. Without outgoing
    /// mail (or without this address) the link can be revealed once instead.
    #[serde(default)]
    pub invite_to: Option<String>,
    /// A shared mailbox (info@, support@): nobody signs in to it, so no invitation and no
    /// password; active at once, reached through delegation.
    #[serde(default)]
    pub shared: bool,
}

/// Changes to a mailbox's details; a field left out stays as it is.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MailboxEdit {
    /// The person's name, 1 to 100 characters.
    #[serde(default)]
    pub display_name: Option<String>,
    /// The person's other address, where invitation and reset links and notices go; empty to
    /// remove it.
    #[serde(default)]
    pub contact_email: Option<String>,
    /// Allocation from the pool, e.g. `500 MB`, `2 GB`; empty = unlimited within the pool.
    #[serde(default)]
    pub quota: Option<String>,
    /// `true` marks the mailbox critical at once; `false` asks a second person (a change
    /// request, with `reason`).
    #[serde(default)]
    pub critical: Option<bool>,
    /// Why the mailbox should no longer be critical (4 to 500 characters).
    #[serde(default)]
    pub reason: Option<String>,
}

/// The open invitation link of a mailbox (never the link itself).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MailboxInvite {
    pub id: String,
    /// `provision` (first password) or `reset`.
    pub purpose: String,
    pub send_to: Option<String>,
    /// `email` or `reveal`.
    pub delivery: String,
    pub reason: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revealed_at: Option<i64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AppPassword {
    pub id: String,
    pub name: String,
    /// `imap`, `smtp` or both.
    pub protocols: Vec<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// False for app passwords made before the mail plane could find them (no selector):
    /// they open nothing; the owner should make a new one.
    pub works_for_mail: bool,
}

/// What offboarding a mailbox revokes (the confirmation lists it before, the receipt after).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Revocations {
    pub sign_in: bool,
    pub sessions: i64,
    pub app_passwords: i64,
    pub invites: i64,
    pub recovery_codes: i64,
    pub change_requests: i64,
    /// Routes from or to the mailbox (forwards out of it, aliases and catch-alls to it).
    pub routes: i64,
    /// Those routes by address, each with what becomes (preview) or became (receipt) of its
    /// mail.
    #[serde(default)]
    pub route_list: Vec<crate::types::MailboxRoute>,
    /// Delegations revoked, both ways (others sending as it, it sending as others).
    pub delegations: i64,
    /// Console accounts held by the same person (same address), disabled.
    pub accounts: Vec<String>,
    /// API tokens those accounts created, revoked.
    pub api_tokens: i64,
    /// "Convert to an alias": the request made, waiting for a second person's approval.
    #[serde(default)]
    pub alias_requested: Option<String>,
}

/// Offboarding option: keep the address as an alias to a colleague for some days (a
/// governed change: someone else approves it).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AliasRequest {
    /// The colleague's mailbox (address or id, same tenant).
    pub to: String,
    /// 1–90 days.
    pub days: i64,
}

/// An active alias of an address.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AliasView {
    pub address: String,
    pub target: String,
    pub expires_at: Option<i64>,
}

pub const MAX_ALIAS_DAYS: i64 = 90;

/// One check of the verification scan after offboarding.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ScanCheck {
    pub what: String,
    /// Still active after offboarding (0 = clean).
    pub remaining: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OffboardingReceipt {
    pub id: String,
    pub mailbox_id: String,
    pub address: String,
    pub tenant_id: String,
    pub by: String,
    pub at: i64,
    /// Days the mail is kept before the mail plane deletes it.
    pub keep_days: i64,
    pub reason: String,
    pub revoked: Revocations,
    pub scan: Vec<ScanCheck>,
    pub scan_clean: bool,
    pub scan_at: Option<i64>,
    /// The mail's deletion when the retention ended, as the mail plane reported it.
    pub purge: Option<Purged>,
}

/// The last day (UTC, `YYYY-MM-DD`) mail is kept when it is deleted at `purge_after`.
pub fn kept_until(purge_after: i64) -> String {
    chrono::DateTime::from_timestamp(purge_after - 1, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// What the retention purge found and left: messages and bytes in all folders before, and
/// messages left after (0 when it worked).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Purged {
    pub at: i64,
    pub messages: i64,
    pub bytes: i64,
    pub left: i64,
}

impl OffboardingReceipt {
    /// The receipt as a Markdown document (for download and for the record).
    pub fn to_markdown(&self) -> String {
        let r = &self.revoked;
        let when = |t: i64| {
            chrono::DateTime::from_timestamp(t, 0)
                .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                .unwrap_or_default()
        };
        let mut s = format!(
            "# Offboarding receipt — {}\n\n- Receipt: `{}`\n- Mailbox: `{}`\n- Offboarded by: {}\n\
             - At: {}\n- Reason: {}\n- Mail kept for: {} days, then deleted\n\n## Revoked\n\n\
             | What | Count |\n|---|---|\n| Sign-in (password) | {} |\n| Sessions | {} |\n\
             | App passwords | {} |\n| Open invitation links | {} |\n| Recovery codes | {} |\n\
             | Pending change requests | {} |\n| Aliases, catch-alls and forwards | {} |\n\
             | Delegations | {} |\n| Console accounts of the same person | {} |\n\
             | API tokens of those accounts | {} |\n{}",
            self.address,
            self.id,
            self.mailbox_id,
            self.by,
            when(self.at),
            self.reason,
            self.keep_days,
            if r.sign_in { "disabled" } else { "was not set" },
            r.sessions,
            r.app_passwords,
            r.invites,
            r.recovery_codes,
            r.change_requests,
            r.routes,
            r.delegations,
            if r.accounts.is_empty() {
                "0".to_string()
            } else {
                r.accounts.join(", ")
            },
            r.api_tokens,
            r.alias_requested
                .as_ref()
                .map(|a| format!("\nAlias requested: {a}\n"))
                .unwrap_or_default(),
        );
        if !r.route_list.is_empty() {
            s += "\n## Routes from or to the mailbox\n\n| Route | Kind | What became of its mail |\n|---|---|---|\n";
            for x in &r.route_list {
                s += &format!(
                    "| {} → {} | {} | {} |\n",
                    x.source,
                    x.targets.join(", "),
                    x.kind,
                    x.fate.replace('|', "/")
                );
            }
        }
        s += &format!(
            "\n## Verification scan{}\n\n| Check | Still active |\n|---|---|\n",
            self.scan_at
                .map(|t| format!(" ({})", when(t)))
                .unwrap_or_default()
        );
        for c in &self.scan {
            s += &format!("| {} | {} |\n", c.what, c.remaining);
        }
        s += if self.scan_clean {
            "\n**Result: clean** — nothing active remains for this mailbox.\n"
        } else {
            "\n**Result: NOT clean** — see the rows above.\n"
        };
        if let Some(p) = &self.purge {
            s += &format!(
                "\n## Mail deleted\n\n- At: {} (the retention ended)\n- Found in every folder: {} messages, {} bytes\n- Left after the deletion: {} messages\n",
                when(p.at),
                p.messages,
                p.bytes,
                p.left
            );
        }
        s
    }
}

/// A quota as a form shows it for editing: exact, so that saving the form unchanged
/// changes nothing ([`parse_quota`] reads it back to the same bytes).
pub fn quota_input(bytes: i64) -> String {
    if bytes % 1_000_000_000 == 0 {
        format!("{} GB", bytes / 1_000_000_000)
    } else {
        let mb = format!("{:.6}", bytes as f64 / 1e6);
        format!("{} MB", mb.trim_end_matches('0').trim_end_matches('.'))
    }
}

/// Parses a quota: `500 MB`, `2 GB`, `1.5GB`, `750` (MB); empty = none (within the pool).
/// Sizes are decimal (1 GB = 1,000,000,000 bytes), like the plans.
pub fn parse_quota(input: &str) -> Result<Option<i64>, String> {
    let s = input.trim().to_ascii_lowercase().replace(',', ".");
    if s.is_empty() {
        return Ok(None);
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let bad = || {
        format!(
            "“{}” is not a size. Write e.g. 500 MB or 2 GB.",
            input.trim()
        )
    };
    let n: f64 = num.trim().parse().map_err(|_| bad())?;
    let mult = match unit.trim() {
        "" | "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        _ => return Err(bad()),
    };
    let bytes = (n * mult).round();
    if !(1e6..=1e13).contains(&bytes) {
        return Err("A quota must be between 1 MB and 10 TB.".into());
    }
    Ok(Some(bytes as i64))
}

#[cfg(test)]
mod tests {
    #[test]
    fn quota_input_reads_back_exactly() {
        for b in [
            1_000_000,
            1_500_000_000,
            2_000_000_000,
            1_234_568,
            10_000_000_000_000,
            999_999_999,
        ] {
            assert_eq!(
                super::parse_quota(&super::quota_input(b)),
                Ok(Some(b)),
                "{b}"
            );
        }
    }

    use super::*;

    #[test]
    fn quotas() {
        assert_eq!(parse_quota(""), Ok(None));
        assert_eq!(parse_quota("500 MB"), Ok(Some(500_000_000)));
        assert_eq!(parse_quota("2GB"), Ok(Some(2_000_000_000)));
        assert_eq!(parse_quota("1,5 gb"), Ok(Some(1_500_000_000)));
        assert_eq!(parse_quota("750"), Ok(Some(750_000_000)));
        assert!(parse_quota("0").is_err());
        assert!(parse_quota("lots").is_err());
        assert!(parse_quota("5 PB").is_err());
    }
}

/// An outside service that uses a mailbox as its sign-in or recovery address ("email as
/// identity"): whoever holds the mailbox can take that account over.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Identity {
    pub id: String,
    pub mailbox_id: String,
    /// The mailbox's address.
    pub address: String,
    /// The service, as people name it ("Registrar account", "AWS root", "Bank").
    pub service: String,
    pub note: String,
    pub added_by: String,
    pub added_at: i64,
}

/// What `POST /api/v1/mailboxes/{id}/identities` and the forms take.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewIdentity {
    pub service: String,
    #[serde(default)]
    pub note: String,
}

/// A delegation: another mailbox of the same tenant may send as a mailbox (its address as
/// the sender, through submission, signed in as itself), open its folders over IMAP (under
/// `Shared/<address>/`), or both.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Delegation {
    /// The mailbox delegated.
    pub mailbox_id: String,
    pub address: String,
    /// The mailbox it is delegated to.
    pub delegate_id: String,
    pub delegate: String,
    /// The delegate may send as the mailbox.
    pub send_as: bool,
    /// What the delegate may do with the mailbox's folders.
    pub folders: crate::types::FolderAccess,
    pub created_at: i64,
    pub created_by: String,
}

impl Delegation {
    /// The rights in words: "send as, read folders".
    pub fn rights(&self) -> String {
        use crate::types::FolderAccess;
        let mut r = Vec::new();
        if self.send_as {
            r.push("send as");
        }
        match self.folders {
            FolderAccess::Read => r.push("read folders"),
            FolderAccess::ReadWrite => r.push("read and write folders"),
            FolderAccess::None => {}
        }
        r.join(", ")
    }
}

/// A mailbox's delegations both ways.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Delegations {
    /// Who was delegated this mailbox.
    pub delegates: Vec<Delegation>,
    /// The mailboxes delegated to this one.
    pub granted: Vec<Delegation>,
}

/// A delegation to grant: the delegate's address and its rights (at least one). `current`:
/// the owner's password, when a mailbox owner delegates their own mailbox (asked again, as
/// for app passwords: a stolen session alone must not open the mailbox to another).
#[derive(Clone, Debug, PartialEq)]
pub struct NewDelegation {
    pub delegate: String,
    pub send_as: bool,
    pub folders: crate::types::FolderAccess,
    pub current: Option<String>,
}

/// What `POST /api/v1/mailboxes/{id}/delegations` takes: the delegate's address, `folders`
/// (none, read, read_write; default none) and `send_as` (default: true when no folders are
/// asked for, false otherwise — a client asking for folders gets only folders).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct DelegationRequest {
    pub delegate: String,
    #[serde(default)]
    pub send_as: Option<bool>,
    #[serde(default)]
    pub folders: crate::types::FolderAccess,
}

impl From<DelegationRequest> for NewDelegation {
    fn from(r: DelegationRequest) -> Self {
        NewDelegation {
            send_as: r
                .send_as
                .unwrap_or(r.folders == crate::types::FolderAccess::None),
            delegate: r.delegate,
            folders: r.folders,
            current: None,
        }
    }
}

impl NewDelegation {
    /// Sending as the mailbox, nothing more.
    pub fn send_as(delegate: &str) -> Self {
        NewDelegation {
            delegate: delegate.into(),
            send_as: true,
            folders: crate::types::FolderAccess::None,
            current: None,
        }
    }
}

/// The console's delegation form: a checkbox is absent when not ticked, so sending is only
/// granted when `send_as` is present.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct DelegationForm {
    pub delegate: String,
    /// The owner's password (their own page only).
    #[serde(default)]
    pub current: Option<String>,
    #[serde(default)]
    pub send_as: Option<String>,
    #[serde(default)]
    pub folders: Option<String>,
}
