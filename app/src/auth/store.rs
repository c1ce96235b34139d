//! SQL for identity. The only place that knows these tables.
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{AccountStatus, InviteRow, OperatorView, Role, SessionView, TokenView};
use crate::core::authz::{Action, Granted};
use crate::core::db::{Db, Where};
use crate::core::{AppError, AppResult};

pub struct UserRow {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub status: AccountStatus,
    pub password_hash: String,
    pub totp_secret: String,
    pub totp_last_step: i64,
    pub all_tenants: bool,
}

fn role_of(r: &AnyRow, col: &str) -> Result<Role, sqlx::Error> {
    let s: String = r.try_get(col)?;
    Role::parse(&s).ok_or_else(|| sqlx::Error::Decode(format!("unknown role {s}").into()))
}

fn user_row(r: &AnyRow) -> Result<UserRow, sqlx::Error> {
    Ok(UserRow {
        id: r.try_get("id")?,
        email: r.try_get("email")?,
        display_name: r.try_get("display_name")?,
        role: role_of(r, "role")?,
        status: crate::core::db::named(r, "status")?,
        password_hash: r.try_get("password_hash")?,
        totp_secret: r.try_get("totp_secret")?,
        totp_last_step: r.try_get("totp_last_step")?,
        all_tenants: r.try_get::<i64, _>("all_tenants")? != 0,
    })
}

const USER_COLS: &str =
    "id, email, display_name, role, status, password_hash, totp_secret, totp_last_step, all_tenants";

/// The tenants a user is limited to (tenant roles, or operators with a listed set).
pub async fn user_tenant_ids(db: &Db, user_id: &str) -> AppResult<Vec<String>> {
    let rows =
        sqlx::query("SELECT tenant_id FROM user_tenants WHERE user_id = $1 ORDER BY tenant_id")
            .bind(user_id.to_string())
            .fetch_all(db.pool())
            .await?;
    Ok(rows
        .iter()
        .map(|r| r.try_get("tenant_id"))
        .collect::<Result<_, _>>()?)
}

/// Sets an operator's tenant scope: all tenants (`None`) or the listed ones.
pub async fn set_user_scope(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    user_id: &str,
    tenant_ids: Option<&[String]>,
    now: i64,
) -> AppResult<()> {
    g.require(&[Action::ManageOperators])?;
    sqlx::query("UPDATE users SET all_tenants = $1, updated_at = $2 WHERE id = $3")
        .bind(tenant_ids.is_none() as i64)
        .bind(now)
        .bind(user_id.to_string())
        .execute(&mut *c)
        .await?;
    sqlx::query("DELETE FROM user_tenants WHERE user_id = $1")
        .bind(user_id.to_string())
        .execute(&mut *c)
        .await?;
    for t in tenant_ids.unwrap_or_default() {
        insert_user_tenant(c, user_id, t).await?;
    }
    Ok(())
}

pub async fn insert_user_tenant(
    c: &mut AnyConnection,
    user_id: &str,
    tenant_id: &str,
) -> AppResult<()> {
    sqlx::query("INSERT INTO user_tenants (user_id, tenant_id) VALUES ($1, $2)")
        .bind(user_id.to_string())
        .bind(tenant_id.to_string())
        .execute(c)
        .await?;
    Ok(())
}

pub async fn user_by_email(db: &Db, email: &str) -> AppResult<Option<UserRow>> {
    let r = sqlx::query(&format!("SELECT {USER_COLS} FROM users WHERE email = $1"))
        .bind(email.to_string())
        .fetch_optional(db.pool())
        .await?;
    Ok(r.as_ref().map(user_row).transpose()?)
}

/// A person as the caller's transaction sees them (a change kind re-reading inside the
/// approval).
pub async fn user_in(c: &mut AnyConnection, id: &str) -> AppResult<Option<UserRow>> {
    let r = sqlx::query(&format!("SELECT {USER_COLS} FROM users WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(c)
        .await?;
    Ok(r.as_ref().map(user_row).transpose()?)
}

/// An operator's scope as the caller's transaction sees it: `None` for every tenant.
pub async fn scope_in(c: &mut AnyConnection, user: &UserRow) -> AppResult<Option<Vec<String>>> {
    if user.all_tenants {
        return Ok(None);
    }
    let rows =
        sqlx::query("SELECT tenant_id FROM user_tenants WHERE user_id = $1 ORDER BY tenant_id")
            .bind(user.id.clone())
            .fetch_all(c)
            .await?;
    Ok(Some(
        rows.iter()
            .map(|r| r.try_get("tenant_id"))
            .collect::<Result<_, _>>()?,
    ))
}

pub async fn user_by_id(db: &Db, id: &str) -> AppResult<Option<UserRow>> {
    let r = sqlx::query(&format!("SELECT {USER_COLS} FROM users WHERE id = $1"))
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await?;
    Ok(r.as_ref().map(user_row).transpose()?)
}

/// (active owners and operators, open invitations) for the dashboard.
pub async fn platform_counts(db: &Db, g: &Granted<'_>, now: i64) -> AppResult<(i64, i64)> {
    g.require(&[Action::ViewOperators])?;
    let r = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM users WHERE role IN ('owner', 'operator') AND status = 'active') AS people, \
         (SELECT COUNT(*) FROM invites WHERE used_at IS NULL AND revoked_at IS NULL AND expires_at > $1 \
          AND created_by IS NOT NULL) AS invites",
    )
    .bind(now)
    .fetch_one(db.pool())
    .await?;
    Ok((r.try_get("people")?, r.try_get("invites")?))
}

pub async fn count_users(db: &Db) -> AppResult<i64> {
    Ok(sqlx::query("SELECT COUNT(*) AS n FROM users")
        .fetch_one(db.pool())
        .await?
        .try_get("n")?)
}

