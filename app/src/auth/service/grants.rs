//! Access given to people, as governed changes. Taking access away applies at once (and is
//! protective: it stays allowed during an incident); giving more waits for a second person:
//!
//! - `person.role` ([`RoleKind`]): an operator made owner, a client viewer made tenant admin.
//!   The way back down applies at once, except that the last active owner keeps the role.
//! - `person.scope` ([`ScopeKind`]): an operator's tenant list widened (or opened to every
//!   tenant). Narrowing applies at once.
//! - `person.factor_reset` ([`FactorResetKind`]): a reset of someone else's second factor.
//!   Approving it mails the person a one-time link to set a new password and authenticator;
//!   their current ones keep working until the link is used, so a rollback (the link
//!   withdrawn) loses nothing.
//!
//! A request about the platform's people (owners, operators) belongs to no tenant and is
//! decided by another owner (`ManageOperators`); one about a tenant's people is decided by
//! whoever may invite people to that tenant (`InviteTenantUser`). A request that nobody else
//! could decide is refused at once, with the way out. The server's command line can make the
//! first additional owner (`mailward owner promote`), audited with the host user.
#[allow(unused_imports)]
use super::*;
use serde_json::{json, Value};

use crate::changes::service::{self as changes, NewChange};
use crate::core::db::Tx;
use crate::core::mailer::Mail;
use crate::core::registry::{Applied, ChangeKind};
use crate::types::ChangeRequest;

pub const ROLE_KIND: &str = "person.role";
pub const SCOPE_KIND: &str = "person.scope";
pub const FACTOR_RESET_KIND: &str = "person.factor_reset";

/// What a grant did: applied at once, or queued for a second person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GrantOutcome {
    /// One sentence saying what happened.
    pub message: String,
    /// The change request that waits for another person's approval, when the grant needs one.
    pub change_request: Option<String>,
}

impl GrantOutcome {
    fn done(message: String) -> Self {
        GrantOutcome {
            message,
            change_request: None,
        }
    }
}

