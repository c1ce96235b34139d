-- Email as identity: the outside services (a registrar, a bank, a cloud console, a social
-- account) that use a mailbox as their sign-in or recovery address. Whoever holds the
-- mailbox can take those accounts over; a mailbox with entries is proposed as critical, and
-- an incident's report lists them for the mailboxes it concerns. Entered by the owner at
-- /me or by an operator.
CREATE TABLE mailbox_identities (
    id              TEXT PRIMARY KEY,
    mailbox_id      TEXT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    tenant_id       TEXT NOT NULL,
    service         TEXT NOT NULL,
    note            TEXT NOT NULL DEFAULT '',
    added_by_label  TEXT NOT NULL,
    added_at        INTEGER NOT NULL
);
CREATE UNIQUE INDEX mailbox_identities_one ON mailbox_identities(mailbox_id, LOWER(service));
CREATE INDEX mailbox_identities_tenant ON mailbox_identities(tenant_id);
