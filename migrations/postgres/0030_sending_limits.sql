-- Sending limits (issue 21): messages a mailbox and a whole tenant may submit per hour, by plan,
-- enforced by `mailward policy` (Postfix's policy delegation on the submission service).
ALTER TABLE plans ADD COLUMN send_per_hour_mailbox BIGINT NOT NULL DEFAULT 200 CHECK (send_per_hour_mailbox >= 1);
ALTER TABLE plans ADD COLUMN send_per_hour_tenant BIGINT NOT NULL DEFAULT 2000 CHECK (send_per_hour_tenant >= 1);
UPDATE plans SET send_per_hour_mailbox = 50, send_per_hour_tenant = 100 WHERE id = 'plan_free';
UPDATE plans SET send_per_hour_mailbox = 100, send_per_hour_tenant = 500 WHERE id = 'plan_starter';
UPDATE plans SET send_per_hour_mailbox = 200, send_per_hour_tenant = 2000 WHERE id = 'plan_pro';
UPDATE plans SET send_per_hour_mailbox = 500, send_per_hour_tenant = 10000 WHERE id = 'plan_agency';

-- One row per mailbox and per tenant per clock hour: messages let through and refused. The
-- policy service increments with a conditional UPDATE (sent < limit), so concurrent
-- submissions never pass the limit; rows older than a week are removed as new hours begin.
CREATE TABLE send_counts (
    scope         TEXT NOT NULL CHECK (scope IN ('mailbox', 'tenant')),
    subject_id    TEXT NOT NULL,
    window_start  BIGINT NOT NULL,
    tenant_id     TEXT NOT NULL,
    sent          BIGINT NOT NULL DEFAULT 0,
    refused       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, subject_id, window_start)
);
CREATE INDEX send_counts_tenant ON send_counts(tenant_id, window_start);