fn person_row(r: &AnyRow) -> Result<OperatorView, sqlx::Error> {
    Ok(OperatorView {
        id: r.try_get("id")?,
        email: r.try_get("email")?,
        display_name: r.try_get("display_name")?,
        role: role_of(r, "role")?,
        tenant: None,
        tenant_ids: None,
        status: crate::core::db::named(r, "status")?,
        created_at: r.try_get("created_at")?,
    })
}

const PERSON_COLS: &str = "u.id, u.email, u.display_name, u.role, u.status, u.created_at";

/// People with the name of their tenant (the first by name, for someone in several).
async fn people(db: &Db, rows: &[AnyRow]) -> AppResult<Vec<OperatorView>> {
    let mut people = rows.iter().map(person_row).collect::<Result<Vec<_>, _>>()?;
    let mut c = db.pool().acquire().await?;
    let links = sqlx::query("SELECT user_id, tenant_id FROM user_tenants")
        .fetch_all(&mut *c)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("user_id")?, r.try_get("tenant_id")?)))
        .collect::<Result<Vec<(String, String)>, sqlx::Error>>()?;
    let names =
        crate::tenancy::store::names_of(&mut c, links.iter().map(|(_, t)| t.as_str())).await?;
    for p in &mut people {
        p.tenant = links
            .iter()
            .filter(|(u, _)| *u == p.id)
            .filter_map(|(_, t)| names.get(t))
            .min()
            .cloned();
    }
    Ok(people)
}

pub async fn list_users(db: &Db, g: &Granted<'_>) -> AppResult<Vec<OperatorView>> {
    g.require(&[Action::ViewOperators])?;
    let rows = sqlx::query(&format!(
        "SELECT {PERSON_COLS} FROM users u ORDER BY u.created_at, u.email"
    ))
    .fetch_all(db.pool())
    .await?;
    people(db, &rows).await
}

/// People limited to one tenant (its admins and viewers).
pub async fn tenant_users(
    db: &Db,
    g: &Granted<'_>,
    tenant_id: &str,
) -> AppResult<Vec<OperatorView>> {
    g.check(tenant_id)?;
    let rows = sqlx::query(&format!(
        "SELECT {PERSON_COLS} FROM users u WHERE u.id IN (SELECT user_id FROM user_tenants WHERE tenant_id = $1) \
         AND u.role IN ('tenant_admin', 'client_viewer') ORDER BY u.email"
    ))
    .bind(tenant_id.to_string())
    .fetch_all(db.pool())
    .await?;
    people(db, &rows).await
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_user(
    c: &mut AnyConnection,
    id: &str,
    email: &str,
    display_name: &str,
    role: Role,
    password_hash: &str,
    totp_secret: &str,
    totp_step: i64,
    now: i64,
) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO users (id, email, display_name, role, status, password_hash, totp_secret, \
         totp_last_step, created_at, updated_at, all_tenants) VALUES ($1,$2,$3,$4,'active',$5,$6,$7,$8,$8,$9)",
    )
    .bind(id.to_string())
    .bind(email.to_string())
    .bind(display_name.to_string())
    .bind(role.as_str())
    .bind(password_hash.to_string())
    .bind(totp_secret.to_string())
    .bind(totp_step)
    .bind(now)
    .bind(if role.is_tenant_role() { 0i64 } else { 1i64 })
    .execute(c)
    .await?;
    Ok(())
}

/// Accepts a TOTP step only if it is newer than the last accepted one (race-safe).
pub async fn advance_totp_step(c: &mut AnyConnection, user_id: &str, step: i64) -> AppResult<bool> {
    let r =
        sqlx::query("UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1")
            .bind(step)
            .bind(user_id.to_string())
            .execute(c)
            .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn insert_recovery_codes(
    c: &mut AnyConnection,
    user_id: &str,
    hashes: &[String],
    now: i64,
) -> AppResult<()> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id.to_string())
        .execute(&mut *c)
        .await?;
    for h in hashes {
        sqlx::query(
            "INSERT INTO recovery_codes (id, user_id, code_hash, created_at) VALUES ($1,$2,$3,$4)",
        )
        .bind(crate::core::secrets::new_id("rc"))
        .bind(user_id.to_string())
        .bind(h.clone())
        .bind(now)
        .execute(&mut *c)
        .await?;
    }
    Ok(())
}

/// Consumes a recovery code: true exactly once per code.
pub async fn consume_recovery_code(
    c: &mut AnyConnection,
    user_id: &str,
    hash: &str,
    now: i64,
) -> AppResult<bool> {
    let r = sqlx::query(
        "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
    )
    .bind(now)
    .bind(user_id.to_string())
    .bind(hash.to_string())
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn unused_recovery_codes(db: &Db, user_id: &str) -> AppResult<i64> {
    Ok(sqlx::query(
        "SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
    )
    .bind(user_id.to_string())
    .fetch_one(db.pool())
    .await?
    .try_get("n")?)
}

// ---------- throttling ----------

/// Reserves one attempt for `subject` in its current window, atomically: the reservation is
/// taken before the (expensive) check, so N parallel attempts get at most `max` through. A
/// window opens at the first attempt and lasts `window` seconds. `false`: throttled.
/// One statement: on PostgreSQL the upsert locks the subject's row, so concurrent callers
/// queue on it and each sees the count the previous one left; SQLite has one writer.
pub async fn reserve_attempt(
    db: &Db,
    subject: &str,
    now: i64,
    window: i64,
    max: i64,
) -> AppResult<bool> {
    let row = sqlx::query(
        "INSERT INTO auth_throttle (subject, window_start, attempts) VALUES ($1, $2, 1) \
         ON CONFLICT (subject) DO UPDATE SET \
           attempts = CASE WHEN auth_throttle.window_start <= $3 THEN 1 \
                           ELSE auth_throttle.attempts + 1 END, \
           window_start = CASE WHEN auth_throttle.window_start <= $3 THEN $2 \
                               ELSE auth_throttle.window_start END \
         WHERE auth_throttle.window_start <= $3 OR auth_throttle.attempts < $4 \
         RETURNING attempts",
    )
    .bind(subject.to_string())
    .bind(now)
    .bind(now - window)
    .bind(max)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.is_some())
}

