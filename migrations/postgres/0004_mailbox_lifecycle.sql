-- Mailbox lifecycle: owner passwords (argon2id PHC with Dovecot's {ARGON2ID} prefix), invitation
-- links, recovery codes, app passwords, change requests (the one mechanism for governed
-- changes) and offboarding receipts.

ALTER TABLE mailboxes ADD COLUMN password_hash TEXT;
ALTER TABLE mailboxes ADD COLUMN password_set_at BIGINT;
-- The person's other address: invitations and security notices go there.
ALTER TABLE mailboxes ADD COLUMN contact_email TEXT;
-- Who an invitation link was revealed to, shown on the mailbox until its owner sets a password.
ALTER TABLE mailboxes ADD COLUMN invite_revealed_to TEXT;
ALTER TABLE mailboxes ADD COLUMN offboarded_at BIGINT;
-- Offboarded with "keep mail for N days": the mail plane deletes the mail after this time.
ALTER TABLE mailboxes ADD COLUMN purge_after BIGINT;

-- Whether operators may reveal an invitation link for out-of-band delivery:
-- 'allowed', 'not_critical' (the default: never for critical mailboxes) or 'forbidden'.
ALTER TABLE tenants ADD COLUMN invite_reveal TEXT NOT NULL DEFAULT 'not_critical'
    CHECK (invite_reveal IN ('allowed', 'not_critical', 'forbidden'));

CREATE TABLE mailbox_invites (
    id                TEXT PRIMARY KEY,
    mailbox_id        TEXT NOT NULL REFERENCES mailboxes(id),
    tenant_id         TEXT NOT NULL REFERENCES tenants(id),
    -- 'provision' (first password) or 'reset' (an operator-initiated reset)
    purpose           TEXT NOT NULL CHECK (purpose IN ('provision', 'reset')),
    token_hash        TEXT NOT NULL UNIQUE,
    send_to           TEXT,
    delivery          TEXT NOT NULL CHECK (delivery IN ('email', 'reveal')),
    reason            TEXT,
    created_by        TEXT,
    created_by_label  TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    used_at           BIGINT,
    revoked_at        BIGINT,
    revealed_at       BIGINT,
    revealed_by       TEXT
);
CREATE INDEX mailbox_invites_mailbox ON mailbox_invites(mailbox_id);

CREATE TABLE mailbox_recovery_codes (
    id          TEXT PRIMARY KEY,
    mailbox_id  TEXT NOT NULL REFERENCES mailboxes(id),
    code_hash   TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX mailbox_recovery_codes_mailbox ON mailbox_recovery_codes(mailbox_id);

CREATE TABLE app_passwords (
    id            TEXT PRIMARY KEY,
    mailbox_id    TEXT NOT NULL REFERENCES mailboxes(id),
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    name          TEXT NOT NULL,
    -- 'imap', 'smtp' or 'imap smtp'
    protocols     TEXT NOT NULL,
    secret_hash   TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX app_passwords_mailbox ON app_passwords(mailbox_id);

-- Governed changes: requested by one person, approved by another, applied once.
CREATE TABLE change_requests (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants(id),
    kind                TEXT NOT NULL,
    target_id           TEXT NOT NULL,
    target_label        TEXT NOT NULL,
    payload             TEXT NOT NULL,
    before_state        TEXT NOT NULL,
    rollback            TEXT,
    reason              TEXT NOT NULL,
    state               TEXT NOT NULL CHECK (state IN
        ('pending', 'approved', 'applied', 'rejected', 'cancelled', 'expired', 'failed', 'rolled_back')),
    requested_by        TEXT,
    requested_by_label  TEXT NOT NULL,
    requested_at        BIGINT NOT NULL,
    expires_at          BIGINT NOT NULL,
    decided_by          TEXT,
    decided_by_label    TEXT,
    decided_at          BIGINT,
    decision_note       TEXT,
    applied_at          BIGINT,
    result              TEXT
);
CREATE INDEX change_requests_state ON change_requests(state, requested_at);
CREATE INDEX change_requests_target ON change_requests(target_id);

CREATE TABLE offboarding_receipts (
    id           TEXT PRIMARY KEY,
    mailbox_id   TEXT NOT NULL REFERENCES mailboxes(id),
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    address      TEXT NOT NULL,
    actor_id     TEXT,
    actor_label  TEXT NOT NULL,
    at           BIGINT NOT NULL,
    options      TEXT NOT NULL,
    revoked      TEXT NOT NULL,
    scan         TEXT,
    scan_clean   BIGINT,
    scan_at      BIGINT
);
CREATE INDEX offboarding_receipts_mailbox ON offboarding_receipts(mailbox_id);

-- Mailbox owners sign in to their self-service area; their sessions name the mailbox so a
-- reset or an offboarding can end them all.
ALTER TABLE sessions ADD COLUMN mailbox_id TEXT;
CREATE INDEX sessions_mailbox ON sessions(mailbox_id);

-- A mailbox's recent sign-ins and resets are read from the audit log by target.
CREATE INDEX audit_events_target ON audit_events(target, at);