/// The person (never oneself) and the proof to act on them.
async fn other_person<'a>(
    st: &AppState,
    actor: &'a Actor,
    user_id: &str,
    protective: bool,
    own: &str,
) -> AppResult<(store::UserRow, Granted<'a>, Option<String>)> {
    let user = store::user_by_id(&st.db, user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let (g, tenant) = proof_for(st, actor, &user, protective).await?;
    if actor.user_id.as_deref() == Some(user.id.as_str()) {
        return Err(AppError::Conflict(own.into()));
    }
    Ok((user, g, tenant))
}

/// Refuses a second request of the same kind about the same person while one waits, and a
/// request nobody but the requester and the person could decide.
async fn can_be_decided(
    st: &AppState,
    actor: &Actor,
    user: &store::UserRow,
    kind: &str,
    tenant: Option<&str>,
) -> AppResult<()> {
    let waiting = changes::list(st, actor, changes::Filter::Target(&user.id))
        .await?
        .into_iter()
        .find(|c| c.kind == kind && c.state == crate::changes::ChangeState::Pending);
    if let Some(c) = waiting {
        return Err(AppError::Conflict(format!(
            "A request of this kind about {} already waits for approval ({}).",
            user.email, c.id
        )));
    }
    let mut ids = vec![user.id.as_str()];
    if let Some(me) = actor.user_id.as_deref() {
        ids.push(me);
    }
    if store::deciders_besides(&st.db, &ids, tenant).await? == 0 {
        return Err(AppError::Conflict(match tenant {
            None => "Nobody else could approve this: it needs another active owner. On the \
                     server, `mailward owner promote --email …` makes an operator an owner \
                     (recorded with the host user)."
                .into(),
            Some(_) => "Nobody else could approve this: it needs another owner, or an operator \
                        who sees this tenant. Invite one first."
                .into(),
        }));
    }
    Ok(())
}

async fn queue(
    st: &AppState,
    g: &Granted<'_>,
    tenant: Option<&str>,
    kind: &str,
    user: &store::UserRow,
    payload: Value,
    before: Value,
    reason: &str,
) -> AppResult<String> {
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let id = changes::submit(
        st,
        &mut tx,
        g,
        NewChange {
            tenant_id: tenant,
            kind,
            target_id: &user.id,
            target_label: &user.email,
            payload,
            before,
            rollback: None,
            reason,
        },
        None,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

fn is_elevation(from: Role, to: Role) -> bool {
    matches!(
        (from, to),
        (Role::Operator, Role::Owner) | (Role::ClientViewer, Role::TenantAdmin)
    )
}

/// Changes a person's role within its family (owner/operator, tenant admin/client viewer).
/// Making someone an owner or a tenant admin is a change request (a reason, another
/// person's approval); the way down applies at once — never for the last active owner.
pub async fn set_role(
    st: &AppState,
    actor: &Actor,
    user_id: &str,
    role: Role,
    reason: Option<&str>,
) -> AppResult<GrantOutcome> {
    let found = store::user_by_id(&st.db, user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let elevation = is_elevation(found.role, role);
    let (user, g, tenant) = other_person(
        st,
        actor,
        user_id,
        !elevation,
        "You cannot change your own role: ask another owner.",
    )
    .await?;
    if user.role.is_tenant_role() != role.is_tenant_role() {
        return Err(AppError::invalid(format!(
            "{} is {}: a tenant's people and the platform's operators are separate accounts. \
             Invite the person with the other role instead.",
            user.email,
            user.role.label().to_lowercase()
        )));
    }
    if user.role == role {
        return Err(AppError::invalid(format!(
            "{} is {} already.",
            user.email,
            role.label().to_lowercase()
        )));
    }
    let label = role.label().to_lowercase();
    if elevation {
        if user.status != "active" {
            return Err(AppError::Conflict(format!(
                "{} is disabled: enable the account before giving it more access.",
                user.email
            )));
        }
        let reason = AppError::reason_for(reason, &format!("for making {} {label}", user.email))?;
        can_be_decided(st, actor, &user, ROLE_KIND, tenant.as_deref()).await?;
        let mut conn = st.db.pool().acquire().await?;
        let scope = store::scope_in(&mut *conn, &user).await?;
        drop(conn);
        let id = queue(
            st,
            &g,
            tenant.as_deref(),
            ROLE_KIND,
            &user,
            json!({ "role": role.as_str() }),
            json!({ "role": user.role.as_str(), "tenants": scope }),
            &reason,
        )
        .await?;
        return Ok(GrantOutcome {
            message: format!(
                "Making {} {label} waits for another person's approval.",
                user.email
            ),
            change_request: Some(id),
        });
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if !store::set_role(tx.conn(), &g, &user, user.role, role, now).await? {
        return Err(AppError::Conflict(format!(
            "{}'s role changed meanwhile: look again.",
            user.email
        )));
    }
    role_changed(
        st, &mut tx, g.actor, &user, user.role, role, None, tenant, now,
    )
    .await?;
    let mail = tx.commit_outbox().await?;
    // The change stands; a notice that could not go out is logged by `deliver`.
    let _ = crate::core::mailer::deliver(st, g.actor, mail, "The role was changed").await;
    Ok(GrantOutcome::done(format!(
        "{} is {label} now.",
        user.email
    )))
}

#[allow(clippy::too_many_arguments)]
async fn role_changed(
    st: &AppState,
    tx: &mut Tx,
    actor: &Actor,
    user: &store::UserRow,
    from: Role,
    to: Role,
    change: Option<&str>,
    tenant: Option<String>,
    now: i64,
) -> AppResult<()> {
    let ev = Event::new("user.role_changed")
        .target(user.id.clone())
        .details(json!({
            "email": user.email, "before": from.as_str(), "after": to.as_str(),
            "elevated": is_elevation(from, to), "change_request": change,
        }))
        .maybe_tenant(tenant);
    record(tx, actor, now, ev).await?;
    if !st.mailer.is_configured() {
        return Ok(());
    }
    tx.mail_after_commit(Mail {
        to: user.email.clone(),
        subject: format!("Mailward: you are {} now", to.label().to_lowercase()),
        body: format!(
            "Hello {name},\n\n{by} changed your role in Mailward from {from} to {to}, on {when}. \
             It applies from your next click.\n\nIf you did not expect this, tell an owner of your \
             Mailward.\n",
            name = user.display_name,
            by = actor.label,
            from = from.label().to_lowercase(),
            to = to.label().to_lowercase(),
            when = crate::core::clock::format_utc(now),
        ),
        link: None,
    });
    Ok(())
}

fn parse(s: Option<&str>) -> AppResult<Value> {
    s.map(serde_json::from_str)
        .transpose()
        .map_err(AppError::internal)
        .map(Option::unwrap_or_default)
}

fn role_in(v: &Value) -> AppResult<Role> {
    v["role"]
        .as_str()
        .and_then(Role::parse)
        .ok_or_else(|| AppError::internal("a person.role request without its role"))
}

fn scope_of(v: &Value) -> Option<Vec<String>> {
    v.as_array().map(|a| {
        a.iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect()
    })
}

/// The action that decides a request about a person: `ManageOperators` for the platform's
/// people (no tenant), `InviteTenantUser` for a tenant's.
fn person_action(c: &ChangeRequest) -> Action {
    if c.tenant_id.is_some() {
        Action::InviteTenantUser
    } else {
        Action::ManageOperators
    }
}

/// Loads the request's person inside the approving transaction.
async fn target(tx: &mut Tx, c: &ChangeRequest) -> AppResult<store::UserRow> {
    store::user_in(tx.conn(), &c.target_id)
        .await?
        .ok_or_else(|| AppError::Conflict(format!("{}'s account is gone.", c.target_label)))
}

/// Making someone an owner or a tenant admin (change kind `person.role`). Rolling back puts
/// the earlier role (and an operator's earlier scope) back while the role is still the one
/// the change gave.
pub(crate) struct RoleKind;

#[async_trait::async_trait]
impl ChangeKind for RoleKind {
    fn kind(&self) -> &'static str {
        ROLE_KIND
    }
    fn action(&self) -> Action {
        Action::ManageOperators
    }
    fn describe(&self, c: &ChangeRequest) -> crate::types::Described {
        let p: Value = serde_json::from_str(&c.payload).unwrap_or_default();
        let b: Value = serde_json::from_str(&c.before).unwrap_or_default();
        let (was, to) = (
            role_words(b["role"].as_str().unwrap_or("?")),
            role_words(p["role"].as_str().unwrap_or("?")),
        );
        crate::types::Described {
            summary: format!("Make {} {to} (now {was}).", c.target_label),
            rows: vec![crate::types::ChangeRow::new("Role", was, to)],
        }
    }
    fn action_for(&self, c: &ChangeRequest) -> Action {
        person_action(c)
    }
    async fn apply(
        &self,
        st: &AppState,
        tx: &mut Tx,
        g: &Granted<'_>,
        c: &ChangeRequest,
        now: i64,
    ) -> AppResult<Applied> {
        let to = role_in(&parse(Some(&c.payload))?)?;
        let from = role_in(&parse(Some(&c.before))?)?;
        let user = target(tx, c).await?;
        if user.status != "active" {
            return Err(AppError::Conflict(format!(
                "{} was disabled meanwhile: the request no longer applies.",
                user.email
            )));
        }
        if user.role != from || !store::set_role(tx.conn(), g, &user, from, to, now).await? {
            return Err(AppError::Conflict(format!(
                "{} is {} now, not {} as when this was asked: ask again if it is still needed.",
                user.email,
                user.role.label().to_lowercase(),
                from.label().to_lowercase()
            )));
        }
        if to == Role::Owner {
            // Owners see every tenant.
            store::set_user_scope(tx.conn(), g, &user.id, None, now).await?;
        }
        role_changed(
            st,
            tx,
            g.actor,
            &user,
            from,
            to,
            Some(&c.id),
            c.tenant_id.clone(),
            now,
        )
        .await?;
        Ok(Applied {
            summary: format!("{} is {} now.", user.email, to.label().to_lowercase()),
            after: json!({ "role": to.as_str() }),
        })
    }
    async fn roll_back(
        &self,
        st: &AppState,
        tx: &mut Tx,
        g: &Granted<'_>,
        original: &ChangeRequest,
        now: i64,
    ) -> AppResult<String> {
        let before = parse(Some(&original.before))?;
        let back = role_in(&before)?;
        let given = role_in(&parse(original.after.as_deref())?)?;
        let user = target(tx, original).await?;
        if user.role != given || !store::set_role(tx.conn(), g, &user, given, back, now).await? {
            return Err(AppError::Conflict(format!(
                "{} is {} now, not {} as the change left it: someone changed it since, so \
                 nothing was changed.",
                user.email,
                user.role.label().to_lowercase(),
                given.label().to_lowercase()
            )));
        }
        if back == Role::Operator {
            let scope = scope_of(&before["tenants"]);
            store::set_user_scope(tx.conn(), g, &user.id, scope.as_deref(), now).await?;
        }
        role_changed(
            st,
            tx,
            g.actor,
            &user,
            given,
            back,
            Some(&original.id),
            original.tenant_id.clone(),
            now,
        )
        .await?;
        Ok(format!(
            "{} is {} again.",
            user.email,
            back.label().to_lowercase()
        ))
    }
}

// ---------- an operator's tenants ----------

/// Limits an operator to the listed tenants, or lets them see all (`None`). Narrowing applies
/// at once (from the operator's next request); widening — a tenant they do not see yet, or
/// every tenant — is a change request with a reason.
pub async fn set_operator_tenants(
    st: &AppState,
    actor: &Actor,
    user_id: &str,
    tenant_ids: Option<Vec<String>>,
    reason: Option<&str>,
) -> AppResult<GrantOutcome> {
    let g = authorize_protective(actor, Action::ManageOperators)?;
    let user = store::user_by_id(&st.db, user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if user.role != Role::Operator {
        return Err(AppError::invalid(
            "Only operators have a tenant scope: owners see everything, tenant people their tenant.",
        ));
    }
    let view = authorize_protective(actor, Action::ViewTenants)?;
    let all = crate::tenancy::store::tenant_names_by_id(&st.db, &view).await?;
    let name_of = |id: &str| all.iter().find(|(i, _)| i == id).map(|(_, n)| n.clone());
    let normalized = |mut v: Vec<String>| {
        v.sort();
        v.dedup();
        v
    };
    let ids = match tenant_ids {
        None => None,
        Some(ids) if ids.is_empty() => {
            return Err(AppError::invalid(
                "Choose at least one tenant, or let the operator see all tenants.",
            ))
        }
        Some(ids) => {
            if ids.iter().any(|id| name_of(id).is_none()) {
                return Err(AppError::invalid(
                    "One of the chosen tenants does not exist.",
                ));
            }
            Some(normalized(ids))
        }
    };
    let mut conn = st.db.pool().acquire().await?;
    let before = store::scope_in(&mut *conn, &user).await?;
    drop(conn);
    if before == ids {
        return Err(AppError::invalid(format!(
            "{} already has this scope.",
            user.email
        )));
    }
    let names = |s: &Option<Vec<String>>| -> Value {
        match s {
            None => "all tenants".into(),
            Some(v) => v
                .iter()
                .filter_map(|i| name_of(i))
                .collect::<Vec<_>>()
                .into(),
        }
    };
    let wider = match (&before, &ids) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(b), Some(n)) => n.iter().any(|t| !b.contains(t)),
    };
    if wider {
        // Giving more access is not protective: the incident freeze applies.
        let g = authorize(actor, Action::ManageOperators)?;
        let reason = AppError::reason_for(
            reason,
            &format!("for letting {} see more tenants", user.email),
        )?;
        can_be_decided(st, actor, &user, SCOPE_KIND, None).await?;
        let id = queue(
            st,
            &g,
            None,
            SCOPE_KIND,
            &user,
            json!({ "tenants": ids, "names": names(&ids) }),
            json!({ "tenants": before, "names": names(&before) }),
            &reason,
        )
        .await?;
        return Ok(GrantOutcome {
            message: format!(
                "Letting {} see {} waits for another owner's approval.",
                user.email,
                describe(&names(&ids))
            ),
            change_request: Some(id),
        });
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    store::set_user_scope(tx.conn(), &g, &user.id, ids.as_deref(), now).await?;
    scope_changed(
        &mut tx,
        g.actor,
        &user,
        names(&before),
        names(&ids),
        None,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(GrantOutcome::done(format!(
        "{} now sees {}.",
        user.email,
        describe(&names(&ids))
    )))
}

fn role_words(role: &str) -> String {
    Role::parse(role)
        .map(|r| r.label().to_lowercase())
        .unwrap_or_else(|| role.to_string())
}

fn describe(names: &Value) -> String {
    match names {
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        v => v.as_str().unwrap_or_default().to_string(),
    }
}

async fn scope_changed(
    tx: &mut Tx,
    actor: &Actor,
    user: &store::UserRow,
    before: Value,
    after: Value,
    change: Option<&str>,
    now: i64,
) -> AppResult<()> {
    record(
        tx,
        actor,
        now,
        Event::new("operator.scope_changed")
            .target(user.id.clone())
            .details(json!({
                "operator": user.email, "before": before, "after": after,
                "change_request": change,
            })),
    )
    .await?;
    Ok(())
}

/// An operator's tenant list widened (change kind `person.scope`). Applying and rolling back
/// both require the scope to be exactly as the other side left it.
pub(crate) struct ScopeKind;

#[async_trait::async_trait]
impl ChangeKind for ScopeKind {
    fn kind(&self) -> &'static str {
        SCOPE_KIND
    }
    fn action(&self) -> Action {
        Action::ManageOperators
    }
    fn describe(&self, c: &ChangeRequest) -> crate::types::Described {
        let p: Value = serde_json::from_str(&c.payload).unwrap_or_default();
        let b: Value = serde_json::from_str(&c.before).unwrap_or_default();
        let (was, to) = (describe(&b["names"]), describe(&p["names"]));
        crate::types::Described {
            summary: format!("Let {} see {to}.", c.target_label),
            rows: vec![crate::types::ChangeRow::new("Tenants seen", was, to)],
        }
    }
    async fn apply(
        &self,
        _st: &AppState,
        tx: &mut Tx,
        g: &Granted<'_>,
        c: &ChangeRequest,
        now: i64,
    ) -> AppResult<Applied> {
        let (payload, before) = (parse(Some(&c.payload))?, parse(Some(&c.before))?);
        let user = target(tx, c).await?;
        let now_scope = store::scope_in(tx.conn(), &user).await?;
        if user.role != Role::Operator || now_scope != scope_of(&before["tenants"]) {
            return Err(AppError::Conflict(format!(
                "{}'s role or tenants changed since this was asked: ask again if it is still \
                 needed.",
                user.email
            )));
        }
        let scope = scope_of(&payload["tenants"]);
        store::set_user_scope(tx.conn(), g, &user.id, scope.as_deref(), now).await?;
        let (b, a) = (before["names"].clone(), payload["names"].clone());
        scope_changed(tx, g.actor, &user, b, a.clone(), Some(&c.id), now).await?;
        Ok(Applied {
            summary: format!("{} now sees {}.", user.email, describe(&a)),
            after: json!({ "tenants": scope }),
        })
    }
    async fn roll_back(
        &self,
        _st: &AppState,
        tx: &mut Tx,
        g: &Granted<'_>,
        original: &ChangeRequest,
        now: i64,
    ) -> AppResult<String> {
        let before = parse(Some(&original.before))?;
        let after = parse(original.after.as_deref())?;
        let payload = parse(Some(&original.payload))?;
        let user = target(tx, original).await?;
        let now_scope = store::scope_in(tx.conn(), &user).await?;
        if user.role != Role::Operator || now_scope != scope_of(&after["tenants"]) {
            return Err(AppError::Conflict(format!(
                "{}'s role or tenants changed since: nothing was changed.",
                user.email
            )));
        }
        let scope = scope_of(&before["tenants"]);
        store::set_user_scope(tx.conn(), g, &user.id, scope.as_deref(), now).await?;
        let (b, a) = (payload["names"].clone(), before["names"].clone());
        scope_changed(tx, g.actor, &user, b, a.clone(), Some(&original.id), now).await?;
        Ok(format!("{} sees {} again.", user.email, describe(&a)))
    }
}

// ---------- someone else's second factor ----------

/// Asks for a reset of someone else's second factor (for a lost phone). Once approved, the
/// person gets a one-time link by mail to set a new password and authenticator; until they
/// use it their current ones keep working. Needs outgoing mail: the link goes nowhere else.
pub async fn reset_factor(
    st: &AppState,
    actor: &Actor,
    user_id: &str,
    reason: Option<&str>,
) -> AppResult<GrantOutcome> {
    let (user, g, tenant) = other_person(
        st,
        actor,
        user_id,
        false,
        "For your own authenticator, use “New authenticator” on your account page.",
    )
    .await?;
    if user.status != "active" {
        return Err(AppError::Conflict(format!(
            "{} is disabled: enable the account first.",
            user.email
        )));
    }
    if !st.mailer.is_configured() {
        return Err(AppError::Conflict(format!(
            "Outgoing mail is not configured, so the link could not reach {}. For an owner, \
             `mailward owner recover --email …` on the server prints one.",
            user.email
        )));
    }
    let reason = AppError::reason_for(
        reason,
        &format!("for resetting {}'s second factor", user.email),
    )?;
    can_be_decided(st, actor, &user, FACTOR_RESET_KIND, tenant.as_deref()).await?;
    let id = queue(
        st,
        &g,
        tenant.as_deref(),
        FACTOR_RESET_KIND,
        &user,
        json!({ "email": user.email }),
        json!({ "email": user.email }),
        &reason,
    )
    .await?;
    Ok(GrantOutcome {
        message: format!(
            "Resetting {}'s second factor waits for another person's approval; then they get a \
             link by mail.",
            user.email
        ),
        change_request: Some(id),
    })
}

/// A reset of someone's second factor (change kind `person.factor_reset`). Rolling back
/// withdraws the link while it is unused.
pub(crate) struct FactorResetKind;

#[async_trait::async_trait]
impl ChangeKind for FactorResetKind {
    fn kind(&self) -> &'static str {
        FACTOR_RESET_KIND
    }
    fn action(&self) -> Action {
        Action::ManageOperators
    }
    fn describe(&self, c: &ChangeRequest) -> crate::types::Described {
        crate::types::Described {
            summary: format!(
                "Mail {} a one-time link to set a new password and authenticator app; the \
                 current ones work until the link is used.",
                c.target_label
            ),
            rows: vec![crate::types::ChangeRow::new(
                "Second factor",
                "their authenticator app",
                "a new one, set up from the link",
            )],
        }
    }
    fn action_for(&self, c: &ChangeRequest) -> Action {
        person_action(c)
    }
    async fn apply(
        &self,
        st: &AppState,
        tx: &mut Tx,
        g: &Granted<'_>,
        c: &ChangeRequest,
        now: i64,
    ) -> AppResult<Applied> {
        let user = target(tx, c).await?;
        if user.status != "active" {
            return Err(AppError::Conflict(format!(
                "{} was disabled meanwhile: the reset no longer applies.",
                user.email
            )));
        }
        if !st.mailer.is_configured() {
            return Err(AppError::Conflict(
                "Outgoing mail is not configured any more: the link could not be sent.".into(),
            ));
        }
        let token = secrets::new_token("mwi_");
        let invite = secrets::new_id("inv");
        let hours = st.config.invite_ttl_hours;
        store::insert_recovery_invite(
            tx.conn(),
            g,
            &invite,
            &user,
            &secrets::sha256_hex(&token),
            now,
            now + hours * 3600,
            "email",
        )
        .await?;
        let ev = Event::new("user.factor_reset")
            .target(user.id.clone())
            .details(json!({
                "email": user.email, "invite": invite, "change_request": c.id,
                "requested_by": c.requested_by_label,
            }))
            .maybe_tenant(c.tenant_id.clone());
        record(tx, g.actor, now, ev).await?;
        tx.mail_after_commit(Mail {
            to: user.email.clone(),
            subject: "Mailward: set up a new authenticator".into(),
            body: format!(
                "Hello {name},\n\n{asker} asked for your second factor to be reset, and {approver} \
                 approved it. Set a new password and enrol your new authenticator here (the link \
                 works once and expires in {hours} hours):\n\n{url}/invite/{token}\n\nUntil you \
                 use it, your current password and authenticator keep working. If you did not \
                 ask for this, tell an owner of your Mailward.\n",
                name = user.display_name,
                asker = c.requested_by_label,
                approver = g.actor.label,
                url = st.config.public_url(),
            ),
            link: None,
        });
        Ok(Applied {
            summary: format!(
                "A link to set a new password and authenticator was mailed to {}.",
                user.email
            ),
            after: json!({ "invite": invite }),
        })
    }
    async fn roll_back(
        &self,
        _st: &AppState,
        tx: &mut Tx,
        g: &Granted<'_>,
        original: &ChangeRequest,
        now: i64,
    ) -> AppResult<String> {
        let after = parse(original.after.as_deref())?;
        let invite = after["invite"].as_str().unwrap_or_default().to_string();
        let user = target(tx, original).await?;
        if store::recovery_invite_used(tx.conn(), &invite).await? == Some(true) {
            return Err(AppError::Conflict(format!(
                "{} has used the link: the new password and authenticator stay. If that was not \
                 them, disable the account.",
                user.email
            )));
        }
        if !store::withdraw_recovery_invite(tx.conn(), g, &user, &invite, now).await? {
            return Err(AppError::Conflict(format!(
                "The link mailed to {} was withdrawn or replaced already: nothing to undo.",
                user.email
            )));
        }
        let ev = Event::new("user.factor_reset_withdrawn")
            .target(user.id.clone())
            .details(
                json!({ "email": user.email, "invite": invite, "change_request": original.id }),
            )
            .maybe_tenant(original.tenant_id.clone());
        record(tx, g.actor, now, ev).await?;
        Ok(format!(
            "The link mailed to {} no longer works; their password and authenticator are as \
             they were.",
            user.email
        ))
    }
}

// ---------- the server's command line ----------

/// For the server's command line (`mailward owner promote --email …`): makes an operator an
/// owner at once, audited with the host user — the way to a second owner when there is only
/// one (whoever runs commands on the server holds every key already).
pub async fn promote_from_server(st: &AppState, email: &str, host_user: &str) -> AppResult<()> {
    let key = email.trim().to_lowercase();
    let user = store::user_by_email(&st.db, &key)
        .await?
        .filter(|u| u.role == Role::Operator)
        .ok_or_else(|| {
            AppError::invalid(format!(
                "There is no operator account with the address {key}."
            ))
        })?;
    if user.status != "active" {
        return Err(AppError::Conflict(format!("{key} is disabled.")));
    }
    let actor = Actor::system(&format!("cli:{host_user}"));
    let g = authorize(&actor, Action::ManageOperators)?;
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if !store::set_role(tx.conn(), &g, &user, Role::Operator, Role::Owner, now).await? {
        return Err(AppError::Conflict(format!("{key} changed meanwhile.")));
    }
    store::set_user_scope(tx.conn(), &g, &user.id, None, now).await?;
    role_changed(
        st,
        &mut tx,
        &actor,
        &user,
        Role::Operator,
        Role::Owner,
        None,
        None,
        now,
    )
    .await?;
    let mail = tx.commit_outbox().await?;
    let _ = crate::core::mailer::deliver(st, &actor, mail, "The operator is an owner now").await;
    Ok(())
}
