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

-- Where alerts are sent: e-mail addresses and webhooks (Standard Webhooks: signed id,
-- timestamp and body). A tenant's destinations get its alerts; the platform's (tenant_id
-- NULL) get every alert. Webhook secrets are sealed (the DKIM key file); during a rotation
-- the previous secret signs too, until old_until.
CREATE TABLE alert_destinations (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT,
    kind            TEXT NOT NULL CHECK (kind IN ('email', 'webhook')),
    target          TEXT NOT NULL,       -- an address, or an http(s) URL
    secret_enc      TEXT,                -- webhooks: the signing secret, sealed
    old_secret_enc  TEXT,
    old_until       BIGINT,
    min_severity    TEXT NOT NULL CHECK (min_severity IN ('info', 'warning', 'critical')),
    daily_cap       BIGINT NOT NULL,         -- messages per rule per day; more are logged as capped
    digest          BIGINT NOT NULL DEFAULT 0, -- 1: one message a day with the day's alerts
    last_digest_at  BIGINT,
    created_at      BIGINT NOT NULL,
    created_by      TEXT NOT NULL
);
CREATE INDEX alert_destinations_tenant ON alert_destinations(tenant_id);

-- Each message to each destination: queued, retried with backoff, then sent or failed;
-- capped (over the daily cap) and held (waiting for the digest) are logged too.
CREATE TABLE alert_deliveries (
    id              TEXT PRIMARY KEY,
    destination_id  TEXT NOT NULL REFERENCES alert_destinations(id) ON DELETE CASCADE,
    alert_id        TEXT,                -- NULL: a test message or a digest
    rule            TEXT NOT NULL,
    subject         TEXT NOT NULL,
    payload         TEXT NOT NULL,       -- the JSON body (webhooks) / the facts (e-mail)
    state           TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'failed', 'capped', 'held')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_at         BIGINT NOT NULL,
    last_error      TEXT,
    status_code     BIGINT,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT
);
CREATE INDEX alert_deliveries_due ON alert_deliveries(state, next_at);
CREATE INDEX alert_deliveries_destination ON alert_deliveries(destination_id, created_at);
CREATE INDEX alert_deliveries_cap ON alert_deliveries(destination_id, rule, created_at);
