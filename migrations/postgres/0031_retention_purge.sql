-- Retention purge (issue 21): an offboarded mailbox's mail is deleted once `purge_after` has
-- passed, through the mail plane's doveadm API; `purged_at` records it, and the receipt
-- keeps what the purge found and removed (`purge`, JSON).
ALTER TABLE mailboxes ADD COLUMN purged_at BIGINT;
-- Why the last attempt to delete the mail failed (cleared by the purge): the failure is
-- recorded in the audit log when it starts or changes, not at every run.
ALTER TABLE mailboxes ADD COLUMN purge_error TEXT;
ALTER TABLE offboarding_receipts ADD COLUMN purge TEXT;
CREATE INDEX mailboxes_purge_due ON mailboxes(purge_after) WHERE status = 'offboarded' AND purged_at IS NULL;

-- Dovecot's userdb (homes and quota), a contract like the other mail_* views: the mailboxes
-- that may hold mail — those of mail_users, and offboarded ones whose mail is not purged yet,
-- so that doveadm can reach their mail to delete it. Nobody signs in to those: the passdb
-- reads mail_users (login = 1), and Postfix does not deliver to them.
CREATE VIEW mail_homes AS
SELECT u.address AS address, u.id AS id, u.tenant_id AS tenant_id, u.quota_bytes AS quota_bytes
FROM mail_users u
UNION ALL
SELECT m.address AS address, m.id AS id, m.tenant_id AS tenant_id,
       COALESCE(m.used_bytes, 0) + 1 AS quota_bytes
FROM mailboxes m
WHERE m.status = 'offboarded' AND m.purged_at IS NULL;
