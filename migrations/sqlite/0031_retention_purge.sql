-- Retention purge (issue 21): an offboarded mailbox's mail is deleted once `purge_after` has
-- passed, through the mail plane's doveadm API; `purged_at` records it, and the receipt
-- keeps what the purge found and removed (`purge`, JSON).
ALTER TABLE mailboxes ADD COLUMN purged_at INTEGER;
-- Why the last attempt to delete the mail failed (cleared by the purge): the failure is
-- recorded in the audit log when it starts or changes, not at every run.
ALTER TABLE mailboxes ADD COLUMN purge_error TEXT;
ALTER TABLE offboarding_receipts ADD COLUMN purge TEXT;
CREATE INDEX mailboxes_purge_due ON mailboxes(purge_after) WHERE status = 'offboarded' AND purged_at IS NULL;

-- Dovecot's userdb (homes and quota), a contract like the other mail_* views: the mailboxes
-- that may hold mail — those of mail_users, and offboarded ones whose mail is not purged yet,
-- so that doveadm can reach their mail to delete it. Nobody signs in to those: the passdb
-- reads mail_users (login = 1), and Postfix does not deliver to them.
-- The first branch is mail_users' own rows and quota (written out rather than read from
-- mail_users, so that SQLite flattens the view and the lookup stays two index searches).
-- Offboarded mailboxes get no quota (0: unlimited): Postfix asks Dovecot's quota-status
-- about an address before its alias is resolved, and an offboarded address kept as an
-- alias to a colleague must not look full.
CREATE VIEW mail_homes AS
SELECT m.address AS address, m.id AS id, m.tenant_id AS tenant_id,
       MAX(1, MIN(COALESCE(m.quota_bytes, p.storage_bytes),
                  p.storage_bytes - (COALESCE(t.storage_used, 0) - COALESCE(m.used_bytes, 0)))) AS quota_bytes
FROM mailboxes m
JOIN mail_live_domains d ON d.id = m.domain_id
JOIN tenants t ON t.id = m.tenant_id
JOIN plans p ON p.id = t.plan_id
WHERE m.status IN ('active', 'locked')
UNION ALL
SELECT m.address AS address, m.id AS id, m.tenant_id AS tenant_id, 0 AS quota_bytes
FROM mailboxes m
WHERE m.status = 'offboarded' AND m.purged_at IS NULL;
