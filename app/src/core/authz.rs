//! The one authorization gate. Every service function takes the acting [`Actor`]; it asks
//! [`authorize`] for a [`Granted`] proof, and mutating store functions require that proof,
//! so a write path that skipped the gate does not compile.
use serde::{Deserialize, Serialize};

use super::error::AppError;

pub use crate::types::{ActiveIncident, Role};

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
        /// Limited to some of its account's tenants: no platform-wide action
        /// ([`Action::platform_wide`]).
        tenant_limited: bool,
    },
    /// Mailward itself (CLI, background jobs).
    System,
    /// The owner of one mailbox, signed in to their self-service area.
    Mailbox { mailbox_id: String },
}

/// Which tenants an actor may see and act on.
#[derive(Clone, Debug, PartialEq)]
pub enum TenantScope {
    All,
    Only(Vec<String>),
}

impl TenantScope {
    pub fn contains(&self, tenant_id: &str) -> bool {
        match self {
            TenantScope::All => true,
            TenantScope::Only(ids) => ids.iter().any(|t| t == tenant_id),
        }
    }
    pub fn from_ids(ids: Option<Vec<String>>) -> Self {
        ids.map(TenantScope::Only).unwrap_or(TenantScope::All)
    }
    /// This scope narrowed to `limit` (a token's tenants), when there is one.
    pub fn narrowed(self, limit: Option<&[String]>) -> Self {
        match (self, limit) {
            (s, None) => s,
            (TenantScope::All, Some(l)) => TenantScope::Only(l.to_vec()),
            (TenantScope::Only(ids), Some(l)) => {
                TenantScope::Only(ids.into_iter().filter(|t| l.contains(t)).collect())
            }
        }
    }
}

/// Who is acting, from where.
#[derive(Clone, Debug)]
pub struct Actor {
    pub principal: Principal,
    pub user_id: Option<String>,
    /// Human-readable label for audit rows (email, `token:NAME`, `system`).
    pub label: String,
    pub role: Option<Role>,
    pub tenants: TenantScope,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The incidents in force over the actor's tenants (loaded with the actor, per request):
    /// [`authorize`] refuses what they freeze ([`Action::frozen`]).
    pub incidents: Vec<ActiveIncident>,
    /// Private: an `Actor` cannot be written as a struct literal outside this module, so
    /// every actor comes from a constructor below — the system's, the anonymous one, or
    /// [`Actor::signed_in`], which only the authentication code calls (a test keeps it so).
    _sealed: (),
}

impl Actor {
    pub fn system(label: &str) -> Actor {
        Actor {
            principal: Principal::System,
            user_id: None,
            label: label.to_string(),
            role: Some(Role::Owner),
            tenants: TenantScope::All,
            ip: None,
            user_agent: None,
            incidents: Vec::new(),
            _sealed: (),
        }
    }
    /// Someone authentication vouched for: a console user (session), an API token's user, or
    /// a mailbox owner. Called only by `auth` (sessions, tokens, invitations) and the mailbox
    /// owner's sign-in; `tests/it/ownership.rs` fails if anything else calls it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn signed_in(
        principal: Principal,
        user_id: Option<String>,
        label: String,
        role: Option<Role>,
        tenants: TenantScope,
        ip: Option<String>,
        user_agent: Option<String>,
    ) -> Actor {
        Actor {
            principal,
            user_id,
            label,
            role,
            tenants,
            ip,
            user_agent,
            incidents: Vec::new(),
            _sealed: (),
        }
    }
    /// The same actor under the incidents in force over its tenants (authentication loads
    /// them with the actor: `incidents::service::in_force`).
    pub fn under(mut self, incidents: Vec<ActiveIncident>) -> Actor {
        self.incidents = incidents;
        self
    }
    /// Test fixtures only (the `test-support` feature, enabled by the test crate; the
    /// `mailward` binary is built without it).
    #[cfg(feature = "test-support")]
    #[allow(clippy::too_many_arguments)]
    pub fn for_tests(
        principal: Principal,
        user_id: Option<String>,
        label: String,
        role: Option<Role>,
        tenants: TenantScope,
        ip: Option<String>,
    ) -> Actor {
        Actor::signed_in(principal, user_id, label, role, tenants, ip, None)
    }
    /// Someone not (yet) signed in: sign-in attempts, invite acceptance.
    pub fn anonymous(ip: Option<String>, user_agent: Option<String>) -> Actor {
        Actor {
            principal: Principal::System,
            user_id: None,
            label: "anonymous".to_string(),
            role: None,
            tenants: TenantScope::Only(vec![]),
            ip,
            user_agent,
            incidents: Vec::new(),
            _sealed: (),
        }
    }
    pub fn is_anonymous(&self) -> bool {
        self.role.is_none() && self.mailbox_id().is_none()
    }
    /// The one tenant of an actor confined to exactly one (tenant roles, mailbox owners).
    pub fn tenants_one(&self) -> Option<String> {
        match &self.tenants {
            TenantScope::Only(ids) if ids.len() == 1 => Some(ids[0].clone()),
            _ => None,
        }
    }
    /// The mailbox whose owner this is, for a mailbox owner.
    pub fn mailbox_id(&self) -> Option<&str> {
        match &self.principal {
            Principal::Mailbox { mailbox_id } => Some(mailbox_id),
            _ => None,
        }
    }
}

