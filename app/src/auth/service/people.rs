//! Looking after other people's accounts: disabling one (its sessions and API tokens end in
//! the same transaction, so a browser signed in elsewhere is out at its next click) and
//! enabling it again. Disabling is protective — it stays allowed during an incident —;
//! enabling gives access back and is frozen like an invitation. The last active owner can
//! never be disabled (the store refuses it, whoever asks: this page, offboarding, an
//! incident's revocation).
#[allow(unused_imports)]
use super::*;

/// What changed: the person, and for a disable what ended with the account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatusChange {
    pub id: String,
    pub email: String,
    pub status: super::super::AccountStatus,
    pub sessions_ended: i64,
    pub tokens_revoked: i64,
}

/// The proof to act on `user`: owners and operators need `ManageOperators`; a tenant's
/// admins and viewers `InviteTenantUser` in one of their tenants the actor sees (else 404).
pub(super) async fn proof_for<'a>(
    st: &AppState,
    actor: &'a Actor,
    user: &store::UserRow,
    protective: bool,
) -> AppResult<(Granted<'a>, Option<String>)> {
    if !user.role.is_tenant_role() {
        let g = if protective {
            authorize_protective(actor, Action::ManageOperators)?
        } else {
            authorize(actor, Action::ManageOperators)?
        };
        return Ok((g, None));
    }
    let tenants = store::user_tenant_ids(&st.db, &user.id).await?;
    let mut refusal = AppError::NotFound;
    for t in &tenants {
        let got = if protective {
            authorize_protective_in(actor, Action::InviteTenantUser, t)
        } else {
            authorize_in(actor, Action::InviteTenantUser, t)
        };
        match got {
            Ok(g) => return Ok((g, Some(t.clone()))),
            // The most telling refusal: a role that may not (403) or a freeze (423) over
            // "not found" for a tenant out of sight.
            Err(e) if !matches!(e, AppError::NotFound) => refusal = e,
            Err(_) => {}
        }
    }
    Err(refusal)
}

/// The person to act on, and the proof to do it: the gate first (a role that may not learns
/// nothing more), then the refusal of one's own account.
async fn person<'a>(
    st: &AppState,
    actor: &'a Actor,
    user_id: &str,
    protective: bool,
) -> AppResult<(store::UserRow, Granted<'a>, Option<String>)> {
    let user = store::user_by_id(&st.db, user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let (g, tenant) = proof_for(st, actor, &user, protective).await?;
    if actor.user_id.as_deref() == Some(user.id.as_str()) {
        return Err(AppError::Conflict(
            "You cannot disable or enable your own account. To end your sessions, use \
             “Sign out everywhere”; to hand over, ask another owner."
                .into(),
        ));
    }
    Ok((user, g, tenant))
}

/// Disables a person's account: it cannot sign in, its sessions end and its API tokens are
/// revoked at once. Refused for one's own account and for the last active owner.
pub async fn disable_person(
    st: &AppState,
    actor: &Actor,
    user_id: &str,
) -> AppResult<StatusChange> {
    let (user, g, tenant) = person(st, actor, user_id, true).await?;
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let Some((sessions, tokens)) = store::disable_user(tx.conn(), &g, &user, now).await? else {
        return Err(AppError::Conflict(format!(
            "{} is disabled already.",
            user.email
        )));
    };
    let status = super::super::AccountStatus::Disabled;
    let ended = Ended {
        action: "user.disabled",
        tenant,
        sessions,
        tokens,
    };
    ended.commit(tx, &g, user, status, now).await
}

/// What ended with a person's access (a disable, or their sessions and tokens alone).
struct Ended {
    action: &'static str,
    tenant: Option<String>,
    sessions: i64,
    tokens: i64,
}

impl Ended {
    /// Records it and commits; what changed.
    async fn commit(
        self,
        mut tx: crate::core::db::Tx,
        g: &Granted<'_>,
        user: store::UserRow,
        status: super::super::AccountStatus,
        now: i64,
    ) -> AppResult<StatusChange> {
        let mut ev = Event::new(self.action)
            .target(user.id.clone())
            .details(serde_json::json!({
                "email": user.email, "role": user.role.as_str(),
                "sessions_ended": self.sessions, "tokens_revoked": self.tokens,
            }));
        ev.tenant_id = self.tenant;
        record(&mut tx, g.actor, now, ev).await?;
        tx.commit().await?;
        Ok(StatusChange {
            id: user.id,
            email: user.email,
            status,
            sessions_ended: self.sessions,
            tokens_revoked: self.tokens,
        })
    }
}

/// Enables a disabled account again (it signs in with its own password and authenticator;
/// its ended sessions and revoked tokens stay ended).
pub async fn enable_person(st: &AppState, actor: &Actor, user_id: &str) -> AppResult<StatusChange> {
    let (user, g, tenant) = person(st, actor, user_id, false).await?;
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    if !store::enable_user(tx.conn(), &g, &user, now).await? {
        return Err(AppError::Conflict(format!(
            "{} is active already.",
            user.email
        )));
    }
    let mut ev = Event::new("user.enabled")
        .target(user.id.clone())
        .details(serde_json::json!({ "email": user.email, "role": user.role.as_str() }));
    ev.tenant_id = tenant;
    record(&mut tx, g.actor, now, ev).await?;
    tx.commit().await?;
    Ok(StatusChange {
        id: user.id,
        email: user.email,
        status: super::super::AccountStatus::Active,
        sessions_ended: 0,
        tokens_revoked: 0,
    })
}

/// A person's live sessions and API tokens, for whoever may disable them.
pub async fn access_of(
    st: &AppState,
    actor: &Actor,
    user_id: &str,
) -> AppResult<(Vec<super::super::SessionView>, Vec<super::super::TokenView>)> {
    let user = store::user_by_id(&st.db, user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    proof_for(st, actor, &user, true).await?;
    let now = st.clock.now();
    let (sessions, tokens) = tokio::try_join!(
        store::list_sessions(&st.db, &user.id, now),
        store::list_tokens(&st.db, &user.id)
    )?;
    Ok((
        sessions,
        tokens
            .into_iter()
            .filter(|t| t.revoked_at.is_none() && t.expires_at > now)
            .collect(),
    ))
}

/// Signs a person out everywhere and revokes their API tokens, leaving the account active
/// (a leaked token or a lost laptop). Protective: allowed during an incident.
pub async fn end_access_of(st: &AppState, actor: &Actor, user_id: &str) -> AppResult<StatusChange> {
    let user = store::user_by_id(&st.db, user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let (g, tenant) = proof_for(st, actor, &user, true).await?;
    if actor.user_id.as_deref() == Some(user.id.as_str()) {
        return Err(AppError::Conflict(
            "For your own account use “Sign out everywhere” and revoke your tokens on your \
             account page."
                .into(),
        ));
    }
    let now = st.clock.now();
    let mut tx = st.db.begin().await?;
    let (sessions, tokens) = store::end_user_access(tx.conn(), &g, &user, now).await?;
    let status = user.status;
    let ended = Ended {
        action: "user.access_ended",
        tenant,
        sessions,
        tokens,
    };
    ended.commit(tx, &g, user, status, now).await
}
