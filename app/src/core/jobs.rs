//! Background jobs: rows in `jobs`, claimed one at a time by workers. A claim is one
//! conditional `UPDATE` (with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so several server
//! instances share the queue); a running job keeps a heartbeat, and a job whose heartbeat
//! stopped (its worker died) is claimed again and resumes where it was.
use std::time::Duration;

use sqlx::Row;

use super::db::Backend;
use super::secrets;
use super::state::AppState;
use super::AppResult;

/// A running job whose heartbeat is older than this is taken over. Workers renew the
/// heartbeat at least once per unit of work, and the longest unit is one outgoing mail
/// (up to 10 s to connect and 60 s to send, tried twice), so this stays well above that:
/// a slow SMTP server must not make a second worker send the same invitations again.
pub const STALE_SECS: i64 = 180;

/// A job that was claimed this many times and still did not finish (its worker died or it
/// kept failing) is given up, not tried forever.
pub const MAX_ATTEMPTS: i64 = 5;

/// Claims the oldest runnable job for `worker`; returns its id and kind.
pub async fn claim(st: &AppState, worker: &str) -> AppResult<Option<(String, String)>> {
    let now = st.clock.now();
    let lock = match st.db.backend() {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let mut tx = st.db.begin().await?;
    sqlx::query(
        "UPDATE jobs SET state = 'failed', claimed_by = NULL, finished_at = $1, \
         error = 'Stopped after ' || CAST(attempts AS TEXT) || ' attempts that did not finish. \
         See the server log; start it again once the cause is fixed.' \
         WHERE state = 'running' AND attempts >= $3 AND (heartbeat_at IS NULL OR heartbeat_at < $2)",
    )
    .bind(now)
    .bind(now - STALE_SECS)
    .bind(MAX_ATTEMPTS)
    .execute(tx.conn())
    .await?;
    let row = sqlx::query(&format!(
        "UPDATE jobs SET state = 'running', claimed_by = $1, heartbeat_at = $2, \
         started_at = COALESCE(started_at, $2), attempts = attempts + 1 \
         WHERE id = (SELECT id FROM jobs WHERE (state = 'queued' AND (run_after IS NULL OR run_after <= $2)) \
         OR (state = 'running' AND (heartbeat_at IS NULL OR heartbeat_at < $3)) \
         ORDER BY created_at LIMIT 1{lock}) RETURNING id, kind"
    ))
    .bind(worker)
    .bind(now)
    .bind(now - STALE_SECS)
    .fetch_optional(tx.conn())
    .await?;
    tx.commit_bookkeeping().await?;
    Ok(match row {
        Some(r) => Some((r.try_get("id")?, r.try_get("kind")?)),
        None => None,
    })
}

/// Runs one claimed job by its registered kind. A job of a kind this server does not know
/// (a newer version queued it) fails at once with that reason rather than looping.
async fn dispatch(st: &AppState, id: &str, kind: &str, worker: &str) -> AppResult<()> {
    match st.kinds.job_kind(kind) {
        Some(k) => k.run(st, id, worker).await,
        None => {
            tracing::error!(job = id, kind, "unknown job kind");
            sqlx::query(
                "UPDATE jobs SET state = 'failed', claimed_by = NULL, finished_at = $3, error = $4 \
                 WHERE id = $1 AND claimed_by = $2",
            )
            .bind(id)
            .bind(worker)
            .bind(st.clock.now())
            .bind(format!("This server does not know jobs of kind {kind}."))
            .execute(st.db.pool())
            .await?;
            Ok(())
        }
    }
}

/// Claims and runs jobs until none is left; returns how many ran.
pub async fn run_pending(st: &AppState, worker: &str) -> AppResult<usize> {
    let mut n = 0;
    while let Some((id, kind)) = claim(st, worker).await? {
        if let Err(e) = dispatch(st, &id, &kind, worker).await {
            // Left running: its heartbeat goes stale and a worker tries again later.
            tracing::error!(job = %id, error = %e, "job stopped with an error");
            return Err(e);
        }
        n += 1;
    }
    Ok(n)
}

/// A new worker name (logged with the jobs it claims).
pub fn worker_name() -> String {
    format!("{}-{}", std::process::id(), &secrets::new_id("w")[2..10])
}

/// Makes sure each registered recurring job has its row (idempotent; several instances may
/// race). Each is one row that reschedules itself when it has run.
pub async fn ensure_recurring(st: &AppState) -> AppResult<()> {
    for (id, kind) in st.kinds.recurring() {
        sqlx::query(
            "INSERT INTO jobs (id, kind, state, created_by_label, created_at) \
             VALUES ($1, $2, 'queued', 'system', $3) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(kind)
        .bind(st.clock.now())
        .execute(st.db.pool())
        .await?;
    }
    Ok(())
}

/// A recurring job has run: it waits `every` seconds for its next run.
pub async fn reschedule(st: &AppState, id: &str, worker: &str, every: i64) -> AppResult<()> {
    let now = st.clock.now();
    sqlx::query(
        "UPDATE jobs SET state = 'queued', claimed_by = NULL, attempts = 0, finished_at = $3, \
         run_after = $4, progress_done = progress_done + 1 WHERE id = $1 AND claimed_by = $2",
    )
    .bind(id)
    .bind(worker)
    .bind(now)
    .bind(now + every)
    .execute(st.db.pool())
    .await?;
    Ok(())
}

/// The server's worker: looks for work every second.
pub fn spawn_worker(st: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = ensure_recurring(&st).await {
            tracing::error!(error = %e, "recurring jobs not set up");
        }
        let worker = worker_name();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = run_pending(&st, &worker).await {
                tracing::warn!(error = %e, "job worker");
            }
        }
    })
}

