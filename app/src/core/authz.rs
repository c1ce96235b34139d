//! The one authorization gate. Every service function takes the acting [`Actor`]; it asks
//! [`authorize`] for a [`Granted`] proof, and mutating store functions require that proof,
//! so a write path that skipped the gate does not compile.
use serde::{Deserialize, Serialize};

use super::error::AppError;

pub use crate::auth::Role;

/// An API token's scopes narrow what its creator could do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read-only endpoints.
    Read,
    /// Mutating endpoints.
    Write,
    /// Reading and exporting the audit log.
    Audit,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Write, Scope::Audit];
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Audit => "audit",
        }
    }
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s.trim())
    }
}

#[derive(Clone, Debug)]
pub enum Principal {
    /// A signed-in person (browser session).
    User,
    /// An API token acting for the user who created it, narrowed by scopes.
    Token {
        token_id: String,
        scopes: Vec<Scope>,
    },
    /// Mailward itself (CLI, background jobs).
    System,
}

/// Who is acting, from where.
#[derive(Clone, Debug)]
pub struct Actor {
    pub principal: Principal,
    pub user_id: Option<String>,
    /// Human-readable label for audit rows (email, `token:NAME`, `system`).
    pub label: String,
    pub role: Option<Role>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Actor {
    pub fn system(label: &str) -> Actor {
        Actor {
            principal: Principal::System,
            user_id: None,
            label: label.to_string(),
            role: Some(Role::Owner),
            ip: None,
            user_agent: None,
        }
    }
    /// Someone not (yet) signed in: sign-in attempts, invite acceptance.
    pub fn anonymous(ip: Option<String>, user_agent: Option<String>) -> Actor {
        Actor {
            principal: Principal::System,
            user_id: None,
            label: "anonymous".to_string(),
            role: None,
            ip,
            user_agent,
        }
    }
    pub fn is_anonymous(&self) -> bool {
        self.role.is_none()
    }
}

/// Everything anyone can ask Mailward to do. Adding a variant forces a decision in
/// [`decide`] (and a row in the authz matrix test).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    ViewDashboard,
    ViewOperators,
    InviteOperator,
    RevealInvite,
    RevokeInvite,
    ViewAudit,
    ExportAudit,
    /// Own sessions, own tokens, own profile.
    ManageOwnAccount,
    CreateApiToken,
    ViewTenants,
    /// Create tenants, change their plan, suspend or resume them.
    ManageTenants,
    /// Add domains, change their status.
    ManageDomains,
    /// Edit the plan catalogue.
    ManagePlans,
}

impl Action {
    pub const ALL: [Action; 13] = [
        Action::ViewDashboard,
        Action::ViewOperators,
        Action::InviteOperator,
        Action::RevealInvite,
        Action::RevokeInvite,
        Action::ViewAudit,
        Action::ExportAudit,
        Action::ManageOwnAccount,
        Action::CreateApiToken,
        Action::ViewTenants,
        Action::ManageTenants,
        Action::ManageDomains,
        Action::ManagePlans,
    ];

    /// The API-token scope an action needs.
    pub fn scope(self) -> Scope {
        match self {
            Action::ViewAudit | Action::ExportAudit => Scope::Audit,
            Action::ViewDashboard | Action::ViewOperators | Action::ViewTenants => Scope::Read,
            Action::ManageTenants | Action::ManageDomains | Action::ManagePlans => Scope::Write,
            Action::InviteOperator
            | Action::RevealInvite
            | Action::RevokeInvite
            | Action::ManageOwnAccount
            | Action::CreateApiToken => Scope::Write,
        }
    }

    /// Actions an API token may never perform, whatever its scopes (secrets stay in the browser).
    fn browser_only(self) -> bool {
        matches!(self, Action::RevealInvite | Action::CreateApiToken)
    }
}

/// Pure role rule: may `role` perform `action` at all?
pub fn role_allows(role: Role, action: Action) -> bool {
    match role {
        Role::Owner => true,
        Role::Operator => !matches!(
            action,
            Action::InviteOperator
                | Action::RevealInvite
                | Action::RevokeInvite
                | Action::ManagePlans
        ),
    }
}

/// The decision as a pure function (unit-tested as a matrix).
pub fn decide(actor: &Actor, action: Action) -> bool {
    let Some(role) = actor.role else {
        return false;
    };
    if !role_allows(role, action) {
        return false;
    }
    match &actor.principal {
        Principal::User | Principal::System => true,
        Principal::Token { scopes, .. } => {
            !action.browser_only() && scopes.contains(&action.scope())
        }
    }
}

/// Proof that `actor` may perform `action`. Only [`authorize`] makes one.
#[derive(Debug)]
pub struct Granted<'a> {
    pub actor: &'a Actor,
    pub action: Action,
    _private: (),
}

pub fn authorize(actor: &Actor, action: Action) -> Result<Granted<'_>, AppError> {
    if actor.is_anonymous() {
        return Err(AppError::Unauthorized("sign in first".into()));
    }
    if decide(actor, action) {
        Ok(Granted {
            actor,
            action,
            _private: (),
        })
    } else {
        Err(AppError::Forbidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role) -> Actor {
        Actor {
            principal: Principal::User,
            user_id: Some("usr_1".into()),
            label: "x".into(),
            role: Some(role),
            ip: None,
            user_agent: None,
        }
    }

    #[test]
    fn authz_matrix() {
        for action in Action::ALL {
            assert!(decide(&user(Role::Owner), action), "owner {action:?}");
            let op = decide(&user(Role::Operator), action);
            // Written out per action: a new action must get a row here.
            let expected = match action {
                Action::ViewDashboard
                | Action::ViewOperators
                | Action::ViewAudit
                | Action::ExportAudit
                | Action::ManageOwnAccount
                | Action::CreateApiToken
                | Action::ViewTenants
                | Action::ManageTenants
                | Action::ManageDomains => true,
                Action::InviteOperator
                | Action::RevealInvite
                | Action::RevokeInvite
                | Action::ManagePlans => false,
            };
            assert_eq!(op, expected, "operator {action:?}");
            assert!(!decide(&Actor::anonymous(None, None), action));
            assert!(authorize(&Actor::anonymous(None, None), action).is_err());
        }
    }

    #[test]
    fn tokens_are_narrowed_by_scope() {
        let mut a = user(Role::Owner);
        a.principal = Principal::Token {
            token_id: "t".into(),
            scopes: vec![Scope::Read],
        };
        assert!(decide(&a, Action::ViewDashboard));
        assert!(!decide(&a, Action::ViewAudit));
        assert!(!decide(&a, Action::InviteOperator));
        a.principal = Principal::Token {
            token_id: "t".into(),
            scopes: Scope::ALL.to_vec(),
        };
        assert!(decide(&a, Action::ViewAudit));
        assert!(
            !decide(&a, Action::CreateApiToken),
            "tokens never mint tokens"
        );
        assert!(
            !decide(&a, Action::RevealInvite),
            "tokens never see invite links"
        );
    }
}
