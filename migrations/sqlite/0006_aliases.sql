-- Aliases: an address in a tenant's domain delivering to a mailbox of the same tenant.
-- Only `active` rows with `expires_at` unset or in the future route mail. The first kind is
-- the offboarding alias (an offboarded address kept for a colleague for a while, approved
-- by a second person); routing governance adds the others.
CREATE TABLE aliases (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL REFERENCES tenants(id),
    address            TEXT NOT NULL,
    target_mailbox_id  TEXT NOT NULL REFERENCES mailboxes(id),
    kind               TEXT NOT NULL CHECK (kind IN ('offboarding')),
    state              TEXT NOT NULL CHECK (state IN ('active', 'removed')),
    expires_at         INTEGER,
    change_request_id  TEXT REFERENCES change_requests(id),
    created_by_label   TEXT NOT NULL,
    created_at         INTEGER NOT NULL
);
CREATE INDEX aliases_address ON aliases(address, state);
CREATE INDEX aliases_target ON aliases(target_mailbox_id);
