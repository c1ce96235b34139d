-- Monitoring, second step: each tenant's own thresholds (NULL: the platform's default from
-- the configuration) and whether its client viewers see its alerts; the hours at which each
-- mailbox signs in to the mail plane (a login far outside them is a signal).
CREATE TABLE alert_settings (
    tenant_id         TEXT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    failure_burst     BIGINT,          -- failed sign-ins for one account …
    failure_minutes   BIGINT,          -- … within this many minutes
    new_network_days  BIGINT,          -- a network unused this long is new
    reset_burst       BIGINT,          -- resets …
    reset_minutes     BIGINT,          -- … within this many minutes
    auth_fail_percent BIGINT,          -- share of own mail failing DMARC at receivers
    odd_hours         BIGINT NOT NULL DEFAULT 1,   -- 0: no alert for unusual hours
    viewers_see       BIGINT NOT NULL DEFAULT 0,   -- 1: client viewers read the alerts
    updated_at        BIGINT NOT NULL,
    updated_by        TEXT NOT NULL
);

-- Successful mail-plane logins per mailbox and hour of the day (UTC).
CREATE TABLE mail_login_hours (
    mailbox_id  TEXT NOT NULL,
    hour        BIGINT NOT NULL CHECK (hour BETWEEN 0 AND 23),
    hits        BIGINT NOT NULL,
    first_at    BIGINT NOT NULL,
    last_at     BIGINT NOT NULL,
    PRIMARY KEY (mailbox_id, hour)
);

-- The country of a network's last login, when a GeoIP database is configured (NULL: unknown,
-- or none configured): a login from a country the account has not used is a signal.
ALTER TABLE mail_networks ADD COLUMN country TEXT;
