//! SQL for `import_rows`: one row per CSV line of an import job (the job itself is a row of
//! core's job queue). A row's `mailbox_id` is set when its mailbox is created and its
//! `invited_at` when its link is issued, so a resumed job picks up where it stopped.
use sqlx::{AnyConnection, Row};

use super::ImportRow;
use crate::core::authz::{Action, Granted};
use crate::core::db::{values, Db};
use crate::core::AppResult;

/// A parsed CSV line (its error, if any, keeps it from being imported).
pub struct NewRow<'a> {
    pub line: i64,
    pub address: &'a str,
    pub name: &'a str,
    pub quota: Option<i64>,
    pub invite_to: Option<&'a str>,
    pub error: Option<&'a str>,
}

pub async fn insert(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    job_id: &str,
    rows: &[NewRow<'_>],
) -> AppResult<()> {
    g.require(&[Action::ManageMailboxes])?;
    for chunk in rows.chunks(100) {
        let sql = format!(
            "INSERT INTO import_rows (job_id, line, address, display_name, quota_bytes, invite_to, error) VALUES {}",
            values(chunk.len(), 7, "({1},{2},{3},{4},{5},{6},{7})")
        );
        let mut q = sqlx::query(&sql);
        for p in chunk {
            q = q
                .bind(job_id)
                .bind(p.line)
                .bind(p.address)
                .bind(p.name)
                .bind(p.quota)
                .bind(p.invite_to)
                .bind(p.error);
        }
        q.execute(&mut *c).await?;
    }
    Ok(())
}

/// Rows of an import, those with errors first (at most `limit`).
pub async fn rows(db: &Db, job_id: &str, limit: i64) -> AppResult<Vec<ImportRow>> {
    let rs = sqlx::query(
        "SELECT line, address, display_name, quota_bytes, invite_to, error, mailbox_id \
         FROM import_rows WHERE job_id = $1 ORDER BY (error IS NULL), line LIMIT $2",
    )
    .bind(job_id)
    .bind(limit.clamp(1, 10_000))
    .fetch_all(db.pool())
    .await?;
    rs.iter()
        .map(|r| {
            Ok(ImportRow {
                line: r.try_get("line")?,
                address: r.try_get("address")?,
                display_name: r.try_get("display_name")?,
                quota_bytes: r.try_get("quota_bytes")?,
                invite_to: r.try_get("invite_to")?,
                error: r.try_get("error")?,
                created: r.try_get::<Option<String>, _>("mailbox_id")?.is_some(),
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// A valid row whose mailbox is not created yet.
pub struct ToCreate {
    pub line: i64,
    pub address: String,
    pub display_name: String,
    pub quota: Option<i64>,
    pub invite_to: Option<String>,
}

/// The next `limit` valid rows without a mailbox, by line.
pub async fn to_create(
    c: &mut AnyConnection,
    job_id: &str,
    limit: i64,
) -> AppResult<Vec<ToCreate>> {
    let rows = sqlx::query(
        "SELECT line, address, display_name, quota_bytes, invite_to FROM import_rows \
         WHERE job_id = $1 AND error IS NULL AND mailbox_id IS NULL ORDER BY line LIMIT $2",
    )
    .bind(job_id)
    .bind(limit)
    .fetch_all(c)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ToCreate {
                line: r.try_get("line")?,
                address: r.try_get("address")?,
                display_name: r.try_get("display_name")?,
                quota: r.try_get("quota_bytes")?,
                invite_to: r.try_get("invite_to")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// Records the mailboxes made for the valid rows up to `last_line` (ids `prefix` + line).
pub async fn mark_created(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    job_id: &str,
    prefix: &str,
    last_line: i64,
) -> AppResult<()> {
    g.require(&[Action::ManageMailboxes])?;
    sqlx::query(
        "UPDATE import_rows SET mailbox_id = $2 || CAST(line AS TEXT) WHERE job_id = $1 \
         AND error IS NULL AND mailbox_id IS NULL AND line <= $3",
    )
    .bind(job_id)
    .bind(prefix)
    .bind(last_line)
    .execute(c)
    .await?;
    Ok(())
}

/// The next 100 rows whose mailbox exists but whose link is not issued: (line, mailbox id,
/// where to mail the link).
pub async fn to_invite(db: &Db, job_id: &str) -> AppResult<Vec<(i64, String, Option<String>)>> {
    let rows = sqlx::query(
        "SELECT line, mailbox_id, invite_to FROM import_rows WHERE job_id = $1 \
         AND mailbox_id IS NOT NULL AND invited_at IS NULL ORDER BY line LIMIT 100",
    )
    .bind(job_id)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("line")?,
                r.try_get("mailbox_id")?,
                r.try_get("invite_to")?,
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Into::into)
}

/// A row's link was issued (`Some(now)`), or its mail failed and it is to be tried again
/// (`None`).
pub async fn set_invited(
    c: &mut AnyConnection,
    g: &Granted<'_>,
    job_id: &str,
    line: i64,
    at: Option<i64>,
) -> AppResult<()> {
    g.require(&[Action::ManageMailboxes])?;
    sqlx::query("UPDATE import_rows SET invited_at = $3 WHERE job_id = $1 AND line = $2")
        .bind(job_id)
        .bind(line)
        .bind(at)
        .execute(c)
        .await?;
    Ok(())
}

/// The mailboxes the job created.
pub async fn created(c: &mut AnyConnection, job_id: &str) -> AppResult<Vec<String>> {
    let rows = sqlx::query(
        "SELECT mailbox_id FROM import_rows WHERE job_id = $1 AND mailbox_id IS NOT NULL",
    )
    .bind(job_id)
    .fetch_all(c)
    .await?;
    rows.iter()
        .map(|r| r.try_get("mailbox_id"))
        .collect::<Result<_, _>>()
        .map_err(Into::into)
}

/// Forgets what the job created (its mailboxes were removed).
pub async fn forget_created(c: &mut AnyConnection, g: &Granted<'_>, job_id: &str) -> AppResult<()> {
    g.require(&[Action::ManageMailboxes])?;
    sqlx::query("UPDATE import_rows SET mailbox_id = NULL, invited_at = NULL WHERE job_id = $1")
        .bind(job_id)
        .execute(c)
        .await?;
    Ok(())
}
