//! One database handle for both backends. SQL is written once in a portable dialect
//! (`$N` placeholders, integer times, text ids/JSON) and run through sqlx's `Any` driver;
//! migrations stay per dialect under `migrations/`.
use std::sync::Arc;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyConnection, AnyPool, Connection, Executor, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

use super::error::{AppError, AppResult};
use super::mailer::Mail;

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// SQLite has one writer: writers queue here instead of failing with SQLITE_BUSY
    /// when two deferred transactions try to upgrade their locks at once.
    write_lock: Option<Arc<Mutex<()>>>,
    /// The key the audit chain is written with (`audit::service::attach_key`); kept beside the pool
    /// because every transaction that records an event needs it.
    audit_key: Option<crate::core::audit_key::AuditKey>,
}

/// A write transaction. Commit explicitly; dropping it rolls back.
///
/// Mail that belongs to the change (an invitation link…) waits in the transaction's outbox
/// and goes out only after the commit, through [`Tx::commit_outbox`]: no SMTP conversation
/// ever runs while the transaction holds row locks or SQLite's one write slot.
pub struct Tx {
    tx: Transaction<'static, Any>,
    _guard: Option<OwnedMutexGuard<()>>,
    outbox: Vec<Mail>,
    audit_key: Option<crate::core::audit_key::AuditKey>,
    /// Audit events written in this transaction (`audit::service::record_many` counts them).
    events: usize,
}

impl Tx {
    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
    /// The audit key (none when the database was opened without `audit::service::attach_key`).
    pub fn audit_key(&self) -> Option<&crate::core::audit_key::AuditKey> {
        self.audit_key.as_ref()
    }
    /// Called by the audit writer for each event it adds to this transaction.
    pub(crate) fn note_events(&mut self, n: usize) {
        self.events += n;
    }
    /// Queues mail to send once this transaction has committed.
    pub fn mail_after_commit(&mut self, mail: Mail) {
        self.outbox.push(mail);
    }
    /// Commits; the transaction must carry its audit event and no mail (use
    /// [`Tx::commit_outbox`]). A change without its event is refused and rolled back.
    pub async fn commit(self) -> AppResult<()> {
        let outbox = self.commit_outbox().await?;
        if !outbox.is_empty() {
            return Err(AppError::Internal(format!(
                "{} queued mail(s) dropped: committed with commit() instead of commit_outbox()",
                outbox.len()
            )));
        }
        Ok(())
    }
    /// Commits and hands back the queued mail for the caller to send. Like [`Tx::commit`], it
    /// refuses a transaction that recorded no audit event: every change is logged with it.
    pub async fn commit_outbox(self) -> AppResult<Vec<Mail>> {
        if self.events == 0 {
            return Err(AppError::Internal(
                "a transaction tried to commit without its audit event; nothing was changed".into(),
            ));
        }
        self.commit_any().await
    }
    /// Commits the system's own bookkeeping, which is not an event anyone acts on: a job's
    /// claim, heartbeat, phase and progress. Everything else commits with its event.
    pub async fn commit_bookkeeping(self) -> AppResult<()> {
        let outbox = self.commit_any().await?;
        if !outbox.is_empty() {
            return Err(AppError::Internal("bookkeeping queued mail".into()));
        }
        Ok(())
    }
    async fn commit_any(self) -> AppResult<Vec<Mail>> {
        let Tx {
            tx, _guard, outbox, ..
        } = self;
        tx.commit().await?;
        Ok(outbox)
    }
}

