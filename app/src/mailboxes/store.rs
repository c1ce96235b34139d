//! SQL for mailboxes and their secrets. Reads for the console are confined to the actor's
//! tenant scope; lookups by address or token serve sign-in, invitations and resets.
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{AppPassword, Mailbox, MailboxInvite};
use crate::core::authz::{Action, Granted};
use crate::core::db::{fetch_in, Db, Where};
use crate::core::{AppError, AppResult};

const COLS: &str = "id, tenant_id, domain_id, address, display_name, status, quota_bytes, \
    used_bytes, critical, created_at, contact_email, invite_revealed_to, password_set_at, \
    offboarded_at, purge_after, purged_at, shared";

/// A mailbox as the database gives it ([`COLS`], by name; flags are 0 or 1): read from an
/// `AnyRow` (`sqlx::FromRow`) or from a JSON page (`db::page_json`, which asks serde for the
/// fields) — one list of columns for both.
#[derive(sqlx::FromRow, serde::Deserialize)]
struct Stored {
    id: String,
    tenant_id: String,
    domain_id: String,
    address: String,
    display_name: String,
    status: String,
    quota_bytes: Option<i64>,
    used_bytes: Option<i64>,
    critical: i64,
    created_at: i64,
    contact_email: Option<String>,
    invite_revealed_to: Option<String>,
    password_set_at: Option<i64>,
    offboarded_at: Option<i64>,
    purge_after: Option<i64>,
    purged_at: Option<i64>,
    shared: i64,
}

impl Stored {
    fn mailbox(self) -> Result<Mailbox, String> {
        Ok(Mailbox {
            status: self.status.parse()?,
            id: self.id,
            tenant_id: self.tenant_id,
            domain_id: self.domain_id,
            address: self.address,
            display_name: self.display_name,
            quota_bytes: self.quota_bytes,
            used_bytes: self.used_bytes,
            critical: self.critical != 0,
            created_at: self.created_at,
            contact_email: self.contact_email,
            invite_revealed_to: self.invite_revealed_to,
            password_set_at: self.password_set_at,
            offboarded_at: self.offboarded_at,
            purge_after: self.purge_after,
            purged_at: self.purged_at,
            shared: self.shared != 0,
        })
    }
}

fn from_row(r: &AnyRow) -> Result<Mailbox, sqlx::Error> {
    use sqlx::FromRow;
    Stored::from_row(r)?
        .mailbox()
        .map_err(|e| sqlx::Error::ColumnDecode {
            index: "status".into(),
            source: e.into(),
        })
}

/// A page of mailboxes through [`crate::core::db::page_json`] (`inner` orders by address).
async fn page(db: &Db, w: &Where, inner: &str) -> AppResult<Vec<Mailbox>> {
    let rows: Vec<Stored> = crate::core::db::page_json(db, w, inner, "r.address").await?;
    rows.into_iter()
        .map(|r| r.mailbox().map_err(AppError::internal))
        .collect()
}

/// Mailboxes of one tenant (optionally one domain), by address; at most `limit`.
pub async fn list(
    db: &Db,
    g: &Granted<'_>,
    tenant_id: &str,
    domain_id: Option<&str>,
    limit: i64,
) -> AppResult<Vec<Mailbox>> {
    let mut w = Where::new();
    w.scope("tenant_id", &g.actor.tenants);
    let p = w.arg(tenant_id);
    w.and(format!("tenant_id = {p}"));
    if let Some(d) = domain_id {
        let p = w.arg(d);
        w.and(format!("domain_id = {p}"));
    }
    let lim = w.arg(limit.clamp(1, 10_000));
    let sql = format!(
        "SELECT {COLS} FROM mailboxes{} ORDER BY address LIMIT {lim}",
        w.sql()
    );
    page(db, &w, &sql).await
}

/// Mailboxes across the actor's tenants, filtered and paged in SQL; with the total.
pub async fn search(
    db: &Db,
    g: &Granted<'_>,
    q: &super::MailboxQuery,
) -> AppResult<(Vec<super::MailboxRow>, i64)> {
    let mut w = Where::new();
    w.scope("m.tenant_id", &g.actor.tenants);
    if !q.q.trim().is_empty() {
        let p = w.arg(crate::core::db::like_term(&q.q));
        w.and(format!(
            "(LOWER(m.address) LIKE {p} OR LOWER(m.display_name) LIKE {p})"
        ));
    }
    if super::MAILBOX_STATUSES.contains(&q.status.as_str()) {
        let p = w.arg(q.status.clone());
        w.and(format!("m.status = {p}"));
    } else {
        w.and("m.status <> 'offboarded'");
    }
    let where_sql = w.sql();
    let total = if q.q.trim().is_empty() && q.status.is_empty() {
        // Every mailbox not offboarded: the domains' counters (every row) less the offboarded
        // ones, an index search — not a count of every row at each page view.
        let (_, _, all) = crate::tenancy::store::totals(db, g).await?;
        let mut o = Where::new();
        o.scope("tenant_id", &g.actor.tenants);
        o.and("status = 'offboarded'");
        let sql = format!(
            "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM mailboxes{}",
            o.sql()
        );
        let gone: i64 = o
            .bind(sqlx::query(&sql))
            .fetch_one(db.pool())
            .await?
            .try_get("n")?;
        all - gone
    } else {
        let count_sql = format!("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM mailboxes m{where_sql}");
        w.bind(sqlx::query(&count_sql))
            .fetch_one(db.pool())
            .await?
            .try_get("n")?
    };
    let lim = w.arg(super::MAILBOX_PAGE);
    let off = w.arg((q.page.clamp(1, crate::core::db::MAX_PAGE) - 1) * super::MAILBOX_PAGE);
    let cols: String = COLS
        .split(", ")
        .map(|c| format!("m.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {cols} FROM mailboxes m{where_sql} ORDER BY m.address LIMIT {lim} OFFSET {off}"
    );
    let mailboxes = page(db, &w, &sql).await?;
    let mut c = db.pool().acquire().await?;
    let tenants =
        crate::tenancy::store::labels_of(&mut c, mailboxes.iter().map(|m| m.tenant_id.as_str()))
            .await?;
    let list = mailboxes
        .into_iter()
        .map(|m| {
            let (name, slug) = tenants.get(&m.tenant_id).cloned().unwrap_or_default();
            super::MailboxRow {
                mailbox: m,
                tenant_name: name,
                tenant_slug: slug,
            }
        })
        .collect();
    Ok((list, total))
}

/// Mailboxes by id (no scope: for background jobs that were authorized when queued).
pub async fn by_ids(db: &Db, ids: &[String]) -> AppResult<Vec<Mailbox>> {
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let sql = format!("SELECT {COLS} FROM mailboxes WHERE id IN ({{in}})");
    fetch_in(&mut *db.pool().acquire().await?, &sql, &ids, from_row).await
}

/// One mailbox by id or address, inside the actor's tenants.
pub async fn get(db: &Db, g: &Granted<'_>, key: &str) -> AppResult<Option<Mailbox>> {
    let mut w = Where::new();
    w.scope("tenant_id", &g.actor.tenants);
    let p = w.arg(key);
    let q = w.arg(key.trim().to_lowercase());
    w.and(format!("(id = {p} OR address = {q})"));
    let sql = format!("SELECT {COLS} FROM mailboxes{}", w.sql());
    let row = w.bind(sqlx::query(&sql)).fetch_optional(db.pool()).await?;
    Ok(row.as_ref().map(from_row).transpose()?)
}

/// A mailbox and its password hash by address or id (sign-in, resets, the owner's session).
pub async fn credentials(
    conn: &mut AnyConnection,
    key: &str,
) -> AppResult<Option<(Mailbox, Option<String>)>> {
    let row = sqlx::query(&format!(
        "SELECT {COLS}, password_hash FROM mailboxes WHERE address = $1 OR id = $1"
    ))
    .bind(key)
    .fetch_optional(conn)
    .await?;
    Ok(match row {
        Some(r) => Some((from_row(&r)?, r.try_get("password_hash")?)),
        None => None,
    })
}

/// A new mailbox, as provisioning, imports and the benchmark seed insert it (`invited`).
pub struct NewRow<'a> {
    pub id: &'a str,
    pub tenant_id: &'a str,
    pub domain_id: &'a str,
    pub local_part: &'a str,
    pub address: &'a str,
    pub display_name: &'a str,
    pub quota: Option<i64>,
    pub critical: bool,
    pub contact_email: Option<&'a str>,
    /// A shared mailbox: active at once (others start invited).
    pub shared: bool,
}

