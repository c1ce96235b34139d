-- Background jobs: rows claimed by workers (several server instances may share one
-- PostgreSQL), with a heartbeat so that a job whose worker died is picked up again.
CREATE TABLE jobs (
    id                TEXT PRIMARY KEY,
    kind              TEXT NOT NULL,
    tenant_id         TEXT REFERENCES tenants(id),
    -- draft (previewed, not started), queued, running, done, failed, cancelled
    state             TEXT NOT NULL CHECK (state IN ('draft', 'queued', 'running', 'done', 'failed', 'cancelled')),
    phase             TEXT NOT NULL DEFAULT '',
    progress_done     INTEGER NOT NULL DEFAULT 0,
    progress_total    INTEGER NOT NULL DEFAULT 0,
    payload           TEXT NOT NULL DEFAULT '{}',
    result            TEXT,
    error             TEXT,
    created_by        TEXT,
    created_by_label  TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    started_at        INTEGER,
    finished_at       INTEGER,
    claimed_by        TEXT,
    heartbeat_at      INTEGER,
    attempts          INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_state ON jobs(state, created_at);

-- The rows of a CSV import, validated at upload (error per line), then created in batches:
-- a row's mailbox id is written in the same transaction as the mailbox, so a resumed import
-- never creates it twice.
CREATE TABLE import_rows (
    job_id        TEXT NOT NULL REFERENCES jobs(id),
    line          INTEGER NOT NULL,
    address       TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    quota_bytes   INTEGER,
    invite_to     TEXT,
    error         TEXT,
    mailbox_id    TEXT,
    invited_at    INTEGER,
    PRIMARY KEY (job_id, line)
);
