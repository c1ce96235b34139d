//! Browser sessions stored in the database (both backends), through tower-sessions.
//! Besides the opaque data, each row carries its user, address and client so people can see
//! and revoke their sessions; a public `handle` (a hash of the id) names a session on pages,
//! never the id itself.
use async_trait::async_trait;
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
/// A new authenticator waiting for its first code (`service::TotpChange`).
pub const TOTP_CHANGE: &str = "totp_change";
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
        super::store::delete_expired_sessions(&self.db, self.clock.now()).await
    }
}

fn backend(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn str_field(r: &Record, key: &str) -> Option<String> {
    r.data.get(key).and_then(|v| v.as_str()).map(str::to_string)
}

impl DbSessionStore {
    fn row(&self, record: &Record, data: String, shift: i64) -> super::store::SessionRow {
        super::store::SessionRow {
            id: record.id.to_string(),
            handle: handle_of(&record.id),
            user_id: str_field(record, USER_ID),
            mailbox_id: str_field(record, MAILBOX_ID),
            data,
            now: self.clock.now(),
            expires_at: record.expiry_date.unix_timestamp() + shift,
            ip: str_field(record, IP),
            user_agent: str_field(record, USER_AGENT),
        }
    }

    /// Inserts a new session row, or nothing if the id is taken; returns the rows written.
    async fn insert(&self, record: &Record) -> session_store::Result<u64> {
        let data = serde_json::to_string(&record.data).map_err(backend)?;
        // tower-sessions computes the expiry from the system time; stored rows follow the
        // app's clock (the same in production; tests move the clock forward).
        let shift = self.clock.now() - time::OffsetDateTime::now_utc().unix_timestamp();
        super::store::insert_session(&self.db, &self.row(record, data, shift))
            .await
            .map_err(backend)
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
        super::store::update_session(&self.db, &self.row(record, data, shift))
            .await
            .map_err(backend)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let row = super::store::live_session(&self.db, &id.to_string(), self.clock.now())
            .await
            .map_err(backend)?;
        let Some((data, expires)) = row else {
            return Ok(None);
        };
        Ok(Some(Record {
            id: *id,
            data: serde_json::from_str(&data).map_err(backend)?,
            expiry_date: time::OffsetDateTime::from_unix_timestamp(expires).map_err(backend)?,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        super::store::delete_session(&self.db, &id.to_string())
            .await
            .map_err(backend)
    }
}