impl Db {
    /// Connects to `url` (`sqlite://path` or `postgres://…`), creating a SQLite file and its
    /// folder when missing.
    pub async fn connect(url: &str) -> AppResult<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(AppError::Config(format!(
                "unsupported database URL (use sqlite://PATH or postgres://…): {}",
                redact_url(url)
            )));
        };
        let url = match backend {
            Backend::Sqlite => {
                let path = url
                    .trim_start_matches("sqlite://")
                    .trim_start_matches("sqlite:");
                let path = path.split('?').next().unwrap_or(path);
                if path != ":memory:" {
                    if let Some(parent) = std::path::Path::new(path).parent() {
                        if !parent.as_os_str().is_empty() {
                            std::fs::create_dir_all(parent).map_err(|e| {
                                AppError::Config(format!(
                                    "cannot create database folder {}: {e}",
                                    parent.display()
                                ))
                            })?;
                        }
                    }
                }
                if url.contains('?') {
                    url.to_string()
                } else {
                    format!("{url}?mode=rwc")
                }
            }
            Backend::Postgres => url.to_string(),
        };
        let opts: AnyConnectOptions = url
            .parse()
            .map_err(|e| AppError::Config(format!("bad database URL: {e}")))?;
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            // A connection is never handed out in the middle of a transaction: one whose
            // rollback was lost (its task aborted at the wrong moment) is closed, not reused —
            // a `BEGIN` on it would fail ("InvalidSavePointStatement" on SQLite).
            .before_acquire(|conn, _meta| {
                Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(conn)) })
            })
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(opts)
            .await?;
        Ok(Db {
            pool,
            backend,
            write_lock: (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(()))),
            audit_key: None,
        })
    }

    /// This handle, recording audit events with `key`.
    pub fn with_audit_key(mut self, key: crate::core::audit_key::AuditKey) -> Db {
        self.audit_key = Some(key);
        self
    }
    pub fn audit_key(&self) -> Option<&crate::core::audit_key::AuditKey> {
        self.audit_key.as_ref()
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn migrate(&self) -> AppResult<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATOR,
            Backend::Postgres => &POSTGRES_MIGRATOR,
        };
        migrator
            .run(&self.pool)
            .await
            .map_err(|e| AppError::Internal(format!("migration failed: {e}")))?;
        Ok(())
    }

    /// Begins a write transaction (serialised on SQLite).
    ///
    /// On SQLite the transaction is `BEGIN IMMEDIATE`: it takes the database's write lock at
    /// once (waiting up to the busy timeout). A deferred transaction that reads first and
    /// writes later fails at its first write with "database is locked" — without waiting —
    /// when a write outside this process's lock (a job's bookkeeping, another instance, the
    /// command line) committed after its read.
    pub async fn begin(&self) -> AppResult<Tx> {
        let guard = match &self.write_lock {
            Some(lock) => Some(lock.clone().lock_owned().await),
            None => None,
        };
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(Tx {
            tx,
            _guard: guard,
            outbox: Vec::new(),
            audit_key: self.audit_key.clone(),
            events: 0,
        })
    }

    /// Cheap liveness probe for `/readyz`.
    pub async fn ping(&self) -> AppResult<()> {
        let mut conn = self.pool.acquire().await?;
        conn.ping().await?;
        Ok(())
    }
}

/// A named column (a status, kind or state, `types::named_enum!`), parsed where the row
/// enters: an unknown name is a decode error, not a string that flows on.
pub fn named<T: std::str::FromStr<Err = String>>(
    r: &sqlx::any::AnyRow,
    col: &str,
) -> Result<T, sqlx::Error> {
    use sqlx::Row;
    let s: String = r.try_get(col)?;
    s.parse().map_err(|e: String| sqlx::Error::ColumnDecode {
        index: col.into(),
        source: e.into(),
    })
}

/// A list page's rows: `inner` (the page's query, with its own `ORDER BY … LIMIT`) read into
/// `T`, a row type that is both `sqlx::FromRow` and `serde::Deserialize` with the result
/// columns as its fields.
///
/// On SQLite the page comes as one JSON array in one database row: sqlx's SQLite driver hands
/// every row from its connection thread to the request's through a channel and copies every
/// value into an `AnyRow` — ~20 µs a row, most of a 500-row page's time. Built in the database
/// (`json_group_array`, with the page's order inside the aggregate — `order`, the same order
/// over the result columns, `r.name` — so the order is the query's and not chance), the page
/// crosses once and serde reads each struct from an array of [`fields`]. PostgreSQL's driver
/// has no such hop, and its `json_build_array` costs more than the rows it saves (500 domains:
/// 5.1 ms against 2.3 ms in psql), so there the rows are read as they are.
pub async fn page_json<T>(db: &Db, w: &Where, inner: &str, order: &str) -> AppResult<Vec<T>>
where
    T: serde::de::DeserializeOwned + for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
{
    match db.backend() {
        Backend::Sqlite => {
            let row = json_row(fields::<T>());
            aggregate(db, w, &row, inner, order).await
        }
        Backend::Postgres => {
            let rows = w.bind(sqlx::query(inner)).fetch_all(db.pool()).await?;
            Ok(rows.iter().map(T::from_row).collect::<Result<_, _>>()?)
        }
    }
}

/// [`page_json`] for rows that are two structs side by side (`inner`'s result columns carry
/// both: a domain and its tenant's plan), each row read as the pair.
pub async fn page_json_pair<A, B>(
    db: &Db,
    w: &Where,
    inner: &str,
    order: &str,
) -> AppResult<Vec<(A, B)>>
where
    A: serde::de::DeserializeOwned + for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    B: serde::de::DeserializeOwned + for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
{
    match db.backend() {
        Backend::Sqlite => {
            let row = format!(
                "json_array({}, {})",
                json_row(fields::<A>()),
                json_row(fields::<B>())
            );
            aggregate(db, w, &row, inner, order).await
        }
        Backend::Postgres => {
            let rows = w.bind(sqlx::query(inner)).fetch_all(db.pool()).await?;
            Ok(rows
                .iter()
                .map(|r| Ok((A::from_row(r)?, B::from_row(r)?)))
                .collect::<Result<_, sqlx::Error>>()?)
        }
    }
}

