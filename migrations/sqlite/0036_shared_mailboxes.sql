-- Shared mailboxes (issue 21): a mailbox nobody signs in to (info@, support@), reached only
-- through delegation (its folders over IMAP, sending as it). It is active from the start,
-- has no password, no link and no app password; it takes its share of the tenant's pool
-- like any mailbox.
ALTER TABLE mailboxes ADD COLUMN shared INTEGER NOT NULL DEFAULT 0;
