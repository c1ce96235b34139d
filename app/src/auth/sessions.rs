//! Browser sessions stored in the database (both backends), through tower-sessions.
//! Besides the opaque data, each row carries its user, address and client so people can see
//! and revoke their sessions; a public `handle` (a hash of the id) names a session on pages,
//! never the id itself.
use async_trait::async_trait;
use sqlx::Row;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

use crate::core::clock::Clock;
use crate::core::db::Db;
use crate::core::secrets::sha256_hex;

/// Session data keys.
pub const USER_ID: &str = "user_id";
/// A mailbox owner signed in to their self-service area (never together with `USER_ID`).
pub const MAILBOX_ID: &str = "mailbox_id";
/// Fresh recovery codes of a mailbox owner, shown once.
pub const FRESH_MAILBOX_CODES: &str = "fresh_mailbox_codes";
pub const AUTH_AT: &str = "auth_at";
pub const IP: &str = "ip";
pub const USER_AGENT: &str = "ua";
pub const PENDING_2FA: &str = "pending_2fa";
pub const ONBOARDING: &str = "onboarding";
pub const FLASH: &str = "flash";
pub const FRESH_RECOVERY_CODES: &str = "fresh_recovery_codes";
pub const FRESH_SECRET: &str = "fresh_secret";
/// When the session was last marked as seen; it is written back at most once a minute,
/// which is also how its idle expiry slides forward.
pub const SEEN_AT: &str = "seen_at";

/// Ends this browser's session and gives it a new, unrelated id: every change of who the
/// visitor is (sign-in, activation, a password set or reset, sign-out) goes through here, so a
/// session id planted before it is worthless after it (no session fixation). tower-sessions'
/// `flush` alone keeps the loaded record's id for the next save.
pub async fn renew(session: &tower_sessions::Session) {
    let _ = session.flush().await;
    let _ = session.cycle_id().await;
}

pub fn handle_of(id: &Id) -> String {
    sha256_hex(&format!("mailward-session:{id}"))[..24].to_string()
}

#[derive(Clone)]
pub struct DbSessionStore {
    db: Db,
    clock: Clock,
}

impl std::fmt::Debug for DbSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DbSessionStore")
    }
}

impl DbSessionStore {
    pub fn new(db: Db, clock: Clock) -> Self {
        DbSessionStore { db, clock }
    }

    /// Removes expired sessions (run periodically).
    pub async fn delete_expired(&self) -> Result<u64, sqlx::Error> {
        let r = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(self.clock.now())
            .execute(self.db.pool())
            .await?;
        Ok(r.rows_affected())
    }
}

fn backend(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn str_field(r: &Record, key: &str) -> Option<String> {
    r.data.get(key).and_then(|v| v.as_str()).map(str::to_string)
}

impl DbSessionStore {
    /// Inserts a new session row, or nothing if the id is taken; returns the rows written.
    async fn insert(&self, record: &Record) -> session_store::Result<u64> {
        let data = serde_json::to_string(&record.data).map_err(backend)?;
        // tower-sessions computes the expiry from the system time; stored rows follow the
        // app's clock (the same in production; tests move the clock forward).
        let shift = self.clock.now() - time::OffsetDateTime::now_utc().unix_timestamp();
        let r = sqlx::query(
            "INSERT INTO sessions (id, handle, user_id, data, created_at, last_seen_at, expires_at, ip, user_agent, mailbox_id) \
             VALUES ($1,$2,$3,$4,$5,$5,$6,$7,$8,$9) ON CONFLICT (id) DO NOTHING",
        )
        .bind(record.id.to_string())
        .bind(handle_of(&record.id))
        .bind(str_field(record, USER_ID))
        .bind(data)
        .bind(self.clock.now())
        .bind(record.expiry_date.unix_timestamp() + shift)
        .bind(str_field(record, IP))
        .bind(str_field(record, USER_AGENT))
        .bind(str_field(record, MAILBOX_ID))
        .execute(self.db.pool())
        .await
        .map_err(backend)?;
        Ok(r.rows_affected())
    }
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A fresh id never collides in practice (128 bits), but never overwrite if it does.
        while self.insert(record).await? != 1 {
            record.id = Id::default();
        }
        Ok(())
    }

    /// Updates an existing row only: a session that was ended (signed out, revoked, or
    /// ended by a password change) is never brought back by a request that loaded it before.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let data = serde_json::to_string(&record.data).map_err(backend)?;
        let shift = self.clock.now() - time::OffsetDateTime::now_utc().unix_timestamp();
        sqlx::query(
            "UPDATE sessions SET user_id = $2, mailbox_id = $3, data = $4, last_seen_at = $5, \
             expires_at = $6, ip = $7, user_agent = $8 WHERE id = $1",
        )
        .bind(record.id.to_string())
        .bind(str_field(record, USER_ID))
        .bind(str_field(record, MAILBOX_ID))
        .bind(data)
        .bind(self.clock.now())
        .bind(record.expiry_date.unix_timestamp() + shift)
        .bind(str_field(record, IP))
        .bind(str_field(record, USER_AGENT))
        .execute(self.db.pool())
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let row =
            sqlx::query("SELECT data, expires_at FROM sessions WHERE id = $1 AND expires_at > $2")
                .bind(id.to_string())
                .bind(self.clock.now())
                .fetch_optional(self.db.pool())
                .await
                .map_err(backend)?;
        let Some(row) = row else { return Ok(None) };
        let data: String = row.try_get("data").map_err(backend)?;
        let expires: i64 = row.try_get("expires_at").map_err(backend)?;
        Ok(Some(Record {
            id: *id,
            data: serde_json::from_str(&data).map_err(backend)?,
            expiry_date: time::OffsetDateTime::from_unix_timestamp(expires).map_err(backend)?,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(id.to_string())
            .execute(self.db.pool())
            .await
            .map_err(backend)?;
        Ok(())
    }
}