/// One result row of `r` as a JSON array of `cols` (SQLite).
fn json_row(cols: &[&str]) -> String {
    let list = cols
        .iter()
        .map(|c| format!("r.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!("json_array({list})")
}

/// The SQLite half of [`page_json`]: every row as `row` (JSON) in one array, in `order`.
async fn aggregate<T: serde::de::DeserializeOwned>(
    db: &Db,
    w: &Where,
    row: &str,
    inner: &str,
    order: &str,
) -> AppResult<Vec<T>> {
    use sqlx::Row;
    let sql = format!("SELECT json_group_array({row} ORDER BY {order}) AS page FROM ({inner}) r");
    let row = w.bind(sqlx::query(&sql)).fetch_one(db.pool()).await?;
    let page: String = row.try_get("page")?;
    serde_json::from_str(&page)
        .map_err(|e| AppError::internal(format!("a page of rows did not decode ({e}): {sql}")))
}

/// The field names of a struct that serde reads, in declaration order — the columns a row
/// type wants, told by the type itself, so a column list cannot drift from the struct.
/// (serde's derive hands them to `deserialize_struct`; this deserializer keeps them and stops.)
pub fn fields<T: serde::de::DeserializeOwned>() -> &'static [&'static str] {
    use serde::de::{self, Deserializer, Visitor};
    struct Names(&'static [&'static str]);
    impl<'de> Deserializer<'de> for &mut Names {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = fields;
            Err(de::Error::custom("fields read"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut names = Names(&[]);
    let _ = T::deserialize(&mut names);
    assert!(
        !names.0.is_empty(),
        "{} is not a struct with named fields",
        std::any::type_name::<T>()
    );
    names.0
}

/// The result column names of a `SELECT` list (`d.id, t.name AS tenant_name` → `id`,
/// `tenant_name`): what a test holds a row type's [`fields`] to.
#[cfg(test)]
pub fn result_names(select_list: &str) -> Vec<&str> {
    select_list
        .split(',')
        .map(|c| {
            let c = c.trim();
            c.rsplit_once(" AS ")
                .map(|(_, a)| a)
                .or_else(|| c.split_once('.').map(|(_, n)| n))
                .unwrap_or(c)
        })
        .collect()
}

/// Runs `sql` for many keys: `{in}` in it stands for an `IN (…)` list, filled 500 keys at a
/// time (well under either database's limit on bound values); every row is mapped by `f`.
pub async fn fetch_in<T>(
    c: &mut sqlx::AnyConnection,
    sql: &str,
    keys: &[&str],
    f: impl Fn(&sqlx::any::AnyRow) -> Result<T, sqlx::Error>,
) -> AppResult<Vec<T>> {
    let mut out = Vec::new();
    for chunk in keys.chunks(500) {
        let sql = sql.replace("{in}", &marks(chunk.len()));
        let mut q = sqlx::query(&sql);
        for k in chunk {
            q = q.bind(k.to_string());
        }
        for r in q.fetch_all(&mut *c).await? {
            out.push(f(&r)?);
        }
    }
    Ok(out)
}

/// `$1,$2,…,$n`: the placeholders of an `IN (…)` list.
pub fn marks(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The placeholders of a multi-row `VALUES` list: `rows` copies of `row`, where `{k}`
/// (1-based, up to `cols`) stands for the row's k-th bound value and anything else is
/// written as is. `values(2, 2, "({1},'x',{2})")` is `($1,'x',$2),($3,'x',$4)`.
pub fn values(rows: usize, cols: usize, row: &str) -> String {
    let mut out = String::new();
    for r in 0..rows {
        if r > 0 {
            out.push(',');
        }
        let mut s = row.to_string();
        // From the highest k down, so `{1}` never eats the start of `{12}`.
        for k in (1..=cols).rev() {
            s = s.replace(&format!("{{{k}}}"), &format!("${}", r * cols + k));
        }
        out.push_str(&s);
    }
    out
}

/// A bind value for [`Where`].
#[derive(Clone, Debug)]
pub enum Bind {
    Text(String),
    Int(i64),
}

impl From<&str> for Bind {
    fn from(s: &str) -> Bind {
        Bind::Text(s.to_string())
    }
}
impl From<String> for Bind {
    fn from(s: String) -> Bind {
        Bind::Text(s)
    }
}
impl From<i64> for Bind {
    fn from(n: i64) -> Bind {
        Bind::Int(n)
    }
}

/// A `WHERE` clause built piece by piece with its bind values, so optional filters and the
/// actor's tenant scope are decided in SQL (never by filtering rows after the fetch).
#[derive(Default, Debug)]
pub struct Where {
    conds: Vec<String>,
    binds: Vec<Bind>,
}

impl Where {
    pub fn new() -> Where {
        Where::default()
    }
    /// Adds a bind value and returns its placeholder (`$n`).
    pub fn arg(&mut self, v: impl Into<Bind>) -> String {
        self.binds.push(v.into());
        format!("${}", self.binds.len())
    }
    /// Adds a condition (joined with AND).
    pub fn and(&mut self, cond: impl Into<String>) {
        self.conds.push(cond.into());
    }
    /// Confines rows to the tenants in `scope` (`col` holds the tenant id).
    pub fn scope(&mut self, col: &str, scope: &super::authz::TenantScope) {
        if matches!(scope, super::authz::TenantScope::Only(_)) {
            let c = self.scope_cond(col, scope);
            self.and(c);
        }
    }
    /// Confines rows to what the proof covers: its one tenant when it was granted in one,
    /// else the actor's tenants. The one way a store scopes a query by a proof.
    pub fn granted(&mut self, col: &str, g: &super::authz::Granted<'_>) {
        match g.tenant() {
            Some(t) => {
                let p = self.arg(t);
                self.and(format!("{col} = {p}"));
            }
            None => self.scope(col, &g.actor.tenants),
        }
    }
    /// The scope condition on its own (its values bound here), for subqueries.
    pub fn scope_cond(&mut self, col: &str, scope: &super::authz::TenantScope) -> String {
        match scope {
            super::authz::TenantScope::All => "1 = 1".into(),
            super::authz::TenantScope::Only(ids) if ids.is_empty() => "1 = 0".into(),
            super::authz::TenantScope::Only(ids) => {
                let ph: Vec<String> = ids.iter().map(|id| self.arg(id.as_str())).collect();
                format!("{col} IN ({})", ph.join(", "))
            }
        }
    }
    /// `" WHERE a AND b"`, or nothing.
    pub fn sql(&self) -> String {
        if self.conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conds.join(" AND "))
        }
    }
    pub fn bind<'q>(
        &self,
        mut q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
        for b in &self.binds {
            q = match b {
                Bind::Text(s) => q.bind(s.clone()),
                Bind::Int(n) => q.bind(*n),
            };
        }
        q
    }
}

/// A search term for `LIKE '%…%'`: lower-cased, with the wildcards `%` and `_` dropped
/// (they are rare in names and labels; this keeps them literal without an ESCAPE clause).
/// The highest page number a listing accepts (beyond it, offsets would overflow; nobody
/// pages that far).
pub const MAX_PAGE: i64 = 1_000_000;

pub fn like_term(s: &str) -> String {
    format!("%{}%", s.trim().to_lowercase().replace(['%', '_'], ""))
}

/// Hides the password part of a database URL for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..s], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://mw:secret@127.0.0.1:5432/mw"),
            "postgres://mw:***@127.0.0.1:5432/mw"
        );
        assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
    }

    #[test]
    fn a_row_type_tells_its_columns_in_order() {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Row {
            id: String,
            #[serde(rename = "n")]
            count: i64,
            at: Option<i64>,
        }
        assert_eq!(fields::<Row>(), ["id", "n", "at"]);
        assert_eq!(json_row(fields::<Row>()), "json_array(r.id, r.n, r.at)");
        // What the page's decoding sees: a struct from an array, in that order.
        let rows: Vec<Row> = serde_json::from_str(r#"[["x", 2, null]]"#).unwrap();
        assert_eq!(
            (rows[0].id.as_str(), rows[0].count, rows[0].at),
            ("x", 2, None)
        );
    }
}

#[cfg(test)]
mod placeholder_tests {
    use super::{marks, values};

    #[test]
    fn placeholders_number_every_value_once() {
        assert_eq!(marks(3), "$1,$2,$3");
        assert_eq!(values(2, 2, "({1},'x',{2})"), "($1,'x',$2),($3,'x',$4)");
        assert_eq!(
            values(2, 12, "({1},{12})"),
            "($1,$12),($13,$24)",
            "{{1}} never eats the start of {{12}}"
        );
        assert_eq!(values(1, 2, "({1},{2},{2})"), "($1,$2,$2)");
    }
}
