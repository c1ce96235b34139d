-- Change requests about the platform itself (an operator made owner, an operator's wider
-- tenant scope, a reset of someone's second factor) belong to no tenant: tenant_id becomes
-- optional. SQLite cannot drop NOT NULL, so the table is rebuilt; `routes` and the table's
-- own `rollback_of` point at it, so foreign keys are checked at commit, when the rebuilt
-- table holds every id again.
PRAGMA defer_foreign_keys = ON;

CREATE TABLE change_requests_new (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT REFERENCES tenants(id),
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
    requested_at        INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL,
    decided_by          TEXT,
    decided_by_label    TEXT,
    decided_at          INTEGER,
    decision_note       TEXT,
    applied_at          INTEGER,
    result              TEXT,
    rollback_of         TEXT REFERENCES change_requests(id),
    after_state         TEXT
);
INSERT INTO change_requests_new (id, tenant_id, kind, target_id, target_label, payload,
    before_state, rollback, reason, state, requested_by, requested_by_label, requested_at,
    expires_at, decided_by, decided_by_label, decided_at, decision_note, applied_at, result,
    rollback_of, after_state)
SELECT id, tenant_id, kind, target_id, target_label, payload, before_state, rollback, reason,
    state, requested_by, requested_by_label, requested_at, expires_at, decided_by,
    decided_by_label, decided_at, decision_note, applied_at, result, rollback_of, after_state
FROM change_requests;
DROP TABLE change_requests;
ALTER TABLE change_requests_new RENAME TO change_requests;
CREATE INDEX change_requests_state ON change_requests(state, requested_at);
CREATE INDEX change_requests_target ON change_requests(target_id);
CREATE UNIQUE INDEX change_requests_one_rollback ON change_requests(rollback_of)
    WHERE state = 'pending';