/// Inserts new mailboxes (40 to a statement) and counts them in their domains: the one
/// mailbox insert. A taken address fails the whole call with the database's unique
/// violation (the caller's transaction then holds nothing of it). Quotas are not taken from
/// the pool here: the caller allocates first ([`crate::tenancy::store::allocate`]).
pub async fn insert_many(
    conn: &mut AnyConnection,
    g: &Granted<'_>,
    rows: &[NewRow<'_>],
    now: i64,
) -> AppResult<()> {
    for r in rows {
        g.check(r.tenant_id)?;
    }
    for chunk in rows.chunks(40) {
        let sql = format!(
            "INSERT INTO mailboxes (id, tenant_id, domain_id, local_part, address, display_name, \
             status, quota_bytes, critical, contact_email, created_at, updated_at, shared) VALUES {}",
            crate::core::db::values(
                chunk.len(),
                12,
                "({1},{2},{3},{4},{5},{6},{11},{7},{8},{9},{10},{10},{12})"
            )
        );
        let mut q = sqlx::query(&sql);
        for r in chunk {
            q = q
                .bind(r.id)
                .bind(r.tenant_id)
                .bind(r.domain_id)
                .bind(r.local_part)
                .bind(r.address)
                .bind(r.display_name)
                .bind(r.quota)
                .bind(r.critical as i64)
                .bind(r.contact_email)
                .bind(now)
                .bind(if r.shared { "active" } else { "invited" })
                .bind(r.shared as i64);
        }
        q.execute(&mut *conn).await?;
    }
    let mut per_domain: std::collections::BTreeMap<(&str, &str), i64> = Default::default();
    for r in rows {
        *per_domain.entry((r.tenant_id, r.domain_id)).or_default() += 1;
    }
    for ((tenant, domain), n) in per_domain {
        crate::tenancy::store::add_mailboxes(conn, g, tenant, domain, n).await?;
    }
    Ok(())
}

/// Deletes brand-new mailboxes (an import rolled back) with any link made for them;
/// returns how many were deleted.
pub async fn delete_new(
    conn: &mut AnyConnection,
    g: &Granted<'_>,
    tenant_id: &str,
    ids: &[String],
) -> AppResult<i64> {
    g.check(tenant_id)?;
    let mut removed = 0;
    for chunk in ids.chunks(200) {
        let mut w = Where::new();
        let list: Vec<String> = chunk.iter().map(|id| w.arg(id.clone())).collect();
        let t = w.arg(tenant_id.to_string());
        let inv = format!(
            "DELETE FROM mailbox_invites WHERE mailbox_id IN ({}) AND tenant_id = {t}",
            list.join(", ")
        );
        w.bind(sqlx::query(&inv)).execute(&mut *conn).await?;
        let mbx = format!(
            "DELETE FROM mailboxes WHERE id IN ({}) AND tenant_id = {t}",
            list.join(", ")
        );
        removed += w
            .bind(sqlx::query(&mbx))
            .execute(&mut *conn)
            .await?
            .rows_affected() as i64;
    }
    Ok(removed)
}

/// Holds a mailbox row to the end of the transaction (a no-op update); false when it is
/// offboarded (or gone).
pub async fn hold(conn: &mut AnyConnection, g: &Granted<'_>, id: &str) -> AppResult<bool> {
    guard(&mut *conn, g, id).await?;
    Ok(sqlx::query(
        "UPDATE mailboxes SET updated_at = updated_at WHERE id = $1 AND status <> 'offboarded'",
    )
    .bind(id)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

pub async fn set_contact_email(
    conn: &mut AnyConnection,
    g: &Granted<'_>,
    id: &str,
    email: Option<&str>,
) -> AppResult<()> {
    guard(&mut *conn, g, id).await?;
    sqlx::query("UPDATE mailboxes SET contact_email = $2 WHERE id = $1")
        .bind(id)
        .bind(email)
        .execute(conn)
        .await?;
    Ok(())
}

/// The editable details of a mailbox, as [`update_details`] writes them.
pub struct Details<'a> {
    pub display_name: &'a str,
    pub contact_email: Option<&'a str>,
    pub quota: Option<i64>,
    pub critical: bool,
}

/// Writes a mailbox's details, unless it was offboarded meanwhile (false). The pool is the
/// caller's: it allocates or releases the difference first.
pub async fn update_details(
    conn: &mut AnyConnection,
    g: &Granted<'_>,
    id: &str,
    d: &Details<'_>,
    now: i64,
) -> AppResult<bool> {
    guard(&mut *conn, g, id).await?;
    Ok(sqlx::query(
        "UPDATE mailboxes SET display_name = $2, contact_email = $3, quota_bytes = $4, \
         critical = $5, updated_at = $6 WHERE id = $1 AND status <> 'offboarded'",
    )
    .bind(id)
    .bind(d.display_name)
    .bind(d.contact_email)
    .bind(d.quota)
    .bind(d.critical as i64)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Sets the critical flag from `from` to `to`; false when it was not `from` (someone changed
/// it meanwhile) or the mailbox is offboarded.
pub async fn swap_critical(
    conn: &mut AnyConnection,
    g: &Granted<'_>,
    id: &str,
    from: bool,
    to: bool,
    now: i64,
) -> AppResult<bool> {
    guard(&mut *conn, g, id).await?;
    Ok(sqlx::query(
        "UPDATE mailboxes SET critical = $3, updated_at = $4 \
         WHERE id = $1 AND critical = $2 AND status <> 'offboarded'",
    )
    .bind(id)
    .bind(from as i64)
    .bind(to as i64)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Unlocks a locked mailbox (its password works again); false when it was not locked.
pub async fn unlock(
    conn: &mut AnyConnection,
    g: &Granted<'_>,
    id: &str,
    now: i64,
) -> AppResult<bool> {
    guard(&mut *conn, g, id).await?;
    Ok(sqlx::query(
        "UPDATE mailboxes SET status = 'active', updated_at = $2 WHERE id = $1 AND status = 'locked'",
    )
    .bind(id)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Marks a mailbox offboarded (no password, no revealed link, mail kept until
/// `purge_after`); false if it was offboarded already (two offboardings at once give one).
pub async fn mark_offboarded(
    conn: &mut AnyConnection,
    g: &Granted<'_>,
    m: &Mailbox,
    purge_after: i64,
    now: i64,
) -> AppResult<bool> {
    g.check(&m.tenant_id)?;
    Ok(sqlx::query(
        "UPDATE mailboxes SET status = 'offboarded', password_hash = NULL, invite_revealed_to = NULL, \
         offboarded_at = $2, purge_after = $3, updated_at = $2 WHERE id = $1 AND status <> 'offboarded'",
    )
    .bind(&m.id)
    .bind(now)
    .bind(purge_after)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Uses up every unused recovery code of a mailbox; returns how many.
pub async fn burn_codes(
    conn: &mut AnyConnection,
    g: &Granted<'_>,
    mailbox_id: &str,
    now: i64,
) -> AppResult<i64> {
    guard(&mut *conn, g, mailbox_id).await?;
    Ok(sqlx::query(
        "UPDATE mailbox_recovery_codes SET used_at = $2 WHERE mailbox_id = $1 AND used_at IS NULL",
    )
    .bind(mailbox_id)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected() as i64)
}

/// Withdraws one link that could not be sent; returns its mailbox and tenant if it was open.
pub async fn withdraw_invite(
    conn: &mut AnyConnection,
    g: &Granted<'_>,
    id: &str,
    now: i64,
) -> AppResult<Option<(String, String)>> {
    guard_invite(&mut *conn, g, id).await?;
    let r = sqlx::query(
        "UPDATE mailbox_invites SET revoked_at = $2 WHERE id = $1 AND used_at IS NULL \
         AND revoked_at IS NULL RETURNING mailbox_id, tenant_id",
    )
    .bind(id)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(match r {
        Some(r) => Some((r.try_get("mailbox_id")?, r.try_get("tenant_id")?)),
        None => None,
    })
}

/// An offboarding's receipt, as written in its transaction.
pub struct NewReceipt<'a> {
    pub id: &'a str,
    pub mailbox: &'a Mailbox,
    pub options: &'a serde_json::Value,
    pub revoked: &'a str,
}

pub async fn insert_receipt(
    conn: &mut AnyConnection,
    g: &Granted<'_>,
    r: &NewReceipt<'_>,
    now: i64,
) -> AppResult<()> {
    g.check(&r.mailbox.tenant_id)?;
    sqlx::query(
        "INSERT INTO offboarding_receipts (id, mailbox_id, tenant_id, address, actor_id, actor_label, \
         at, options, revoked) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
    )
    .bind(r.id)
    .bind(&r.mailbox.id)
    .bind(&r.mailbox.tenant_id)
    .bind(&r.mailbox.address)
    .bind(g.actor.user_id.clone())
    .bind(&g.actor.label)
    .bind(now)
    .bind(r.options.to_string())
    .bind(r.revoked)
    .execute(conn)
    .await?;
    Ok(())
}

/// Stores the verification scan on its receipt.
pub async fn set_receipt_scan(
    conn: &mut AnyConnection,
    g: &Granted<'_>,
    id: &str,
    scan: &str,
    clean: bool,
    now: i64,
) -> AppResult<()> {
    guard_receipt(&mut *conn, g, id).await?;
    sqlx::query(
        "UPDATE offboarding_receipts SET scan = $2, scan_clean = $3, scan_at = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(scan)
    .bind(clean as i64)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_status(
    conn: &mut AnyConnection,
    g: &Granted<'_>,
    id: &str,
    status: &str,
    now: i64,
) -> AppResult<()> {
    guard(&mut *conn, g, id).await?;
    sqlx::query("UPDATE mailboxes SET status = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(status)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Sets the owner's password. With `unlock` (an operator's link: activation or reset) an
/// invited or locked mailbox becomes active; without it (the owner's own change or
/// recovery-code reset) only an active mailbox changes, so a lock set meanwhile holds.
/// Any "revealed to" mark goes. Returns whether the mailbox changed.
pub async fn set_password(
    conn: &mut AnyConnection,
    g: &Granted<'_>,
    id: &str,
    hash: &str,
    now: i64,
    unlock: bool,
) -> AppResult<bool> {
    guard(&mut *conn, g, id).await?;
    let only = if unlock {
        "status <> 'offboarded'"
    } else {
        "status = 'active'"
    };
    let n = sqlx::query(&format!(
        "UPDATE mailboxes SET password_hash = $2, password_set_at = $3, status = 'active', \
         invite_revealed_to = NULL, updated_at = $3 WHERE id = $1 AND {only}"
    ))
    .bind(id)
    .bind(hash)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

pub async fn mark_revealed(
    conn: &mut AnyConnection,
    g: &Granted<'_>,
    id: &str,
    to: &str,
) -> AppResult<()> {
    guard(&mut *conn, g, id).await?;
    sqlx::query("UPDATE mailboxes SET invite_revealed_to = $2 WHERE id = $1")
        .bind(id)
        .bind(to)
        .execute(conn)
        .await?;
    Ok(())
}

// ---------- invitation links ----------

pub struct InviteRecord {
    pub id: String,
    pub mailbox_id: String,
    pub purpose: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_invite(
    conn: &mut AnyConnection,
    g: &Granted<'_>,
    id: &str,
    mailbox_id: &str,
    tenant_id: &str,
    purpose: &str,
    token_hash: &str,
    send_to: Option<&str>,
    delivery: &str,
    reason: Option<&str>,
    by: &crate::core::authz::Actor,
    now: i64,
    expires_at: i64,
) -> AppResult<()> {
    guard(&mut *conn, g, mailbox_id).await?;
    sqlx::query(
        "INSERT INTO mailbox_invites (id, mailbox_id, tenant_id, purpose, token_hash, send_to, \
         delivery, reason, created_by, created_by_label, created_at, expires_at) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
    )
    .bind(id)
    .bind(mailbox_id)
    .bind(tenant_id)
    .bind(purpose)
    .bind(token_hash)
    .bind(send_to)
    .bind(delivery)
    .bind(reason)
    .bind(by.user_id.clone())
    .bind(by.label.clone())
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn open_invite(db: &Db, mailbox_id: &str, now: i64) -> AppResult<Option<MailboxInvite>> {
    let row = sqlx::query(
        "SELECT id, purpose, send_to, delivery, reason, created_by_label, created_at, expires_at, \
         revealed_at FROM mailbox_invites WHERE mailbox_id = $1 AND used_at IS NULL \
         AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at DESC LIMIT 1",
    )
    .bind(mailbox_id)
    .bind(now)
    .fetch_optional(db.pool())
    .await?;
    Ok(match row {
        Some(r) => Some(MailboxInvite {
            id: r.try_get("id")?,
            purpose: r.try_get("purpose")?,
            send_to: r.try_get("send_to")?,
            delivery: r.try_get("delivery")?,
            reason: r.try_get("reason")?,
            created_by: r.try_get("created_by_label")?,
            created_at: r.try_get("created_at")?,
            expires_at: r.try_get("expires_at")?,
            revealed_at: r.try_get("revealed_at")?,
        }),
        None => None,
    })
}

pub async fn invite_by_hash(db: &Db, hash: &str) -> AppResult<Option<InviteRecord>> {
    let row = sqlx::query(
        "SELECT id, mailbox_id, purpose, expires_at, used_at, revoked_at FROM mailbox_invites \
         WHERE token_hash = $1",
    )
    .bind(hash)
    .fetch_optional(db.pool())
    .await?;
    Ok(match row {
        Some(r) => Some(InviteRecord {
            id: r.try_get("id")?,
            mailbox_id: r.try_get("mailbox_id")?,
            purpose: r.try_get("purpose")?,
            expires_at: r.try_get("expires_at")?,
            used_at: r.try_get("used_at")?,
            revoked_at: r.try_get("revoked_at")?,
        }),
        None => None,
    })
}

/// Revokes every open link of a mailbox (a new one replaces them); returns how many.
pub async fn revoke_open_invites(
    conn: &mut AnyConnection,
    g: &Granted<'_>,
    mailbox_id: &str,
    now: i64,
) -> AppResult<i64> {
    guard(&mut *conn, g, mailbox_id).await?;
    let n = sqlx::query(
        "UPDATE mailbox_invites SET revoked_at = $2 WHERE mailbox_id = $1 AND used_at IS NULL \
         AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(mailbox_id)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n as i64)
}

/// The id of the mailbox's open link (there is at most one: issuing a link revokes the
/// others), so a reset's apply can record the link it issued.
pub async fn open_invite_id(
    conn: &mut AnyConnection,
    mailbox_id: &str,
) -> AppResult<Option<String>> {
    Ok(sqlx::query(
        "SELECT id FROM mailbox_invites WHERE mailbox_id = $1 AND used_at IS NULL \
         AND revoked_at IS NULL ORDER BY created_at DESC, id LIMIT 1",
    )
    .bind(mailbox_id)
    .fetch_optional(conn)
    .await?
    .map(|r| r.try_get("id"))
    .transpose()?)
}

/// Whether a link was used (a rollback of a reset refuses once the owner has used it).
pub async fn invite_used(conn: &mut AnyConnection, id: &str) -> AppResult<bool> {
    Ok(
        sqlx::query("SELECT used_at FROM mailbox_invites WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?
            .map(|r| r.try_get::<Option<i64>, _>("used_at"))
            .transpose()?
            .flatten()
            .is_some(),
    )
}

/// Consumes a link (only if still open: two tabs racing on one link set one password).
pub async fn use_invite(conn: &mut AnyConnection, id: &str, now: i64) -> AppResult<bool> {
    let n = sqlx::query(
        "UPDATE mailbox_invites SET used_at = $2 WHERE id = $1 AND used_at IS NULL \
         AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(id)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Replaces a link's token for a one-time reveal (only once per link, only while open).
pub async fn reveal_invite(
    conn: &mut AnyConnection,
    g: &Granted<'_>,
    id: &str,
    token_hash: &str,
    by: &str,
    now: i64,
) -> AppResult<bool> {
    guard_invite(&mut *conn, g, id).await?;
    let n = sqlx::query(
        "UPDATE mailbox_invites SET token_hash = $2, revealed_at = $4, revealed_by = $3, \
         delivery = 'reveal' WHERE id = $1 AND revealed_at IS NULL AND used_at IS NULL \
         AND revoked_at IS NULL AND expires_at > $4",
    )
    .bind(id)
    .bind(token_hash)
    .bind(by)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

// ---------- recovery codes ----------

/// Replaces all recovery codes of a mailbox with new ones (old ones stop working).
pub async fn replace_codes(
    conn: &mut AnyConnection,
    g: &Granted<'_>,
    mailbox_id: &str,
    hashes: &[String],
    now: i64,
) -> AppResult<()> {
    guard(&mut *conn, g, mailbox_id).await?;
    sqlx::query("DELETE FROM mailbox_recovery_codes WHERE mailbox_id = $1")
        .bind(mailbox_id)
        .execute(&mut *conn)
        .await?;
    for h in hashes {
        sqlx::query(
            "INSERT INTO mailbox_recovery_codes (id, mailbox_id, code_hash, created_at) VALUES ($1,$2,$3,$4)",
        )
        .bind(crate::core::secrets::new_id("mrc"))
        .bind(mailbox_id)
        .bind(h)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

pub async fn consume_code(
    conn: &mut AnyConnection,
    mailbox_id: &str,
    hash: &str,
    now: i64,
) -> AppResult<bool> {
    let n = sqlx::query(
        "UPDATE mailbox_recovery_codes SET used_at = $3 WHERE id = (SELECT id FROM \
         mailbox_recovery_codes WHERE mailbox_id = $1 AND code_hash = $2 AND used_at IS NULL LIMIT 1) \
         AND used_at IS NULL",
    )
    .bind(mailbox_id)
    .bind(hash)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

pub async fn codes_left(db: &Db, mailbox_id: &str) -> AppResult<i64> {
    let r = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM mailbox_recovery_codes WHERE mailbox_id = $1 AND used_at IS NULL",
    )
    .bind(mailbox_id)
    .fetch_one(db.pool())
    .await?;
    Ok(r.try_get("n")?)
}

async fn end_sessions(conn: &mut AnyConnection, mailbox_id: &str) -> AppResult<i64> {
    crate::auth::store::end_mailbox_sessions(conn, mailbox_id).await
}

/// What cutting a mailbox's access ended.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cut {
    pub sessions: i64,
    pub app_passwords: i64,
}

/// Ends every self-service session of a mailbox and revokes all its app passwords: what a
/// lock, a password reset or change, and offboarding all do, in the caller's transaction.
pub async fn cut_access(
    conn: &mut AnyConnection,
    g: &Granted<'_>,
    mailbox_id: &str,
    now: i64,
) -> AppResult<Cut> {
    guard(&mut *conn, g, mailbox_id).await?;
    let sessions = end_sessions(&mut *conn, mailbox_id).await?;
    let app_passwords = revoke_app_passwords(conn, g, mailbox_id, None, now).await?;
    Ok(Cut {
        sessions,
        app_passwords,
    })
}

// ---------- app passwords ----------

#[allow(clippy::too_many_arguments)]
pub async fn insert_app_password(
    conn: &mut AnyConnection,
    g: &Granted<'_>,
    id: &str,
    mailbox_id: &str,
    tenant_id: &str,
    name: &str,
    protocols: &str,
    selector: &str,
    hash: &str,
    now: i64,
    expires_at: Option<i64>,
) -> AppResult<()> {
    guard(&mut *conn, g, mailbox_id).await?;
    sqlx::query(
        "INSERT INTO app_passwords (id, mailbox_id, tenant_id, name, protocols, selector, \
         secret_hash, created_at, expires_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
    )
    .bind(id)
    .bind(mailbox_id)
    .bind(tenant_id)
    .bind(name)
    .bind(protocols)
    .bind(selector)
    .bind(hash)
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether a live app password of this mailbox already starts with `selector` (the mail
/// plane finds app passwords by it, so it must be unique per mailbox).
pub async fn app_selector_taken(
    conn: &mut AnyConnection,
    mailbox_id: &str,
    selector: &str,
) -> AppResult<bool> {
    Ok(sqlx::query(
        "SELECT 1 FROM app_passwords WHERE mailbox_id = $1 AND selector = $2 AND revoked_at IS NULL",
    )
    .bind(mailbox_id)
    .bind(selector)
    .fetch_optional(conn)
    .await?
    .is_some())
}

pub async fn app_passwords(db: &Db, mailbox_id: &str) -> AppResult<Vec<AppPassword>> {
    let rows = sqlx::query(
        "SELECT id, name, protocols, created_at, expires_at, revoked_at, selector \
         FROM app_passwords WHERE mailbox_id = $1 ORDER BY revoked_at IS NOT NULL, created_at DESC",
    )
    .bind(mailbox_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(AppPassword {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                protocols: r
                    .try_get::<String, _>("protocols")?
                    .split_whitespace()
                    .map(str::to_string)
                    .collect(),
                created_at: r.try_get("created_at")?,
                expires_at: r.try_get("expires_at")?,
                revoked_at: r.try_get("revoked_at")?,
                works_for_mail: r.try_get::<Option<String>, _>("selector")?.is_some(),
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// Revokes one app password of a mailbox, or all of them (`id` none); returns how many.
pub async fn revoke_app_passwords(
    conn: &mut AnyConnection,
    g: &Granted<'_>,
    mailbox_id: &str,
    id: Option<&str>,
    now: i64,
) -> AppResult<i64> {
    guard(&mut *conn, g, mailbox_id).await?;
    let n = sqlx::query(
        "UPDATE app_passwords SET revoked_at = $3 WHERE mailbox_id = $1 AND revoked_at IS NULL \
         AND ($2 = '' OR id = $2)",
    )
    .bind(mailbox_id)
    .bind(id.unwrap_or(""))
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(n as i64)
}

// ---------- the write guard ----------

/// Whether a proof lets its holder write mailbox `mailbox_id`: the mailbox's owner
/// (`ManageOwnMailbox`, their own mailbox only) or whoever manages mailboxes in its tenant
/// (`ManageMailboxes`, or `RevealInvite`/`RevokeInvite` for its links, within the proof's
/// scope). Outside it the mailbox does not exist for
/// them (404). Every mutating function of this store calls it first.
async fn guard(conn: &mut AnyConnection, g: &Granted<'_>, mailbox_id: &str) -> AppResult<()> {
    match g.action {
        Action::ManageOwnMailbox if g.actor.mailbox_id() == Some(mailbox_id) => Ok(()),
        Action::ManageOwnMailbox => Err(AppError::NotFound),
        // A delegation holds both mailbox rows (the owner's and the delegate's, of one
        // tenant), whoever grants it: the tenant's managers or the mailbox's owner.
        Action::ManageMailboxes
        | Action::RevealInvite
        | Action::RevokeInvite
        | Action::DelegateMailbox
        | Action::DelegateOwnMailbox => {
            let tenant: Option<String> =
                sqlx::query("SELECT tenant_id FROM mailboxes WHERE id = $1")
                    .bind(mailbox_id)
                    .fetch_optional(conn)
                    .await?
                    .map(|r| r.try_get("tenant_id"))
                    .transpose()?;
            g.check(tenant.as_deref().ok_or(AppError::NotFound)?)
        }
        _ => Err(AppError::Forbidden),
    }
}

/// [`guard`] for the mailbox of an invitation link.
async fn guard_invite(conn: &mut AnyConnection, g: &Granted<'_>, invite_id: &str) -> AppResult<()> {
    let mailbox: Option<String> =
        sqlx::query("SELECT mailbox_id FROM mailbox_invites WHERE id = $1")
            .bind(invite_id)
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| r.try_get("mailbox_id"))
            .transpose()?;
    guard(conn, g, mailbox.as_deref().ok_or(AppError::NotFound)?).await
}

/// [`guard`] for the mailbox of an offboarding receipt.
async fn guard_receipt(
    conn: &mut AnyConnection,
    g: &Granted<'_>,
    receipt_id: &str,
) -> AppResult<()> {
    let mailbox: Option<String> =
        sqlx::query("SELECT mailbox_id FROM offboarding_receipts WHERE id = $1")
            .bind(receipt_id)
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| r.try_get("mailbox_id"))
            .transpose()?;
    guard(conn, g, mailbox.as_deref().ok_or(AppError::NotFound)?).await
}

// ---------- reads for other capabilities and the offboarding scan ----------

/// What a mailbox still holds that offboarding revokes: live app passwords, open invitation
/// links, unused recovery codes.
pub struct Held {
    pub app_passwords: i64,
    pub invites: i64,
    pub recovery_codes: i64,
    /// Delegations both ways (others sending as it, it sending as others).
    pub delegations: i64,
}

pub async fn held(conn: &mut AnyConnection, mailbox_id: &str) -> AppResult<Held> {
    let r = sqlx::query(
        "SELECT \
         (SELECT CAST(COUNT(*) AS BIGINT) FROM app_passwords WHERE mailbox_id = $1 AND revoked_at IS NULL) AS a, \
         (SELECT CAST(COUNT(*) AS BIGINT) FROM mailbox_invites WHERE mailbox_id = $1 AND used_at IS NULL \
          AND revoked_at IS NULL) AS i, \
         (SELECT CAST(COUNT(*) AS BIGINT) FROM mailbox_recovery_codes WHERE mailbox_id = $1 AND used_at IS NULL) AS c, \
         (SELECT CAST(COUNT(*) AS BIGINT) FROM mailbox_delegations WHERE mailbox_id = $1 OR delegate_id = $1) AS d",
    )
    .bind(mailbox_id)
    .fetch_one(conn)
    .await?;
    Ok(Held {
        app_passwords: r.try_get("a")?,
        invites: r.try_get("i")?,
        recovery_codes: r.try_get("c")?,
        delegations: r.try_get("d")?,
    })
}

/// The newest offboarding receipt of a mailbox.
pub async fn latest_receipt(
    db: &Db,
    mailbox_id: &str,
) -> AppResult<Option<super::OffboardingReceipt>> {
    let row = sqlx::query(
        "SELECT id, mailbox_id, tenant_id, address, actor_label, at, options, revoked, scan, \
         scan_clean, scan_at, purge FROM offboarding_receipts WHERE mailbox_id = $1 ORDER BY at DESC LIMIT 1",
    )
    .bind(mailbox_id)
    .fetch_optional(db.pool())
    .await?;
    let Some(r) = row else { return Ok(None) };
    let bad = |e: serde_json::Error| crate::core::AppError::internal(e);
    let options: serde_json::Value =
        serde_json::from_str(&r.try_get::<String, _>("options")?).map_err(bad)?;
    let scan: Option<String> = r.try_get("scan")?;
    Ok(Some(super::OffboardingReceipt {
        id: r.try_get("id")?,
        mailbox_id: r.try_get("mailbox_id")?,
        tenant_id: r.try_get("tenant_id")?,
        address: r.try_get("address")?,
        by: r.try_get("actor_label")?,
        at: r.try_get("at")?,
        keep_days: options["keep_days"].as_i64().unwrap_or(0),
        reason: options["reason"].as_str().unwrap_or("").to_string(),
        revoked: serde_json::from_str(&r.try_get::<String, _>("revoked")?).map_err(bad)?,
        scan: scan
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(bad)?
            .unwrap_or_default(),
        scan_clean: r.try_get::<Option<i64>, _>("scan_clean")?.unwrap_or(0) != 0,
        scan_at: r.try_get("scan_at")?,
        purge: r
            .try_get::<Option<String>, _>("purge")?
            .map(|p| serde_json::from_str(&p))
            .transpose()
            .map_err(bad)?,
    }))
}

/// Offboarded mailboxes whose mail is due for deletion (retention passed, not purged yet),
/// oldest first; at most `limit`.
pub async fn purge_due(db: &Db, now: i64, limit: i64) -> AppResult<Vec<Mailbox>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLS} FROM mailboxes WHERE status = 'offboarded' AND purged_at IS NULL \
         AND purge_after <= $1 ORDER BY purge_after LIMIT $2"
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// Records that an offboarded mailbox's mail was deleted; false when it was not due or was
/// purged already (checked in the statement).
pub async fn mark_purged(
    conn: &mut AnyConnection,
    g: &Granted<'_>,
    m: &Mailbox,
    now: i64,
) -> AppResult<bool> {
    g.check(&m.tenant_id)?;
    Ok(sqlx::query(
        "UPDATE mailboxes SET purged_at = $2, purge_error = NULL, updated_at = $2 WHERE id = $1 \
         AND status = 'offboarded' AND purged_at IS NULL AND purge_after <= $2",
    )
    .bind(&m.id)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Notes why the mail could not be deleted; true when that is news (the first failure, or
/// another reason than the last one).
pub async fn note_purge_error(
    conn: &mut AnyConnection,
    g: &Granted<'_>,
    m: &Mailbox,
    error: &str,
) -> AppResult<bool> {
    g.check(&m.tenant_id)?;
    Ok(sqlx::query(
        "UPDATE mailboxes SET purge_error = $2 WHERE id = $1 AND purged_at IS NULL \
         AND (purge_error IS NULL OR purge_error <> $2)",
    )
    .bind(&m.id)
    .bind(error.to_string())
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Moves an offboarded mailbox's deletion to `until`; false unless the mail is still kept
/// (not purged, the date not passed) and `until` is later than the date in force.
pub async fn extend_retention(
    conn: &mut AnyConnection,
    g: &Granted<'_>,
    m: &Mailbox,
    until: i64,
    now: i64,
) -> AppResult<bool> {
    g.check(&m.tenant_id)?;
    Ok(sqlx::query(
        "UPDATE mailboxes SET purge_after = $2, updated_at = $3 WHERE id = $1 \
         AND status = 'offboarded' AND purged_at IS NULL AND purge_after > $3 AND purge_after < $2",
    )
    .bind(&m.id)
    .bind(until)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Stores the purge's record on the mailbox's latest receipt.
pub async fn set_receipt_purge(
    conn: &mut AnyConnection,
    g: &Granted<'_>,
    id: &str,
    purge: &str,
) -> AppResult<()> {
    guard_receipt(&mut *conn, g, id).await?;
    sqlx::query("UPDATE offboarding_receipts SET purge = $2 WHERE id = $1")
        .bind(id)
        .bind(purge)
        .execute(conn)
        .await?;
    Ok(())
}

/// The addresses among `addresses` that are taken by a mailbox (any status).
pub async fn taken(
    conn: &mut AnyConnection,
    addresses: &[&str],
) -> AppResult<std::collections::HashSet<String>> {
    let sql = "SELECT address FROM mailboxes WHERE address IN ({in})";
    let found = fetch_in(conn, sql, addresses, |r| r.try_get("address")).await?;
    Ok(found.into_iter().collect())
}

/// A mailbox that is not offboarded, by address: (id, tenant, status).
pub async fn live_at(
    conn: &mut AnyConnection,
    address: &str,
) -> AppResult<Option<(String, String, String)>> {
    let r = sqlx::query(
        "SELECT id, tenant_id, status FROM mailboxes WHERE address = $1 AND status <> 'offboarded'",
    )
    .bind(address)
    .fetch_optional(conn)
    .await?;
    Ok(match r {
        Some(r) => Some((
            r.try_get("id")?,
            r.try_get("tenant_id")?,
            r.try_get("status")?,
        )),
        None => None,
    })
}

/// The domain id of the mailbox at `address`.
pub async fn domain_of(conn: &mut AnyConnection, address: &str) -> AppResult<Option<String>> {
    let r = sqlx::query("SELECT domain_id FROM mailboxes WHERE address = $1")
        .bind(address)
        .fetch_optional(conn)
        .await?;
    Ok(match r {
        Some(r) => Some(r.try_get("domain_id")?),
        None => None,
    })
}

/// Whether `address` is a mailbox that receives mail (active or locked).
pub async fn receives(conn: &mut AnyConnection, address: &str) -> AppResult<bool> {
    let r = sqlx::query(
        "SELECT 1 AS one FROM mailboxes WHERE address = $1 AND status IN ('active', 'locked')",
    )
    .bind(address)
    .fetch_optional(conn)
    .await?;
    Ok(r.is_some())
}

/// Of `ids`, the mailboxes that receive mail (active or locked).
pub async fn receiving(
    conn: &mut AnyConnection,
    ids: &[&str],
) -> AppResult<std::collections::HashSet<String>> {
    let sql = "SELECT id FROM mailboxes WHERE id IN ({in}) AND status IN ('active', 'locked')";
    let found = fetch_in(conn, sql, ids, |r| r.try_get("id")).await?;
    Ok(found.into_iter().collect())
}

/// The tenant's mailboxes counted, for its counters (see `tenancy::store::recount`).
pub async fn tally(
    conn: &mut AnyConnection,
    tenant_id: &str,
) -> AppResult<crate::tenancy::store::Tally> {
    let rows = sqlx::query(
        "SELECT domain_id, CAST(COUNT(*) AS BIGINT) AS n FROM mailboxes WHERE tenant_id = $1 \
         GROUP BY domain_id",
    )
    .bind(tenant_id)
    .fetch_all(&mut *conn)
    .await?;
    let per_domain = rows
        .iter()
        .map(|r| Ok((r.try_get("domain_id")?, r.try_get("n")?)))
        .collect::<Result<_, sqlx::Error>>()?;
    let allocated: i64 = sqlx::query(
        "SELECT CAST(COALESCE(SUM(quota_bytes), 0) AS BIGINT) AS a FROM mailboxes \
         WHERE tenant_id = $1 AND status <> 'offboarded'",
    )
    .bind(tenant_id)
    .fetch_one(conn)
    .await?
    .try_get("a")?;
    Ok(crate::tenancy::store::Tally {
        per_domain,
        allocated,
    })
}

const IDENTITY_COLS: &str =
    "i.id, i.mailbox_id, m.address, i.service, i.note, i.added_by_label, i.added_at";

fn identity(r: &AnyRow) -> Result<super::Identity, sqlx::Error> {
    Ok(super::Identity {
        id: r.try_get("id")?,
        mailbox_id: r.try_get("mailbox_id")?,
        address: r.try_get("address")?,
        service: r.try_get("service")?,
        note: r.try_get("note")?,
        added_by: r.try_get("added_by_label")?,
        added_at: r.try_get("added_at")?,
    })
}

/// The outside services that use these mailboxes as their address, by mailbox then service.
pub async fn identities(db: &Db, mailbox_ids: &[&str]) -> AppResult<Vec<super::Identity>> {
    let mut c = db.pool().acquire().await?;
    let sql = format!(
        "SELECT {IDENTITY_COLS} FROM mailbox_identities i JOIN mailboxes m ON m.id = i.mailbox_id \
         WHERE i.mailbox_id IN ({{in}}) ORDER BY m.address, LOWER(i.service)"
    );
    fetch_in(&mut c, &sql, mailbox_ids, identity).await
}

/// Those of the proof's tenants (one tenant, or all it covers), at most `limit`.
pub async fn identities_in(
    db: &Db,
    g: &Granted<'_>,
    tenant_id: Option<&str>,
    limit: i64,
) -> AppResult<Vec<super::Identity>> {
    let mut w = Where::new();
    w.granted("i.tenant_id", g);
    if let Some(t) = tenant_id {
        let p = w.arg(t);
        w.and(format!("i.tenant_id = {p}"));
    }
    let sql = format!(
        "SELECT {IDENTITY_COLS} FROM mailbox_identities i JOIN mailboxes m ON m.id = i.mailbox_id{} \
         ORDER BY m.address, LOWER(i.service) LIMIT {limit}",
        w.sql()
    );
    let rows = w.bind(sqlx::query(&sql)).fetch_all(db.pool()).await?;
    Ok(rows.iter().map(identity).collect::<Result<_, _>>()?)
}

/// Adds one; false when the mailbox already lists the service (any case).
pub async fn add_identity(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    m: &Mailbox,
    id: &str,
    service: &str,
    note: &str,
    now: i64,
) -> AppResult<bool> {
    g.require(&[Action::ManageMailboxes, Action::ManageOwnMailbox])?;
    g.check(&m.tenant_id)?;
    let r = sqlx::query(
        "INSERT INTO mailbox_identities (id, mailbox_id, tenant_id, service, note, added_by_label, added_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(&m.id)
    .bind(&m.tenant_id)
    .bind(service)
    .bind(note)
    .bind(&g.actor.label)
    .bind(now)
    .execute(c)
    .await;
    match r {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// How many services a mailbox lists.
pub async fn identity_count(c: &mut AnyConnection, mailbox_id: &str) -> AppResult<i64> {
    let r = sqlx::query("SELECT COUNT(*) AS n FROM mailbox_identities WHERE mailbox_id = $1")
        .bind(mailbox_id)
        .fetch_one(c)
        .await?;
    Ok(r.try_get("n")?)
}

/// Removes one; the service's name when it was there.
pub async fn remove_identity(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    m: &Mailbox,
    id: &str,
) -> AppResult<Option<String>> {
    g.require(&[Action::ManageMailboxes, Action::ManageOwnMailbox])?;
    g.check(&m.tenant_id)?;
    let r = sqlx::query(
        "DELETE FROM mailbox_identities WHERE id = $1 AND mailbox_id = $2 RETURNING service",
    )
    .bind(id)
    .bind(&m.id)
    .fetch_optional(c)
    .await?;
    Ok(r.map(|r| r.try_get("service")).transpose()?)
}

// ---------- mailbox_delegations: who may send as a mailbox, or open its folders ----------

/// A delegation with both addresses: `SELECT {DELEGATION_COLS} FROM {DELEGATIONS} WHERE …`.
const DELEGATION_COLS: &str = "g.mailbox_id, s.address AS address, g.delegate_id, \
    dm.address AS delegate, g.send_as, g.folders, g.created_at, g.created_by_label";
const DELEGATIONS: &str = "mailbox_delegations g JOIN mailboxes s ON s.id = g.mailbox_id \
    JOIN mailboxes dm ON dm.id = g.delegate_id";

fn delegation(r: &AnyRow) -> Result<super::Delegation, sqlx::Error> {
    Ok(super::Delegation {
        mailbox_id: r.try_get("mailbox_id")?,
        address: r.try_get("address")?,
        delegate_id: r.try_get("delegate_id")?,
        delegate: r.try_get("delegate")?,
        send_as: r.try_get::<i64, _>("send_as")? != 0,
        folders: crate::types::FolderAccess::parse(&r.try_get::<String, _>("folders")?)
            .unwrap_or_default(),
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by_label")?,
    })
}

/// The delegations of a mailbox, both ways (the caller has its proof).
pub async fn delegations(db: &Db, mailbox_id: &str) -> AppResult<super::Delegations> {
    let sql = format!(
        "SELECT {DELEGATION_COLS} FROM {DELEGATIONS} \
         WHERE g.mailbox_id = $1 OR g.delegate_id = $1 ORDER BY s.address, dm.address"
    );
    let rows = sqlx::query(&sql)
        .bind(mailbox_id)
        .fetch_all(db.pool())
        .await?;
    let mut out = super::Delegations::default();
    for r in &rows {
        let d = delegation(r)?;
        if d.mailbox_id == mailbox_id {
            out.delegates.push(d);
        } else {
            out.granted.push(d);
        }
    }
    Ok(out)
}

/// The delegations of the proof's tenants (one tenant, or all it covers) made at or after
/// `since`, at most `limit` — the persistence report's and the incident hunt's.
pub async fn delegations_in(
    db: &Db,
    g: &Granted<'_>,
    tenant_id: Option<&str>,
    since: i64,
    limit: i64,
) -> AppResult<Vec<super::Delegation>> {
    let mut w = Where::new();
    w.granted("g.tenant_id", g);
    if let Some(t) = tenant_id {
        let p = w.arg(t);
        w.and(format!("g.tenant_id = {p}"));
    }
    let p = w.arg(since);
    w.and(format!("g.created_at >= {p}"));
    let sql = format!(
        "SELECT {DELEGATION_COLS} FROM {DELEGATIONS}{} ORDER BY g.created_at DESC LIMIT {limit}",
        w.sql()
    );
    let rows = w.bind(sqlx::query(&sql)).fetch_all(db.pool()).await?;
    Ok(rows.iter().map(delegation).collect::<Result<_, _>>()?)
}

/// How many delegates a mailbox has.
pub async fn delegate_count(c: &mut AnyConnection, mailbox_id: &str) -> AppResult<i64> {
    let r = sqlx::query("SELECT COUNT(*) AS n FROM mailbox_delegations WHERE mailbox_id = $1")
        .bind(mailbox_id)
        .fetch_one(c)
        .await?;
    Ok(r.try_get("n")?)
}

/// Delegates `m` to `delegate_id` (same tenant, checked by the caller) with these rights;
/// false when it is delegated to it already.
pub async fn grant_delegation(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    m: &Mailbox,
    delegate_id: &str,
    send_as: bool,
    folders: crate::types::FolderAccess,
    now: i64,
) -> AppResult<bool> {
    g.check(&m.tenant_id)?;
    let r = sqlx::query(
        "INSERT INTO mailbox_delegations (mailbox_id, delegate_id, tenant_id, send_as, folders, created_at, created_by_label) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&m.id)
    .bind(delegate_id)
    .bind(&m.tenant_id)
    .bind(send_as as i64)
    .bind(folders.as_str())
    .bind(now)
    .bind(&g.actor.label)
    .execute(c)
    .await;
    match r {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Revokes one delegation; what it was, `None` when it did not exist.
pub async fn revoke_delegation(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    m: &Mailbox,
    delegate_id: &str,
) -> AppResult<Option<super::Delegation>> {
    g.check(&m.tenant_id)?;
    let sql = format!(
        "SELECT {DELEGATION_COLS} FROM {DELEGATIONS} WHERE g.mailbox_id = $1 AND g.delegate_id = $2"
    );
    let Some(row) = sqlx::query(&sql)
        .bind(&m.id)
        .bind(delegate_id)
        .fetch_optional(&mut *c)
        .await?
    else {
        return Ok(None);
    };
    let r =
        sqlx::query("DELETE FROM mailbox_delegations WHERE mailbox_id = $1 AND delegate_id = $2")
            .bind(&m.id)
            .bind(delegate_id)
            .execute(c)
            .await?;
    Ok((r.rows_affected() == 1)
        .then(|| delegation(&row))
        .transpose()?)
}

/// Revokes every delegation of a mailbox, both ways (offboarding); what was revoked.
pub async fn revoke_delegations_of(
    c: &mut AnyConnection,
    mailbox_id: &str,
) -> AppResult<Vec<super::Delegation>> {
    let sql = format!(
        "SELECT {DELEGATION_COLS} FROM {DELEGATIONS} WHERE g.mailbox_id = $1 OR g.delegate_id = $1"
    );
    let rows = sqlx::query(&sql)
        .bind(mailbox_id)
        .fetch_all(&mut *c)
        .await?;
    let gone = rows.iter().map(delegation).collect::<Result<Vec<_>, _>>()?;
    sqlx::query("DELETE FROM mailbox_delegations WHERE mailbox_id = $1 OR delegate_id = $1")
        .bind(mailbox_id)
        .execute(c)
        .await?;
    Ok(gone)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_row_type_is_the_column_list() {
        assert_eq!(
            crate::core::db::result_names(super::COLS),
            crate::core::db::fields::<super::Stored>()
        );
    }
}