/// Everything anyone can ask Mailward to do. Adding a variant forces a decision in
/// [`decide`] (and a row in the authz matrix test).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    ViewDashboard,
    ViewOperators,
    /// Invite operators and decide which tenants each may see.
    ManageOperators,
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
    /// Invite tenant admins and client viewers to a tenant.
    InviteTenantUser,
    /// Create mailboxes, (re)send their invitations, reset, lock and offboard them.
    ManageMailboxes,
    /// Approve or reject someone else's change request.
    ApproveChanges,
    /// A mailbox owner's own password, recovery codes and app passwords.
    ManageOwnMailbox,
    /// Activate a domain whose DNS challenge was not seen, giving a reason (owners only).
    OverrideVerification,
    /// Edit the DNS baseline templates of the domain categories (owners only).
    ManageDnsBaselines,
    /// See the alerts of one's tenants (platform-wide ones: owners and operators).
    ViewAlerts,
    /// Acknowledge and resolve alerts.
    ManageAlerts,
    /// Reset a mailbox's password (send a reset link); "lock now" alone is [`Action::ManageMailboxes`].
    ResetMailbox,
    /// Ask for or change a route (alias, forward, catch-all) or a tenant's routing policy.
    ChangeRouting,
    /// Ask for a DNS change (one record set or a bulk plan) or change where a zone is managed.
    ChangeDns,
    /// Import mailboxes from a file.
    ImportMailboxes,
    /// Declare incidents, end them (a second person), revoke access in one step.
    ManageIncidents,
    /// Read incidents (everyone concerned sees the banner; this is the incident itself).
    ViewIncidents,
    /// A mailbox owner asks for a forward of their own mailbox (only mailbox owners).
    ChangeOwnRouting,
    /// Set, test or remove a tenant's own outgoing SMTP relay (all its outside mail leaves
    /// through it: frozen during an incident).
    ManageRelay,
    /// Let another mailbox send as a mailbox or open its folders, or take that away (a way
    /// to keep access: frozen during an incident).
    DelegateMailbox,
    /// A mailbox owner delegates their own mailbox to another of its tenant, or takes that
    /// away (only mailbox owners; frozen during an incident).
    DelegateOwnMailbox,
}

impl Action {
    pub const ALL: [Action; 31] = [
        Action::ViewDashboard,
        Action::ViewOperators,
        Action::ManageOperators,
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
        Action::InviteTenantUser,
        Action::ManageMailboxes,
        Action::ApproveChanges,
        Action::ManageOwnMailbox,
        Action::OverrideVerification,
        Action::ManageDnsBaselines,
        Action::ViewAlerts,
        Action::ManageAlerts,
        Action::ResetMailbox,
        Action::ChangeRouting,
        Action::ChangeDns,
        Action::ImportMailboxes,
        Action::ManageIncidents,
        Action::ViewIncidents,
        Action::ChangeOwnRouting,
        Action::ManageRelay,
        Action::DelegateMailbox,
        Action::DelegateOwnMailbox,
    ];

