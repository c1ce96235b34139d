-- Monitoring, second step: each tenant's own thresholds (NULL: the platform's default from
-- the configuration) and whether its client viewers see its alerts; the hours at which each
-- mailbox signs in to the mail plane (a login far outside them is a signal).
CREATE TABLE alert_settings (
    tenant_id         TEXT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    failure_burst     INTEGER,          -- failed sign-ins for one account …
    failure_minutes   INTEGER,          -- … within this many minutes
    new_network_days  INTEGER,          -- a network unused this long is new
    reset_burst       INTEGER,          -- resets …
    reset_minutes     INTEGER,          -- … within this many minutes
    auth_fail_percent INTEGER,          -- share of own mail failing DMARC at receivers
    odd_hours         INTEGER NOT NULL DEFAULT 1,   -- 0: no alert for unusual hours
    viewers_see       INTEGER NOT NULL DEFAULT 0,   -- 1: client viewers read the alerts
    updated_at        INTEGER NOT NULL,
    updated_by        TEXT NOT NULL
);

-- Successful mail-plane logins per mailbox and hour of the day (UTC).
CREATE TABLE mail_login_hours (
    mailbox_id  TEXT NOT NULL,
    hour        INTEGER NOT NULL CHECK (hour BETWEEN 0 AND 23),
    hits        INTEGER NOT NULL,
    first_at    INTEGER NOT NULL,
    last_at     INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, hour)
);

-- The country of a network's last login, when a GeoIP database is configured (NULL: unknown,
-- or none configured): a login from a country the account has not used is a signal.
ALTER TABLE mail_networks ADD COLUMN country TEXT;
