-- Background jobs: rows claimed by workers (several server instances may share one
-- PostgreSQL), with a heartbeat so that a job whose worker died is picked up again.
CREATE TABLE jobs (
    id                TEXT PRIMARY KEY,
    kind              TEXT NOT NULL,
    tenant_id         TEXT REFERENCES tenants(id),
    -- draft (previewed, not started), queued, running, done, failed, cancelled
    state             TEXT NOT NULL CHECK (state IN ('draft', 'queued', 'running', 'done', 'failed', 'cancelled')),
    phase             TEXT NOT NULL DEFAULT '',
    progress_done     BIGINT NOT NULL DEFAULT 0,
    progress_total    BIGINT NOT NULL DEFAULT 0,
    payload           TEXT NOT NULL DEFAULT '{}',
    result            TEXT,
    error             TEXT,
    created_by        TEXT,
    created_by_label  TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    started_at        BIGINT,
    finished_at       BIGINT,
    claimed_by        TEXT,
    heartbeat_at      BIGINT,
    attempts          BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX jobs_state ON jobs(state, created_at);

-- The rows of a CSV import, validated at upload (error per line), then created in batches:
-- a row's mailbox id is written in the same transaction as the mailbox, so a resumed import
-- never creates it twice.
CREATE TABLE import_rows (
    job_id        TEXT NOT NULL REFERENCES jobs(id),
    line          BIGINT NOT NULL,
    address       TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    quota_bytes   BIGINT,
    invite_to     TEXT,
    error         TEXT,
    mailbox_id    TEXT,
    invited_at    BIGINT,
    PRIMARY KEY (job_id, line)
);
