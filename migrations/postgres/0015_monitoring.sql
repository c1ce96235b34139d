-- Monitoring: what the mail plane's logins looked like (Dovecot's authentication policy
-- reports each IMAP and SMTP AUTH to Mailward), the alerts the signals raise, and where the
-- watcher of the audit log has got to.

-- Failed sign-ins, one row each, from the mail plane (imap, smtp) and the console and
-- self-service sign-ins (console, me). Kept 30 days.
CREATE TABLE signin_failures (
    id          TEXT PRIMARY KEY,
    at          BIGINT NOT NULL,
    login       TEXT NOT NULL,           -- what was typed, lower-cased
    mailbox_id  TEXT,                    -- NULL: no such mailbox (or a console user)
    tenant_id   TEXT,
    protocol    TEXT NOT NULL CHECK (protocol IN ('imap', 'smtp', 'console', 'me', 'other')),
    remote      TEXT NOT NULL,
    network     TEXT NOT NULL            -- the /24 (IPv4) or /48 (IPv6) of remote
);
CREATE INDEX signin_failures_remote ON signin_failures(remote, at);
CREATE INDEX signin_failures_login ON signin_failures(login, at);
CREATE INDEX signin_failures_at ON signin_failures(at);

-- Successful mail-plane logins, one row per mailbox and network (not per login: a mail
-- client logs in every few minutes): enough to know a network never seen before.
CREATE TABLE mail_networks (
    mailbox_id  TEXT NOT NULL,
    tenant_id   TEXT NOT NULL,
    network     TEXT NOT NULL,
    first_at    BIGINT NOT NULL,
    last_at     BIGINT NOT NULL,
    hits        BIGINT NOT NULL,
    last_remote TEXT NOT NULL,
    protocol    TEXT NOT NULL,
    via         TEXT NOT NULL CHECK (via IN ('password', 'app_password', 'unknown')),
    PRIMARY KEY (mailbox_id, network)
);
CREATE INDEX mail_networks_recent ON mail_networks(mailbox_id, last_at);

-- Alerts: open → acknowledged → resolved. While one is not resolved, the same signal adds
-- to it (hits, last_at) instead of raising another.
CREATE TABLE alerts (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT,                   -- NULL: platform-wide (owners and operators see it)
    rule         TEXT NOT NULL,
    severity     TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    dedupe_key   TEXT NOT NULL,
    title        TEXT NOT NULL,
    detail       TEXT NOT NULL,          -- JSON object
    evidence     TEXT NOT NULL,          -- JSON array: "audit:<seq>" / "failure:<id>" (latest 50)
    state        TEXT NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
    first_at     BIGINT NOT NULL,
    last_at      BIGINT NOT NULL,
    hits         BIGINT NOT NULL,
    acked_by     TEXT,
    acked_at     BIGINT,
    resolved_by  TEXT,
    resolved_at  BIGINT,
    note         TEXT
);
CREATE UNIQUE INDEX alerts_live_key ON alerts(dedupe_key) WHERE state <> 'resolved';
CREATE INDEX alerts_state ON alerts(state, last_at);
CREATE INDEX alerts_tenant ON alerts(tenant_id, state, last_at);

-- How far the watcher has read the audit log (one row). It starts at the present: history
-- raises nothing.
CREATE TABLE monitor_cursor (
    name   TEXT PRIMARY KEY,
    seq    BIGINT NOT NULL
);
INSERT INTO monitor_cursor (name, seq) SELECT 'audit', COALESCE(MAX(seq), 0) FROM audit_events;