    /// What an incident in force freezes: the operations an intruder uses to get in or stay
    /// in (resets, invite links, routing and DNS changes, new access, API tokens, imports,
    /// approvals, the DNS baselines). Protective operations — lock, revoke, disable, offboard,
    /// roll back, restore — are other actions, or pass [`authorize_protective_in`].
    pub fn frozen(self) -> bool {
        use Action::*;
        matches!(
            self,
            RevealInvite
                | CreateApiToken
                | ManageOperators
                | InviteTenantUser
                | ApproveChanges
                | ManageDnsBaselines
                | ResetMailbox
                | ChangeRouting
                | ChangeOwnRouting
                | ChangeDns
                | ImportMailboxes
                | ManageRelay
                | DelegateMailbox
                | DelegateOwnMailbox
        )
    }

    /// The API-token scope an action needs.
    pub fn scope(self) -> Scope {
        match self {
            Action::ViewAudit | Action::ExportAudit => Scope::Audit,
            Action::ViewDashboard
            | Action::ViewOperators
            | Action::ViewTenants
            | Action::ViewAlerts
            | Action::ViewIncidents => Scope::Read,
            Action::ManageTenants
            | Action::ManageDomains
            | Action::ManagePlans
            | Action::InviteTenantUser
            | Action::ManageMailboxes
            | Action::ApproveChanges
            | Action::ManageOwnMailbox
            | Action::OverrideVerification
            | Action::ManageDnsBaselines
            | Action::ManageAlerts
            | Action::ResetMailbox
            | Action::ChangeRouting
            | Action::ChangeDns
            | Action::ImportMailboxes
            | Action::ManageIncidents
            | Action::ChangeOwnRouting
            | Action::ManageRelay
            | Action::DelegateMailbox
            | Action::DelegateOwnMailbox => Scope::Write,
            Action::ManageOperators
            | Action::RevealInvite
            | Action::RevokeInvite
            | Action::ManageOwnAccount
            | Action::CreateApiToken => Scope::Write,
        }
    }

    /// Actions an API token may never perform, whatever its scopes (secrets stay in the browser).
    /// About the whole platform rather than one tenant: refused to a tenant-limited token.
    pub fn platform_wide(self) -> bool {
        matches!(
            self,
            Action::ViewOperators
                | Action::ManageOperators
                | Action::ManageTenants
                | Action::ManagePlans
                | Action::ManageDnsBaselines
        )
    }

    fn browser_only(self) -> bool {
        matches!(
            self,
            Action::RevealInvite
                | Action::CreateApiToken
                | Action::ManageOwnMailbox
                | Action::ChangeOwnRouting
                | Action::DelegateOwnMailbox
        )
    }

    /// What only a mailbox's owner does, about their own mailbox (never a console role).
    pub fn owners_own(self) -> bool {
        matches!(
            self,
            Action::ManageOwnMailbox | Action::ChangeOwnRouting | Action::DelegateOwnMailbox
        )
    }
}

/// Pure role rule: may `role` perform `action` at all? (Which tenant is decided by the
/// actor's [`TenantScope`] in [`authorize_in`].)
pub fn role_allows(role: Role, action: Action) -> bool {
    use Action::*;
    if action.owners_own() {
        // Only a mailbox's owner, never a console role (see `decide`).
        return false;
    }
    match role {
        Role::Owner => true,
        // Operators run the platform but do not manage its operators or price list.
        // Nor do they vouch for a domain's DNS without proof, or change the DNS baselines.
        // Owners and operators declare and end incidents.
        Role::Operator => !matches!(
            action,
            ManageOperators | ManagePlans | OverrideVerification | ManageDnsBaselines
        ),
        // A tenant admin manages the domains of their tenant, never its plan or limits.
        Role::TenantAdmin => matches!(
            action,
            ViewDashboard
                | ViewTenants
                | ManageDomains
                | ManageMailboxes
                | ApproveChanges
                | ViewAudit
                | ExportAudit
                | ManageOwnAccount
                | CreateApiToken
                | ViewAlerts
                | ManageAlerts
                | ResetMailbox
                | ChangeRouting
                | ChangeDns
                | ImportMailboxes
                | ViewIncidents
                | ManageRelay
                | DelegateMailbox
        ),
        // A client viewer reads; the only thing they change is their own sign-ins. (Alerts:
        // only those of a tenant that shows them to its viewers — the monitoring store.)
        Role::ClientViewer => matches!(
            action,
            ViewDashboard | ViewTenants | ViewAudit | ExportAudit | ManageOwnAccount | ViewAlerts
        ),
    }
}