/// Gives back an attempt reserved by [`reserve_attempt`] (it succeeded, or was never checked).
pub async fn release_attempt(db: &Db, subject: &str) -> AppResult<()> {
    sqlx::query(
        "UPDATE auth_throttle SET attempts = attempts - 1 WHERE subject = $1 AND attempts > 0",
    )
    .bind(subject.to_string())
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Forgets windows that closed before `before`.
pub async fn prune_throttles(db: &Db, before: i64) -> AppResult<()> {
    sqlx::query("DELETE FROM auth_throttle WHERE window_start < $1")
        .bind(before)
        .execute(db.pool())
        .await?;
    Ok(())
}

// ---------- invitations ----------

pub struct InviteRecord {
    pub id: String,
    pub email: Option<String>,
    pub role: Role,
    pub tenant_id: Option<String>,
    pub created_by: Option<String>,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// The existing account this link recovers (`mailward owner recover`), if it is one.
    pub recovers: Option<String>,
}

pub async fn invite_by_hash(db: &Db, token_hash: &str) -> AppResult<Option<InviteRecord>> {
    let r = sqlx::query(
        "SELECT id, email, role, tenant_id, created_by, expires_at, used_at, revoked_at, recovers \
         FROM invites WHERE token_hash = $1",
    )
    .bind(token_hash.to_string())
    .fetch_optional(db.pool())
    .await?;
    Ok(r.map(|r| -> Result<InviteRecord, sqlx::Error> {
        Ok(InviteRecord {
            id: r.try_get("id")?,
            email: r.try_get("email")?,
            role: role_of(&r, "role")?,
            tenant_id: r.try_get("tenant_id")?,
            created_by: r.try_get("created_by")?,
            expires_at: r.try_get("expires_at")?,
            used_at: r.try_get("used_at")?,
            revoked_at: r.try_get("revoked_at")?,
            recovers: r.try_get("recovers")?,
        })
    })
    .transpose()?)
}

/// A one-time link that gives an existing account a new password and authenticator (the
/// server's break-glass, `mailward owner recover`, delivery `cli`; an approved reset of
/// someone's second factor, delivery `email`); earlier open links for the same account are
/// revoked, so only the newest works. Platform people need `ManageOperators`, a tenant's
/// people `InviteTenantUser` in one of their tenants.
#[allow(clippy::too_many_arguments)]
pub async fn insert_recovery_invite(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    id: &str,
    user: &UserRow,
    token_hash: &str,
    now: i64,
    expires_at: i64,
    delivery: &str,
) -> AppResult<()> {
    person_in_grant(&mut *c, g, user).await?;
    sqlx::query(
        "UPDATE invites SET revoked_at = $1 WHERE recovers = $2 AND used_at IS NULL AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(user.id.clone())
    .execute(&mut *c)
    .await?;
    sqlx::query(
        "INSERT INTO invites (id, email, role, token_hash, created_by, created_at, expires_at, delivery, recovers) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
    )
    .bind(id.to_string())
    .bind(user.email.clone())
    .bind(user.role.as_str())
    .bind(token_hash.to_string())
    .bind(g.actor.user_id.clone())
    .bind(now)
    .bind(expires_at)
    .bind(delivery.to_string())
    .bind(user.id.clone())
    .execute(c)
    .await?;
    Ok(())
}

/// Whether a recovery link was used (Some(true)), is still open or withdrawn (Some(false)),
/// or does not exist.
pub async fn recovery_invite_used(c: &mut AnyConnection, id: &str) -> AppResult<Option<bool>> {
    let row = sqlx::query("SELECT used_at FROM invites WHERE id = $1 AND recovers IS NOT NULL")
        .bind(id.to_string())
        .fetch_optional(c)
        .await?;
    Ok(match row {
        Some(r) => Some(r.try_get::<Option<i64>, _>("used_at")?.is_some()),
        None => None,
    })
}

/// Withdraws an unused recovery link of `user`; false when it was used or withdrawn already.
pub async fn withdraw_recovery_invite(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    user: &UserRow,
    id: &str,
    now: i64,
) -> AppResult<bool> {
    person_in_grant(&mut *c, g, user).await?;
    let r = sqlx::query(
        "UPDATE invites SET revoked_at = $1 WHERE id = $2 AND recovers = $3 AND used_at IS NULL \
         AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(id.to_string())
    .bind(user.id.clone())
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Changes a person's role from `from` to `to` while it still is `from` (false otherwise).
/// Taking the owner role away is refused (Conflict) for the last active owner, by the same
/// locking as [`disable_user`]. Within one family only: owner/operator, or a tenant's
/// admin/viewer.
pub async fn set_role(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    user: &UserRow,
    from: Role,
    to: Role,
    now: i64,
) -> AppResult<bool> {
    person_in_grant(&mut *c, g, user).await?;
    if from.is_tenant_role() != to.is_tenant_role() {
        return Err(AppError::invalid(
            "A tenant's people and the platform's operators are separate accounts.",
        ));
    }
    if from == Role::Owner {
        sqlx::query(
            "UPDATE users SET updated_at = updated_at WHERE role = 'owner' AND status = 'active'",
        )
        .execute(&mut *c)
        .await?;
    }
    let r = sqlx::query(
        "UPDATE users SET role = $3, updated_at = $4 WHERE id = $1 AND role = $2 \
         AND (role <> 'owner' OR status <> 'active' OR EXISTS (SELECT 1 FROM users o \
         WHERE o.role = 'owner' AND o.status = 'active' AND o.id <> $1))",
    )
    .bind(user.id.clone())
    .bind(from.as_str())
    .bind(to.as_str())
    .bind(now)
    .execute(&mut *c)
    .await?;
    if r.rows_affected() == 1 {
        return Ok(true);
    }
    let still: Option<String> = sqlx::query("SELECT role FROM users WHERE id = $1")
        .bind(user.id.clone())
        .fetch_optional(c)
        .await?
        .map(|r| r.try_get("role"))
        .transpose()?;
    if still.as_deref() == Some(from.as_str()) {
        return Err(AppError::Conflict(format!(
            "{} is the last active owner: make someone else an owner first.",
            user.email
        )));
    }
    Ok(false)
}

/// How many other active people could decide a request about the platform's people (other
/// owners) or, with `tenant_id`, about that tenant's people (other owners, and operators who
/// see the tenant).
pub async fn deciders_besides(
    db: &Db,
    user_ids: &[&str],
    tenant_id: Option<&str>,
) -> AppResult<i64> {
    let mut w = Where::new();
    w.and("u.status = 'active'".to_string());
    for id in user_ids {
        let p = w.arg(*id);
        w.and(format!("u.id <> {p}"));
    }
    match tenant_id {
        None => w.and("u.role = 'owner'".to_string()),
        Some(t) => {
            let p = w.arg(t);
            w.and(format!(
                "(u.role = 'owner' OR (u.role = 'operator' AND (u.all_tenants = 1 OR EXISTS \
                 (SELECT 1 FROM user_tenants ut WHERE ut.user_id = u.id AND ut.tenant_id = {p}))))"
            ));
        }
    }
    let sql = format!(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM users u{}",
        w.sql()
    );
    Ok(w.bind(sqlx::query(&sql))
        .fetch_one(db.pool())
        .await?
        .try_get("n")?)
}

/// Active people who may be asked to approve a request in `tenant_id` (None: about the
/// platform): owners, and for a tenant also the operators who see it and its tenant admins.
/// (id, email, role)
pub async fn approvers(db: &Db, tenant_id: Option<&str>) -> AppResult<Vec<(String, String, Role)>> {
    let rows = match tenant_id {
        None => {
            sqlx::query(
                "SELECT id, email, role FROM users WHERE status = 'active' AND role = 'owner' \
                 ORDER BY email",
            )
            .fetch_all(db.pool())
            .await?
        }
        Some(t) => {
            sqlx::query(
                "SELECT u.id, u.email, u.role FROM users u WHERE u.status = 'active' AND \
                 (u.role = 'owner' OR (u.role = 'operator' AND u.all_tenants = 1) OR \
                  (u.role IN ('operator', 'tenant_admin') AND EXISTS (SELECT 1 FROM user_tenants ut \
                   WHERE ut.user_id = u.id AND ut.tenant_id = $1))) ORDER BY u.email",
            )
            .bind(t)
            .fetch_all(db.pool())
            .await?
        }
    };
    rows.iter()
        .map(|r| {
            let role: String = r.try_get("role")?;
            Ok((
                r.try_get("id")?,
                r.try_get("email")?,
                Role::parse(&role).unwrap_or(Role::ClientViewer),
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

#[allow(clippy::too_many_arguments)]
/// An invitation by the proof's actor (none for the system's first-owner setup link):
/// operators and owners with ManageOperators, or whoever may invite people to `tenant_id`.
pub async fn insert_invite(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    id: &str,
    email: Option<&str>,
    role: Role,
    token_hash: &str,
    now: i64,
    expires_at: i64,
    delivery: &str,
    tenant_id: Option<&str>,
) -> AppResult<()> {
    match tenant_id {
        Some(t) if role.is_tenant_role() => {
            g.require(&[Action::InviteTenantUser])?;
            g.check(t)?;
        }
        _ => g.require(&[Action::ManageOperators])?,
    }
    let created_by = g.actor.user_id.as_deref();
    sqlx::query(
        "INSERT INTO invites (id, email, role, token_hash, created_by, created_at, expires_at, delivery, tenant_id) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
    )
    .bind(id.to_string())
    .bind(email.map(str::to_string))
    .bind(role.as_str())
    .bind(token_hash.to_string())
    .bind(created_by.map(str::to_string))
    .bind(now)
    .bind(expires_at)
    .bind(delivery.to_string())
    .bind(tenant_id.map(str::to_string))
    .execute(c)
    .await?;
    Ok(())
}

/// Marks an open invite used; false if it was used, revoked or expired meanwhile.
pub async fn mark_invite_used(
    c: &mut AnyConnection,
    id: &str,
    user_id: &str,
    now: i64,
) -> AppResult<bool> {
    let r = sqlx::query(
        "UPDATE invites SET used_at = $1, used_by = $2 WHERE id = $3 AND used_at IS NULL \
         AND revoked_at IS NULL AND expires_at > $1",
    )
    .bind(now)
    .bind(user_id.to_string())
    .bind(id.to_string())
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Revokes every open setup link (invites nobody created).
pub async fn revoke_open_setup_links(c: &mut AnyConnection, now: i64) -> AppResult<u64> {
    let r = sqlx::query(
        "UPDATE invites SET revoked_at = $1 WHERE created_by IS NULL AND recovers IS NULL AND used_at IS NULL \
         AND revoked_at IS NULL",
    )
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected())
}

/// Open invitations, all or of one tenant.
pub async fn open_invites(
    db: &Db,
    g: &Granted<'_>,
    now: i64,
    tenant_id: Option<&str>,
) -> AppResult<Vec<InviteRow>> {
    // A tenant's invitations for whoever may invite there; everyone's for operator admins.
    match tenant_id {
        Some(t) => g.check(t)?,
        None => g.require(&[Action::ViewOperators, Action::ManageOperators])?,
    }
    let rows = sqlx::query(
        "SELECT id, email, role, tenant_id, created_at, expires_at, delivery, revealed_at FROM invites \
         WHERE used_at IS NULL AND revoked_at IS NULL AND expires_at > $1 AND created_by IS NOT NULL \
         AND ($2 = '' OR tenant_id = $2) ORDER BY created_at DESC",
    )
    .bind(now)
    .bind(tenant_id.unwrap_or("").to_string())
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(InviteRow {
                id: r.try_get("id")?,
                email: r.try_get("email")?,
                role: role_of(r, "role")?,
                tenant_id: r.try_get("tenant_id")?,
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
                delivery: r.try_get("delivery")?,
                revealed: r.try_get::<Option<i64>, _>("revealed_at")?.is_some(),
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

pub async fn open_invite_for_email(db: &Db, email: &str, now: i64) -> AppResult<bool> {
    let n: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM invites WHERE email = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(email.to_string())
    .bind(now)
    .fetch_one(db.pool())
    .await?
    .try_get("n")?;
    Ok(n > 0)
}

/// An invitation's role and tenant (to decide who may reveal or revoke it).
pub async fn invite_meta(db: &Db, id: &str) -> AppResult<Option<(Role, Option<String>)>> {
    let r = sqlx::query("SELECT role, tenant_id FROM invites WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await?;
    match r {
        Some(r) => Ok(Some((role_of(&r, "role")?, r.try_get("tenant_id")?))),
        None => Ok(None),
    }
}

/// Gives an open, never-revealed invite a new token; false otherwise.
pub async fn reveal_invite(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    id: &str,
    new_hash: &str,
    now: i64,
) -> AppResult<Option<String>> {
    g.require(&[Action::RevealInvite])?;
    invite_in_scope(&mut *c, g, id).await?;
    let by = g.actor.user_id.clone().unwrap_or_default();
    let r = sqlx::query(
        "UPDATE invites SET token_hash = $1, revealed_at = $2, revealed_by = $3 WHERE id = $4 \
         AND revealed_at IS NULL AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2 \
         AND delivery = 'reveal' RETURNING email",
    )
    .bind(new_hash.to_string())
    .bind(now)
    .bind(by.to_string())
    .bind(id.to_string())
    .fetch_optional(&mut *c)
    .await?;
    Ok(r.map(|r| r.try_get::<Option<String>, _>("email"))
        .transpose()?
        .map(|e| e.unwrap_or_default()))
}

pub async fn revoke_invite(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    id: &str,
    now: i64,
) -> AppResult<bool> {
    g.require(&[Action::RevokeInvite])?;
    invite_in_scope(&mut *c, g, id).await?;
    let r = sqlx::query(
        "UPDATE invites SET revoked_at = $1 WHERE id = $2 AND used_at IS NULL AND revoked_at IS NULL \
         AND created_by IS NOT NULL",
    )
    .bind(now)
    .bind(id.to_string())
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

// ---------- sessions (listing and revocation; the store itself is in `sessions`) ----------

pub async fn list_sessions(db: &Db, user_id: &str, now: i64) -> AppResult<Vec<SessionView>> {
    let rows = sqlx::query(
        "SELECT handle, created_at, last_seen_at, expires_at, ip, user_agent FROM sessions \
         WHERE user_id = $1 AND expires_at > $2 ORDER BY last_seen_at DESC",
    )
    .bind(user_id.to_string())
    .bind(now)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(SessionView {
                handle: r.try_get("handle")?,
                created_at: r.try_get("created_at")?,
                last_seen_at: r.try_get("last_seen_at")?,
                expires_at: r.try_get("expires_at")?,
                ip: r.try_get("ip")?,
                user_agent: r.try_get("user_agent")?,
                current: false,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// Ends one of the proof's own user's sessions.
pub async fn delete_session_by_handle(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    handle: &str,
) -> AppResult<bool> {
    g.require(&[Action::ManageOwnAccount])?;
    let user_id = g.actor.user_id.as_deref().ok_or(AppError::Forbidden)?;
    let r = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND handle = $2")
        .bind(user_id.to_string())
        .bind(handle.to_string())
        .execute(c)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Ends every session of the proof's own user.
pub async fn delete_user_sessions(c: &mut AnyConnection, g: &Granted<'_>) -> AppResult<u64> {
    g.require(&[Action::ManageOwnAccount])?;
    let user_id = g.actor.user_id.as_deref().ok_or(AppError::Forbidden)?;
    let r = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id.to_string())
        .execute(c)
        .await?;
    Ok(r.rows_affected())
}

/// Refuses (404) an invitation outside the proof's tenant, when it was granted in one.
async fn invite_in_scope(c: &mut AnyConnection, g: &Granted<'_>, id: &str) -> AppResult<()> {
    let Some(t) = g.tenant() else { return Ok(()) };
    let r = sqlx::query("SELECT tenant_id FROM invites WHERE id = $1")
        .bind(id)
        .fetch_optional(c)
        .await?
        .ok_or(AppError::NotFound)?;
    let tenant: Option<String> = r.try_get("tenant_id")?;
    if tenant.as_deref() == Some(t) {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
}

// ---------- API tokens ----------

fn token_row(r: &AnyRow) -> Result<TokenView, sqlx::Error> {
    let scopes: String = r.try_get("scopes")?;
    Ok(TokenView {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        scopes: scopes
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        last_used_at: r.try_get("last_used_at")?,
        revoked_at: r.try_get("revoked_at")?,
        tenant_ids: list_column(r, "tenant_ids")?,
        allow_from: list_column(r, "allow_from")?,
    })
}

/// A comma-separated column; NULL stays none.
fn list_column(r: &AnyRow, col: &str) -> Result<Option<Vec<String>>, sqlx::Error> {
    Ok(r.try_get::<Option<String>, _>(col)?.map(|v| {
        v.split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }))
}

#[allow(clippy::too_many_arguments)]
/// An API token for the proof's own user.
pub async fn insert_token(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    id: &str,
    name: &str,
    hash: &str,
    scopes: &str,
    now: i64,
    expires_at: i64,
    limits: (Option<&str>, Option<&str>),
) -> AppResult<()> {
    g.require(&[Action::CreateApiToken])?;
    let user_id = g.actor.user_id.as_deref().ok_or(AppError::Forbidden)?;
    sqlx::query(
        "INSERT INTO api_tokens (id, user_id, name, token_hash, scopes, created_at, expires_at, \
         tenant_ids, allow_from) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
    )
    .bind(id.to_string())
    .bind(user_id.to_string())
    .bind(name.to_string())
    .bind(hash.to_string())
    .bind(scopes.to_string())
    .bind(now)
    .bind(expires_at)
    .bind(limits.0.map(str::to_string))
    .bind(limits.1.map(str::to_string))
    .execute(c)
    .await?;
    Ok(())
}

pub async fn list_tokens(db: &Db, user_id: &str) -> AppResult<Vec<TokenView>> {
    let rows = sqlx::query(
        "SELECT id, name, scopes, created_at, expires_at, last_used_at, revoked_at, tenant_ids, \
         allow_from FROM api_tokens WHERE user_id = $1 ORDER BY created_at DESC",
    )
    .bind(user_id.to_string())
    .fetch_all(db.pool())
    .await?;
    Ok(rows.iter().map(token_row).collect::<Result<_, _>>()?)
}

/// The live token with this hash and its owner's id.
pub async fn token_by_hash(
    db: &Db,
    hash: &str,
    now: i64,
) -> AppResult<Option<(TokenView, String)>> {
    let r = sqlx::query(
        "SELECT id, user_id, name, scopes, created_at, expires_at, last_used_at, revoked_at, \
         tenant_ids, allow_from FROM api_tokens \
         WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(hash.to_string())
    .bind(now)
    .fetch_optional(db.pool())
    .await?;
    match r {
        Some(r) => Ok(Some((token_row(&r)?, r.try_get("user_id")?))),
        None => Ok(None),
    }
}

pub async fn touch_token(db: &Db, id: &str, now: i64) -> AppResult<()> {
    sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id.to_string())
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Revokes one of the proof's own user's tokens.
pub async fn revoke_token(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    id: &str,
    now: i64,
) -> AppResult<bool> {
    g.require(&[Action::ManageOwnAccount])?;
    let user_id = g.actor.user_id.as_deref().ok_or(AppError::Forbidden)?;
    let r = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(id.to_string())
    .bind(user_id.to_string())
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Disables a console account everywhere at once (offboarding the same person's mailbox):
/// the account, its sessions and its API tokens. Returns how many tokens were revoked.
/// Refused for the last active owner.
pub async fn disable_everywhere(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    user_id: &str,
    now: i64,
) -> AppResult<i64> {
    // Offboarding a mailbox disables the same person's console accounts.
    g.require(&[Action::ManageMailboxes, Action::ManageOperators])?;
    disable_row(c, user_id, now).await?;
    Ok(end_access(c, user_id, now).await?.1)
}

/// Incident response: ends a console account's sessions and API tokens at once, and with
/// `disable` the account too (never the last active owner). Returns (sessions ended, tokens
/// revoked).
pub async fn revoke_access(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    user_id: &str,
    disable: bool,
    now: i64,
) -> AppResult<(i64, i64)> {
    g.require(&[Action::ManageIncidents])?;
    if disable {
        disable_row(c, user_id, now).await?;
    }
    end_access(c, user_id, now).await
}

/// Someone disables a person's account (owners and operators: `ManageOperators`; a tenant's
/// admins and viewers: `InviteTenantUser` granted in a tenant the person belongs to). The
/// sessions and API tokens end in the same transaction. `Ok(None)`: it was disabled already.
pub async fn disable_user(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    user: &UserRow,
    now: i64,
) -> AppResult<Option<(i64, i64)>> {
    person_in_grant(c, g, user).await?;
    if !disable_row(c, &user.id, now).await? {
        return Ok(None);
    }
    Ok(Some(end_access(c, &user.id, now).await?))
}

/// Ends every session and revokes every API token of a person, whose account stays as it is
/// (the proof as for [`disable_user`]). Returns (sessions ended, tokens revoked).
pub async fn end_user_access(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    user: &UserRow,
    now: i64,
) -> AppResult<(i64, i64)> {
    person_in_grant(c, g, user).await?;
    end_access(c, &user.id, now).await
}

/// Enables a disabled account again; false when it was active already.
pub async fn enable_user(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    user: &UserRow,
    now: i64,
) -> AppResult<bool> {
    person_in_grant(c, g, user).await?;
    let r = sqlx::query(
        "UPDATE users SET status = 'active', updated_at = $2 WHERE id = $1 AND status = 'disabled'",
    )
    .bind(user.id.clone())
    .bind(now)
    .execute(c)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Whether the proof covers acting on this person: platform people need `ManageOperators`;
/// a tenant's people `ManageOperators` or `InviteTenantUser` in one of their tenants.
async fn person_in_grant(c: &mut AnyConnection, g: &Granted<'_>, user: &UserRow) -> AppResult<()> {
    if !user.role.is_tenant_role() {
        return g.require(&[Action::ManageOperators]);
    }
    g.require(&[Action::ManageOperators, Action::InviteTenantUser])?;
    let Some(t) = g.tenant() else {
        return Ok(());
    };
    let n: i64 = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM user_tenants WHERE user_id = $1 AND tenant_id = $2",
    )
    .bind(user.id.clone())
    .bind(t.to_string())
    .fetch_one(c)
    .await?
    .try_get("n")?;
    if n == 0 {
        return Err(AppError::NotFound);
    }
    Ok(())
}

/// Sets an account disabled unless it is the last active owner (Conflict). False when it
/// was not active. The active owners' rows are locked first: on PostgreSQL two people
/// disabling the last two owners at once queue here, and the second sees the first's
/// result; SQLite has one writer.
async fn disable_row(c: &mut AnyConnection, user_id: &str, now: i64) -> AppResult<bool> {
    sqlx::query(
        "UPDATE users SET updated_at = updated_at WHERE role = 'owner' AND status = 'active'",
    )
    .execute(&mut *c)
    .await?;
    let r = sqlx::query(
        "UPDATE users SET status = 'disabled', updated_at = $2 WHERE id = $1 AND status = 'active' \
         AND (role <> 'owner' OR EXISTS (SELECT 1 FROM users o WHERE o.role = 'owner' \
         AND o.status = 'active' AND o.id <> $1))",
    )
    .bind(user_id.to_string())
    .bind(now)
    .execute(&mut *c)
    .await?;
    if r.rows_affected() == 1 {
        return Ok(true);
    }
    let row = sqlx::query("SELECT email, role, status FROM users WHERE id = $1")
        .bind(user_id.to_string())
        .fetch_optional(c)
        .await?
        .ok_or(AppError::NotFound)?;
    let status: String = row.try_get("status")?;
    if status != "active" {
        return Ok(false);
    }
    let email: String = row.try_get("email")?;
    Err(AppError::Conflict(format!(
        "{email} is the last active owner: make someone else an owner before disabling this account."
    )))
}

/// Ends every session of an account, revokes its live API tokens and the invitations it sent
/// that are still open: (sessions, tokens).
async fn end_access(c: &mut AnyConnection, user_id: &str, now: i64) -> AppResult<(i64, i64)> {
    let sessions = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id.to_string())
        .execute(&mut *c)
        .await?
        .rows_affected() as i64;
    let tokens = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user_id.to_string())
    .bind(now)
    .execute(&mut *c)
    .await?
    .rows_affected() as i64;
    // Links the person sent and nobody used yet: a way in they would leave behind.
    sqlx::query(
        "UPDATE invites SET revoked_at = $2 WHERE created_by = $1 AND used_at IS NULL \
         AND revoked_at IS NULL",
    )
    .bind(user_id.to_string())
    .bind(now)
    .execute(c)
    .await?;
    Ok((sessions, tokens))
}

// ---------- one's own account (the user is the proof's, never a parameter) ----------

fn own_user<'a>(g: &'a Granted<'_>) -> AppResult<&'a str> {
    g.require(&[Action::ManageOwnAccount])?;
    g.actor.user_id.as_deref().ok_or(AppError::Forbidden)
}

pub async fn set_own_password(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    hash: &str,
    now: i64,
) -> AppResult<()> {
    let u = own_user(g)?;
    sqlx::query(
        "UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3 AND status = 'active'",
    )
    .bind(hash.to_string())
    .bind(now)
    .bind(u.to_string())
    .execute(c)
    .await?;
    Ok(())
}

/// A new authenticator secret, with the step of the code that confirmed it (so that code
/// cannot be used again to sign in).
pub async fn set_own_totp(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    secret: &str,
    step: i64,
    now: i64,
) -> AppResult<()> {
    let u = own_user(g)?;
    sqlx::query(
        "UPDATE users SET totp_secret = $1, totp_last_step = $2, updated_at = $3 WHERE id = $4 AND status = 'active'",
    )
    .bind(secret.to_string())
    .bind(step)
    .bind(now)
    .bind(u.to_string())
    .execute(c)
    .await?;
    Ok(())
}

/// Replaces the proof's user's recovery codes (the old ones stop working).
pub async fn replace_own_recovery_codes(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    hashes: &[String],
    now: i64,
) -> AppResult<()> {
    let u = own_user(g)?.to_string();
    insert_recovery_codes(c, &u, hashes, now).await
}

/// Ends the proof's user's sessions except the one with `keep` as its handle.
pub async fn delete_other_sessions(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    keep: Option<&str>,
) -> AppResult<i64> {
    let u = own_user(g)?;
    let r = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND handle <> $2")
        .bind(u.to_string())
        .bind(keep.unwrap_or("").to_string())
        .execute(c)
        .await?;
    Ok(r.rows_affected() as i64)
}

/// A recovery link used (authentication itself: the link is the proof): the account gets
/// the new password and authenticator and is active again; its sessions end, its API tokens
/// and open invitations are revoked. Returns how many sessions ended.
pub async fn recover_user(
    c: &mut AnyConnection,
    user_id: &str,
    password_hash: &str,
    totp_secret: &str,
    step: i64,
    now: i64,
) -> AppResult<i64> {
    sqlx::query(
        "UPDATE users SET password_hash = $1, totp_secret = $2, totp_last_step = $3, status = 'active', \
         updated_at = $4 WHERE id = $5",
    )
    .bind(password_hash.to_string())
    .bind(totp_secret.to_string())
    .bind(step)
    .bind(now)
    .bind(user_id.to_string())
    .execute(&mut *c)
    .await?;
    // Whoever held the account may have left sessions, API tokens and invitations behind.
    Ok(end_access(c, user_id, now).await?.0)
}

// ---------- reads for offboarding (the same person's accounts) ----------

/// Active console accounts with this email: (id, email, role, whether linked to `tenant_id`).
pub async fn active_accounts_for(
    c: &mut AnyConnection,
    email: &str,
    tenant_id: &str,
) -> AppResult<Vec<(String, String, Role, bool)>> {
    let rows = sqlx::query(
        "SELECT u.id, u.email, u.role, (SELECT COUNT(*) FROM user_tenants ut WHERE ut.user_id = u.id \
         AND ut.tenant_id = $2) AS here FROM users u WHERE u.email = $1 AND u.status = 'active'",
    )
    .bind(email)
    .bind(tenant_id)
    .fetch_all(c)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("id")?,
                r.try_get("email")?,
                role_of(r, "role")?,
                r.try_get::<i64, _>("here")? > 0,
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// What a person (by email) and a mailbox still hold in the console: active accounts of
/// the address, their live API tokens, and the mailbox owner's sessions.
pub struct Held {
    pub accounts: i64,
    pub api_tokens: i64,
    pub mailbox_sessions: i64,
}

pub async fn held(c: &mut AnyConnection, email: &str, mailbox_id: &str) -> AppResult<Held> {
    let r = sqlx::query(
        "SELECT \
         (SELECT CAST(COUNT(*) AS BIGINT) FROM users WHERE email = $1 AND status = 'active') AS u, \
         (SELECT CAST(COUNT(*) AS BIGINT) FROM api_tokens t JOIN users u ON u.id = t.user_id \
          WHERE u.email = $1 AND t.revoked_at IS NULL) AS t, \
         (SELECT CAST(COUNT(*) AS BIGINT) FROM sessions WHERE mailbox_id = $2) AS s",
    )
    .bind(email)
    .bind(mailbox_id)
    .fetch_one(c)
    .await?;
    Ok(Held {
        accounts: r.try_get("u")?,
        api_tokens: r.try_get("t")?,
        mailbox_sessions: r.try_get("s")?,
    })
}

/// Live API tokens of one account.
pub async fn live_tokens(c: &mut AnyConnection, user_id: &str) -> AppResult<i64> {
    let r = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(c)
    .await?;
    Ok(r.try_get("n")?)
}

/// The email of an active account.
pub async fn active_email(c: &mut AnyConnection, user_id: &str) -> AppResult<Option<String>> {
    let r = sqlx::query("SELECT email FROM users WHERE id = $1 AND status = 'active'")
        .bind(user_id)
        .fetch_optional(c)
        .await?;
    Ok(match r {
        Some(r) => Some(r.try_get("email")?),
        None => None,
    })
}

/// Ends every session of a mailbox's owner; returns how many.
pub async fn end_mailbox_sessions(c: &mut AnyConnection, mailbox_id: &str) -> AppResult<i64> {
    Ok(sqlx::query("DELETE FROM sessions WHERE mailbox_id = $1")
        .bind(mailbox_id)
        .execute(c)
        .await?
        .rows_affected() as i64)
}

// ---------- the session store's rows (auth::sessions::DbSessionStore) ----------

/// A session as tower-sessions hands it over, flattened.
pub struct SessionRow {
    pub id: String,
    pub handle: String,
    pub user_id: Option<String>,
    pub mailbox_id: Option<String>,
    pub data: String,
    pub now: i64,
    pub expires_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Inserts a session, or nothing if its id is taken; returns the rows written.
pub async fn insert_session(db: &Db, r: &SessionRow) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "INSERT INTO sessions (id, handle, user_id, data, created_at, last_seen_at, expires_at, ip, user_agent, mailbox_id) \
         VALUES ($1,$2,$3,$4,$5,$5,$6,$7,$8,$9) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&r.id)
    .bind(&r.handle)
    .bind(&r.user_id)
    .bind(&r.data)
    .bind(r.now)
    .bind(r.expires_at)
    .bind(&r.ip)
    .bind(&r.user_agent)
    .bind(&r.mailbox_id)
    .execute(db.pool())
    .await?
    .rows_affected())
}

/// Updates an existing session only (an ended one is never brought back).
pub async fn update_session(db: &Db, r: &SessionRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE sessions SET user_id = $2, mailbox_id = $3, data = $4, last_seen_at = $5, \
         expires_at = $6, ip = $7, user_agent = $8 WHERE id = $1",
    )
    .bind(&r.id)
    .bind(&r.user_id)
    .bind(&r.mailbox_id)
    .bind(&r.data)
    .bind(r.now)
    .bind(r.expires_at)
    .bind(&r.ip)
    .bind(&r.user_agent)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// A live session's data and expiry.
pub async fn live_session(
    db: &Db,
    id: &str,
    now: i64,
) -> Result<Option<(String, i64)>, sqlx::Error> {
    let row =
        sqlx::query("SELECT data, expires_at FROM sessions WHERE id = $1 AND expires_at > $2")
            .bind(id)
            .bind(now)
            .fetch_optional(db.pool())
            .await?;
    row.map(|r| Ok((r.try_get("data")?, r.try_get("expires_at")?)))
        .transpose()
}

pub async fn delete_session(db: &Db, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM sessions WHERE id = $1")
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Removes expired sessions; returns how many.
pub async fn delete_expired_sessions(db: &Db, now: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(db.pool())
        .await?
        .rows_affected())
}
