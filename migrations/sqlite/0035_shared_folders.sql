-- Shared folders (issue 21): a delegation may also open the mailbox's folders to the
-- delegate over IMAP (read, or read and write), with or without sending as it. Dovecot's ACL
-- on the mailbox names two groups, mw-read-<id> and mw-read_write-<id>; who is in them is
-- the userdb's acl_groups, read from mail_shared_groups below, so a grant or a revocation is
-- in force at the delegate's next IMAP session (Mailward ends the live ones).
ALTER TABLE mailbox_delegations ADD COLUMN send_as INTEGER NOT NULL DEFAULT 1;
ALTER TABLE mailbox_delegations ADD COLUMN folders TEXT NOT NULL DEFAULT 'none'
    CHECK (folders IN ('none', 'read', 'read_write'));

-- Sending as a mailbox is now one of a delegation's rights, not all of it.
DROP VIEW mail_sender_logins;
CREATE VIEW mail_sender_logins AS
SELECT m.address AS address, m.address AS login
FROM mailboxes m
JOIN mail_live_domains d ON d.id = m.domain_id
WHERE m.status = 'active' AND m.password_hash IS NOT NULL
UNION ALL
SELECT s.address AS address, dm.address AS login
FROM mailboxes s
JOIN mail_live_domains sd ON sd.id = s.domain_id
JOIN mailbox_delegations g ON g.mailbox_id = s.id
JOIN mailboxes dm ON dm.id = g.delegate_id
WHERE s.status = 'active' AND dm.status = 'active' AND dm.password_hash IS NOT NULL
  AND g.send_as = 1;

-- Dovecot's userdb (acl_groups): the ACL groups a mailbox signs in with, one row each — the
-- folders of active mailboxes it was granted. Looked up by the delegate's address (index).
CREATE VIEW mail_shared_groups AS
SELECT dm.address AS address, 'mw-' || g.folders || '-' || g.mailbox_id AS grp
FROM mailboxes dm
JOIN mailbox_delegations g ON g.delegate_id = dm.id
JOIN mailboxes s ON s.id = g.mailbox_id
WHERE g.folders <> 'none' AND dm.status = 'active' AND s.status = 'active';