/// The decision as a pure function (unit-tested as a matrix).
pub fn decide(actor: &Actor, action: Action) -> bool {
    if actor.mailbox_id().is_some() {
        return action.owners_own();
    }
    let Some(role) = actor.role else {
        return false;
    };
    if !role_allows(role, action) {
        return false;
    }
    match &actor.principal {
        Principal::User | Principal::System => true,
        Principal::Mailbox { .. } => false,
        Principal::Token {
            scopes,
            tenant_limited,
            ..
        } => {
            !action.browser_only()
                && scopes.contains(&action.scope())
                && !(*tenant_limited && action.platform_wide())
        }
    }
}

/// Proof that `actor` may perform `action`, and where: in one tenant ([`authorize_in`]) or in
/// the actor's tenants ([`authorize`]). Only these two make one. Mutating store functions take
/// the proof and check the tenant they write in against it ([`Granted::check`]), so a write
/// path that skipped the gate does not compile, and one authorized for another tenant fails.
#[derive(Debug)]
pub struct Granted<'a> {
    pub actor: &'a Actor,
    pub action: Action,
    /// The one tenant this was granted in, if it was granted for one.
    tenant: Option<String>,
    _private: (),
}

impl Granted<'_> {
    /// The tenant the proof was granted in ([`authorize_in`]); none when it was granted for
    /// the actor's tenants.
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }
    /// Whether the proof covers an object of `tenant_id`.
    pub fn covers(&self, tenant_id: &str) -> bool {
        match &self.tenant {
            Some(t) => t == tenant_id,
            None => self.actor.tenants.contains(tenant_id),
        }
    }
    /// Refuses (403) a proof granted for another action than those a store function serves.
    pub fn require(&self, any_of: &[Action]) -> Result<(), AppError> {
        if any_of.contains(&self.action) {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }
    /// Refuses (as not found: no existence leak) an object outside the proof's scope.
    pub fn check(&self, tenant_id: &str) -> Result<(), AppError> {
        if self.covers(tenant_id) {
            Ok(())
        } else {
            Err(AppError::NotFound)
        }
    }
}

/// Authorizes an action on one tenant's objects. Outside the actor's scope the object does
/// not exist for them (404, no existence leak); inside it, the role decides (403).
pub fn authorize_in<'a>(
    actor: &'a Actor,
    action: Action,
    tenant_id: &str,
) -> Result<Granted<'a>, AppError> {
    if actor.is_anonymous() {
        return Err(AppError::Unauthorized("sign in first".into()));
    }
    let mut g = authorize_protective_in(actor, action, tenant_id)?;
    if action.frozen() {
        if let Some(i) = actor.incidents.iter().find(|i| i.covers(tenant_id)) {
            return Err(frozen_by(i));
        }
    }
    g.tenant = Some(tenant_id.to_string());
    Ok(g)
}

/// Like [`authorize_in`], for a protective use of a frozen action that an incident must not
/// stop: approving a rollback or a restore of the known-good state, ending an incident.
pub fn authorize_protective_in<'a>(
    actor: &'a Actor,
    action: Action,
    tenant_id: &str,
) -> Result<Granted<'a>, AppError> {
    if actor.is_anonymous() {
        return Err(AppError::Unauthorized("sign in first".into()));
    }
    if !actor.tenants.contains(tenant_id) {
        return Err(AppError::NotFound);
    }
    let mut g = decided(actor, action)?;
    g.tenant = Some(tenant_id.to_string());
    Ok(g)
}

/// Like [`authorize`], for a protective use that an incident must not stop (revoking an
/// invitation, reading what a frozen action would show).
pub fn authorize_protective(actor: &Actor, action: Action) -> Result<Granted<'_>, AppError> {
    decided(actor, action)
}