// ---------- reading job rows (job kinds show their own) ----------

/// A job as stored; its kind makes sense of `payload`.
pub struct JobRow {
    pub id: String,
    pub kind: String,
    pub tenant_id: String,
    pub state: crate::types::JobState,
    pub phase: String,
    pub done: i64,
    pub total: i64,
    pub payload: serde_json::Value,
    pub error: Option<String>,
    pub created_by: Option<String>,
    pub created_by_label: String,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

const JOB_COLS: &str = "id, kind, tenant_id, state, phase, progress_done, progress_total, \
    payload, error, created_by, created_by_label, created_at, finished_at";

fn job_row(r: &sqlx::any::AnyRow) -> AppResult<JobRow> {
    use sqlx::Row;
    Ok(JobRow {
        id: r.try_get("id")?,
        kind: r.try_get("kind")?,
        tenant_id: r.try_get("tenant_id")?,
        state: super::db::named(r, "state")?,
        phase: r.try_get("phase")?,
        done: r.try_get("progress_done")?,
        total: r.try_get("progress_total")?,
        payload: serde_json::from_str(&r.try_get::<String, _>("payload")?).unwrap_or_default(),
        error: r.try_get("error")?,
        created_by: r.try_get("created_by")?,
        created_by_label: r.try_get("created_by_label")?,
        created_at: r.try_get("created_at")?,
        finished_at: r.try_get("finished_at")?,
    })
}

/// One job of `kind` (no scope: the caller checks the tenant).
pub async fn get(db: &super::db::Db, kind: &str, id: &str) -> AppResult<Option<JobRow>> {
    let row = sqlx::query(&format!(
        "SELECT {JOB_COLS} FROM jobs WHERE id = $1 AND kind = $2"
    ))
    .bind(id)
    .bind(kind)
    .fetch_optional(db.pool())
    .await?;
    row.as_ref().map(job_row).transpose()
}

/// The newest jobs of `kind` in one tenant.
pub async fn of_tenant(
    db: &super::db::Db,
    kind: &str,
    tenant_id: &str,
    limit: i64,
) -> AppResult<Vec<JobRow>> {
    let rows = sqlx::query(&format!(
        "SELECT {JOB_COLS} FROM jobs WHERE kind = $1 AND tenant_id = $2 \
         ORDER BY created_at DESC LIMIT $3"
    ))
    .bind(kind)
    .bind(tenant_id)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter().map(job_row).collect()
}

// ---------- the one place job rows are written (job kinds call these) ----------

/// A job to record: a draft (previewed, not started) or queued.
pub struct NewJob<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub tenant_id: &'a str,
    /// `draft` or `queued`.
    pub state: &'a str,
    pub progress_total: i64,
    pub payload: &'a serde_json::Value,
    pub error: Option<&'a str>,
}

