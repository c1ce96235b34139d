//! Identity: operators, invitations, sign-in with a second factor, sessions and API tokens.
use serde::{Deserialize, Serialize};

pub mod api;
#[cfg(feature = "ssr")]
pub mod http;
#[cfg(feature = "ssr")]
pub mod kinds;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod rest;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod sessions;
#[cfg(feature = "ssr")]
pub mod store;
#[cfg(feature = "ssr")]
pub mod web;

/// The console roles (defined with the shared vocabulary in `types`, because the gate in
/// `core::authz` decides on them too).
pub use crate::types::{AccountStatus, Role};

/// The signed-in person, as the layout shows them.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CurrentUser {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    /// The tenants this person may see; `None` means all of them.
    pub tenant_ids: Option<Vec<String>>,
    /// Incidents in force over those tenants (or the platform): the banner on every page,
    /// and what the gate freezes for this person.
    #[serde(default)]
    pub incidents: Vec<crate::types::ActiveIncident>,
}

/// A one-shot message shown after a form post (success or error).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Flash {
    pub kind: FlashKind,
    pub message: String,
    /// After an error: what the failed form carried, so the page shows it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typed: Option<Typed>,
    /// After an error about one field of the form: its name (the page shows the message
    /// next to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// A path without its one-time link token (`/activate/{token}`, `/invite/{token}/…`,
/// `/routing/confirm/{token}`): how such a path may be logged or kept in a session.
pub fn without_link_token(path: &str) -> String {
    for prefix in ["/activate/", "/invite/", "/routing/confirm/"] {
        if let Some(rest) = path.strip_prefix(prefix) {
            let tail = rest.find('/').map(|i| &rest[i..]).unwrap_or("");
            return format!("{prefix}…{tail}");
        }
    }
    path.to_string()
}

/// The fields a failed form post carried (never passwords, codes or secrets), and the form
/// they belong to: its `action` path without a link token ([`without_link_token`]: the
/// session never holds one). Pages read it through `ui::typed`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Typed {
    pub action: String,
    pub fields: Vec<(String, String)>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum FlashKind {
    Success,
    Error,
}

/// What every page gets: who is signed in and a pending flash message.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct Shell {
    pub user: Option<CurrentUser>,
    pub flash: Option<Flash>,
}

/// What a page's one server function returns: the shell (who, flash) and the page's data,
/// or the error to show in its place.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PageData<T> {
    pub shell: Shell,
    pub data: Result<T, String>,
}

/// An open invitation, as its accept page shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct InviteView {
    pub email: Option<String>,
    pub role: Role,
    pub expires_at: i64,
    /// The first owner's setup link (no inviter).
    pub is_setup: bool,
    /// A link that gives an existing account a new password and authenticator.
    #[serde(default)]
    pub recovering: bool,
    /// Step 2 of 3: password chosen, the authenticator is to be enrolled.
    pub totp: Option<TotpEnrolment>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TotpEnrolment {
    pub secret: String,
    pub otpauth_url: String,
    pub qr_data_url: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SessionView {
    pub handle: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub current: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// Limited to these tenants (ids) of the account's; none: all the account sees.
    #[serde(default)]
    pub tenant_ids: Option<Vec<String>>,
    /// Accepted only from these addresses or CIDR ranges; none: from anywhere.
    #[serde(default)]
    pub allow_from: Option<Vec<String>>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OperatorView {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    /// For tenant roles: the tenant's name.
    pub tenant: Option<String>,
    /// For operators limited to listed tenants: their ids (none = all tenants).
    #[serde(default)]
    pub tenant_ids: Option<Vec<String>>,
    pub status: AccountStatus,
    pub created_at: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct InviteRow {
    pub id: String,
    pub email: Option<String>,
    pub role: Role,
    pub tenant_id: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub delivery: String,
    pub revealed: bool,
}

/// A secret shown once on the next page view, then gone (API token, revealed invite link).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FreshSecret {
    pub label: String,
    pub value: String,
}
