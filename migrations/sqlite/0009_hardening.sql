-- Sign-in throttles as reservations: one row per subject (an account, an address, a
-- mailbox…) counting the attempts of its current window. An attempt is counted before the
-- password or code is checked, in one atomic upsert, and given back when it succeeds.
DROP TABLE auth_failures;
CREATE TABLE auth_throttle (
    subject       TEXT PRIMARY KEY,
    window_start  INTEGER NOT NULL,
    attempts      INTEGER NOT NULL
);
CREATE INDEX auth_throttle_window ON auth_throttle(window_start);

-- The audit chain is keyed from here on: `keyed = 1` events carry an HMAC-SHA256 under the
-- audit key (a file outside the database) instead of a plain SHA-256; the head remembers
-- which key (its public id) the chain is written with.
ALTER TABLE audit_events ADD COLUMN keyed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit_head ADD COLUMN key_id TEXT;
