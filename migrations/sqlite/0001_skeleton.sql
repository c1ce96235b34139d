-- Mailward walking skeleton: operators, sign-in factors, sessions, API tokens, audit chain.
-- Times are integer Unix seconds; ids are text; JSON is text (portable across both backends).

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL UNIQUE,
    display_name    TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('owner', 'operator', 'tenant_admin', 'client_viewer')),
    status          TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    password_hash   TEXT NOT NULL,
    totp_secret     TEXT NOT NULL,
    totp_last_step  INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE recovery_codes (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash   TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX recovery_codes_user ON recovery_codes(user_id);

CREATE TABLE invites (
    id            TEXT PRIMARY KEY,
    email         TEXT,
    role          TEXT NOT NULL CHECK (role IN ('owner', 'operator', 'tenant_admin', 'client_viewer')),
    token_hash    TEXT NOT NULL UNIQUE,
    created_by    TEXT REFERENCES users(id),
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    used_at       INTEGER,
    used_by       TEXT REFERENCES users(id),
    revoked_at    INTEGER,
    revealed_at   INTEGER,
    revealed_by   TEXT REFERENCES users(id),
    delivery      TEXT NOT NULL
);

CREATE TABLE auth_failures (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    subject  TEXT NOT NULL,
    at       INTEGER NOT NULL
);
CREATE INDEX auth_failures_subject_at ON auth_failures(subject, at);

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    handle        TEXT NOT NULL,
    user_id       TEXT REFERENCES users(id) ON DELETE CASCADE,
    data          TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    ip            TEXT,
    user_agent    TEXT
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expires ON sessions(expires_at);

CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    scopes        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    revoked_at    INTEGER
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

-- The audit chain: one head row that every writer updates first (serialising writers),
-- and append-only events, each carrying the hash of the one before.
CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   INTEGER NOT NULL,
    hash  TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE audit_events (
    seq          INTEGER PRIMARY KEY,
    at           INTEGER NOT NULL,
    actor_id     TEXT,
    actor_label  TEXT NOT NULL,
    action       TEXT NOT NULL,
    target       TEXT,
    tenant_id    TEXT,
    ip           TEXT,
    user_agent   TEXT,
    details      TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);
CREATE INDEX audit_events_action ON audit_events(action);
CREATE INDEX audit_events_actor ON audit_events(actor_id);
CREATE INDEX audit_events_at ON audit_events(at);
