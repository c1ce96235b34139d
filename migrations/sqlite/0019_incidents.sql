-- Incidents: while one is in force over a tenant (or, with no tenant, the whole platform)
-- the authorization gate refuses what it freezes (core::authz::Action::frozen) and every
-- page of the people concerned shows a red banner. since_at is T, "since when we distrust
-- what happened". Ending takes two people: one asks (end_requested_*), another confirms.
CREATE TABLE incidents (
    id                      TEXT PRIMARY KEY,
    tenant_id               TEXT REFERENCES tenants(id),
    title                   TEXT NOT NULL,
    reason                  TEXT NOT NULL,
    since_at                INTEGER NOT NULL,
    alert_id                TEXT,             -- the alert it was declared from, if any
    state                   TEXT NOT NULL CHECK (state IN ('active', 'ended')),
    declared_by             TEXT,
    declared_by_label       TEXT NOT NULL,
    declared_at             INTEGER NOT NULL,
    end_requested_by        TEXT,
    end_requested_by_label  TEXT,
    end_requested_at        INTEGER,
    end_note                TEXT,
    ended_by                TEXT,
    ended_by_label          TEXT,
    ended_at                INTEGER
);
-- One incident in force per tenant and one for the platform: declaring twice at once
-- leaves one.
CREATE UNIQUE INDEX incidents_one_active ON incidents(COALESCE(tenant_id, '')) WHERE state = 'active';
CREATE INDEX incidents_declared ON incidents(declared_at);