/// Authorizes an action in the actor's tenants. A frozen action is refused while any
/// incident holds over them (which tenant it will touch is not known yet).
pub fn authorize(actor: &Actor, action: Action) -> Result<Granted<'_>, AppError> {
    let g = decided(actor, action)?;
    if action.frozen() {
        if let Some(i) = actor.incidents.first() {
            return Err(frozen_by(i));
        }
    }
    Ok(g)
}

/// The refusal that names the incident.
fn frozen_by(i: &ActiveIncident) -> AppError {
    AppError::Frozen(format!(
        "Frozen by {} (declared {}): resets, invite links, routing and DNS changes, new access, \
         API tokens, imports and approvals wait until it ends. Locking, revoking, offboarding, \
         rollbacks and restores still work.",
        i.name(),
        crate::core::clock::format_utc(i.declared_at),
    ))
}

fn decided(actor: &Actor, action: Action) -> Result<Granted<'_>, AppError> {
    if actor.is_anonymous() {
        return Err(AppError::Unauthorized("sign in first".into()));
    }
    if decide(actor, action) {
        Ok(Granted {
            actor,
            action,
            tenant: None,
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
            tenants: if role.is_tenant_role() {
                TenantScope::Only(vec!["ten_a".into()])
            } else {
                TenantScope::All
            },
            ip: None,
            user_agent: None,
            incidents: Vec::new(),
            _sealed: (),
        }
    }

    /// Every action × every role × own tenant / other tenant. Written out row by row: a new
    /// action fails to compile here until someone decides its row.
    #[test]
    fn authz_matrix() {
        use Action::*;
        // (owner, operator, tenant admin, client viewer)
        let row = |a: Action| -> [bool; 4] {
            match a {
                ViewDashboard => [true, true, true, true],
                ViewOperators => [true, true, false, false],
                ManageOperators => [true, false, false, false],
                RevealInvite => [true, true, false, false],
                RevokeInvite => [true, true, false, false],
                ViewAudit => [true, true, true, true],
                ExportAudit => [true, true, true, true],
                ManageOwnAccount => [true, true, true, true],
                CreateApiToken => [true, true, true, false],
                ViewTenants => [true, true, true, true],
                ManageTenants => [true, true, false, false],
                ManageDomains => [true, true, true, false],
                ManagePlans => [true, false, false, false],
                InviteTenantUser => [true, true, false, false],
                ManageMailboxes => [true, true, true, false],
                ApproveChanges => [true, true, true, false],
                ManageOwnMailbox => [false, false, false, false],
                OverrideVerification => [true, false, false, false],
                ManageDnsBaselines => [true, false, false, false],
                // Client viewers: not until a tenant may choose to show them its alerts.
                ViewAlerts => [true, true, true, true],
                ManageAlerts => [true, true, true, false],
                ResetMailbox => [true, true, true, false],
                ChangeRouting => [true, true, true, false],
                ChangeDns => [true, true, true, false],
                ImportMailboxes => [true, true, true, false],
                ManageIncidents => [true, true, false, false],
                ViewIncidents => [true, true, true, false],
                ChangeOwnRouting => [false, false, false, false],
                ManageRelay => [true, true, true, false],
                DelegateMailbox => [true, true, true, false],
                DelegateOwnMailbox => [false, false, false, false],
            }
        };
        for action in Action::ALL {
            let expected = row(action);
            for (i, role) in Role::ALL.into_iter().enumerate() {
                let a = user(role);
                assert_eq!(decide(&a, action), expected[i], "{role:?} {action:?}");
                // Own tenant: the role decides.
                assert_eq!(
                    authorize_in(&a, action, "ten_a").is_ok(),
                    expected[i],
                    "{role:?} {action:?} own tenant"
                );
                // Another tenant: invisible to tenant roles (404), whatever the action.
                let other = authorize_in(&a, action, "ten_b");
                if role.is_tenant_role() {
                    assert!(
                        matches!(other, Err(AppError::NotFound)),
                        "{role:?} {action:?} other tenant"
                    );
                } else {
                    assert_eq!(other.is_ok(), expected[i]);
                }
            }
            // The proof carries its tenant and covers nothing else.
            if let Ok(g) = authorize_in(&user(Role::Owner), action, "ten_a") {
                assert_eq!(g.tenant(), Some("ten_a"));
                assert!(g.check("ten_a").is_ok());
                assert!(matches!(g.check("ten_b"), Err(AppError::NotFound)));
            }
            assert!(!decide(&Actor::anonymous(None, None), action));
            assert!(authorize(&Actor::anonymous(None, None), action).is_err());
        }
    }

    #[test]
    fn client_viewers_change_nothing_but_their_own_sign_ins() {
        let v = user(Role::ClientViewer);
        for action in Action::ALL {
            if decide(&v, action) {
                assert!(
                    action.scope() != Scope::Write || action == Action::ManageOwnAccount,
                    "client viewer may {action:?}"
                );
            }
        }
    }

    #[test]
    fn mailbox_owners_manage_only_their_own_mailbox() {
        let owner = Actor {
            principal: Principal::Mailbox {
                mailbox_id: "mbx_1".into(),
            },
            user_id: None,
            label: "ann@example.com".into(),
            role: None,
            tenants: TenantScope::Only(vec!["ten_a".into()]),
            ip: None,
            user_agent: None,
            incidents: Vec::new(),
            _sealed: (),
        };
        assert!(!owner.is_anonymous());
        for action in Action::ALL {
            assert_eq!(
                decide(&owner, action),
                matches!(
                    action,
                    Action::ManageOwnMailbox
                        | Action::ChangeOwnRouting
                        | Action::DelegateOwnMailbox
                ),
                "{action:?}"
            );
        }
        assert!(matches!(
            authorize_in(&owner, Action::ManageOwnMailbox, "ten_b"),
            Err(AppError::NotFound)
        ));
    }

    #[test]
    fn an_incident_freezes_its_tenant_only_and_names_itself() {
        let inc = |tenant: Option<&str>| ActiveIncident {
            id: "inc_1".into(),
            tenant_id: tenant.map(str::to_string),
            tenant_name: tenant.map(|_| "Acme".to_string()),
            title: "Operator takeover".into(),
            since_at: 0,
            declared_at: 0,
        };
        let op = user(Role::Operator).under(vec![inc(Some("ten_a"))]);
        for action in Action::ALL {
            if !decide(&op, action) {
                continue;
            }
            let here = authorize_in(&op, action, "ten_a");
            if action.frozen() {
                match here {
                    Err(AppError::Frozen(m)) => {
                        assert!(m.contains("Operator takeover") && m.contains("Acme"), "{m}")
                    }
                    other => panic!("{action:?} in the frozen tenant: {other:?}"),
                }
                // Not knowing the tenant, the gate refuses while any incident holds.
                assert!(matches!(authorize(&op, action), Err(AppError::Frozen(_))));
                // A protective use passes.
                assert!(authorize_protective_in(&op, action, "ten_a").is_ok());
            } else {
                assert!(here.is_ok(), "{action:?} is not frozen");
            }
            // Another tenant is not frozen.
            assert!(
                authorize_in(&op, action, "ten_b").is_ok(),
                "{action:?} other tenant"
            );
        }
        // A platform incident freezes every tenant.
        let op = user(Role::Operator).under(vec![inc(None)]);
        assert!(matches!(
            authorize_in(&op, Action::ResetMailbox, "ten_b"),
            Err(AppError::Frozen(m)) if m.contains("platform incident")
        ));
        assert!(authorize_in(&op, Action::ManageMailboxes, "ten_b").is_ok());
        // The protective side: locking/offboarding (ManageMailboxes) and handling incidents
        // are never frozen.
        assert!(!Action::ManageMailboxes.frozen());
        assert!(!Action::ManageIncidents.frozen());
    }

    #[test]
    fn tokens_are_narrowed_by_scope() {
        let mut a = user(Role::Owner);
        a.principal = Principal::Token {
            token_id: "t".into(),
            scopes: vec![Scope::Read],
            tenant_limited: false,
        };
        assert!(decide(&a, Action::ViewDashboard));
        assert!(!decide(&a, Action::ViewAudit));
        assert!(!decide(&a, Action::ManageOperators));
        a.principal = Principal::Token {
            token_id: "t".into(),
            scopes: Scope::ALL.to_vec(),
            tenant_limited: false,
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
