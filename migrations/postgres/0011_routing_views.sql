-- Two more views of the mail plane's contract, for routing's resolver (routing::service::targets
-- answers "where does mail for this address go?" as Postfix does, and reads mailboxes only
-- through these, never the table: one owner per table).
-- Mailboxes that receive mail: active or locked, in a live domain (the mailbox part of
-- mail_users, without the quota arithmetic).
CREATE VIEW mail_receiving AS
SELECT m.id AS id, m.address AS address, m.domain_id AS domain_id
FROM mailboxes m
JOIN mail_live_domains d ON d.id = m.domain_id
WHERE m.status IN ('active', 'locked');

-- Addresses that are mailboxes (any status but offboarded): a catch-all never takes them.
CREATE VIEW mail_mailbox_addresses AS
SELECT address FROM mailboxes WHERE status <> 'offboarded';