/// Records a job started by the proof's actor (who it re-checks when it runs).
pub async fn insert(
    conn: &mut sqlx::AnyConnection,
    g: &super::authz::Granted<'_>,
    j: &NewJob<'_>,
    now: i64,
) -> AppResult<()> {
    g.check(j.tenant_id)?;
    sqlx::query(
        "INSERT INTO jobs (id, kind, tenant_id, state, progress_total, payload, error, created_by, \
         created_by_label, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
    )
    .bind(j.id)
    .bind(j.kind)
    .bind(j.tenant_id)
    .bind(j.state)
    .bind(j.progress_total)
    .bind(j.payload.to_string())
    .bind(j.error)
    .bind(g.actor.user_id.clone())
    .bind(&g.actor.label)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Queues a draft or failed job (a retry starts its attempts afresh); false if it is in
/// neither state.
pub async fn queue(conn: &mut sqlx::AnyConnection, id: &str) -> AppResult<bool> {
    Ok(sqlx::query(
        "UPDATE jobs SET state = 'queued', error = NULL, finished_at = NULL, attempts = 0 \
         WHERE id = $1 AND state IN ('draft', 'failed')",
    )
    .bind(id)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Discards a draft; false if it is not one.
pub async fn cancel_draft(conn: &mut sqlx::AnyConnection, id: &str, now: i64) -> AppResult<bool> {
    Ok(sqlx::query(
        "UPDATE jobs SET state = 'cancelled', finished_at = $2 WHERE id = $1 AND state = 'draft'",
    )
    .bind(id)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Renews a running job's heartbeat: false if another worker has taken it over.
pub async fn heartbeat(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    worker: &str,
    now: i64,
) -> AppResult<bool> {
    Ok(sqlx::query(
        "UPDATE jobs SET heartbeat_at = $3 WHERE id = $1 AND claimed_by = $2 AND state = 'running'",
    )
    .bind(id)
    .bind(worker)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Moves a job to a phase of its work; `restart` counts its progress from zero again.
pub async fn set_phase(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    phase: &str,
    restart: bool,
) -> AppResult<()> {
    let sql = if restart {
        "UPDATE jobs SET phase = $2, progress_done = 0 WHERE id = $1"
    } else {
        "UPDATE jobs SET phase = $2 WHERE id = $1 AND phase <> $2"
    };
    sqlx::query(sql).bind(id).bind(phase).execute(conn).await?;
    Ok(())
}

/// Adds `n` (which may be negative) to a job's progress.
pub async fn advance(conn: &mut sqlx::AnyConnection, id: &str, n: i64) -> AppResult<()> {
    sqlx::query("UPDATE jobs SET progress_done = progress_done + $2 WHERE id = $1")
        .bind(id)
        .bind(n)
        .execute(conn)
        .await?;
    Ok(())
}

/// A job finished its work.
pub async fn finish(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    result: &serde_json::Value,
    now: i64,
) -> AppResult<()> {
    sqlx::query(
        "UPDATE jobs SET state = 'done', finished_at = $2, result = $3, claimed_by = NULL WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .bind(result.to_string())
    .execute(conn)
    .await?;
    Ok(())
}

/// A job stopped for good, with the reason in words; `undone` says its work was undone
/// (phase and progress start from zero if it is started again).
pub async fn fail(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    error: &str,
    now: i64,
    undone: bool,
) -> AppResult<()> {
    let sql = if undone {
        "UPDATE jobs SET state = 'failed', error = $2, finished_at = $3, claimed_by = NULL, \
         phase = '', progress_done = 0 WHERE id = $1"
    } else {
        "UPDATE jobs SET state = 'failed', error = $2, finished_at = $3, claimed_by = NULL WHERE id = $1"
    };
    sqlx::query(sql)
        .bind(id)
        .bind(error)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}
