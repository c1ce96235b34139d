-- Routing governance. A route sends mail for a source (an address, or `@domain` for a
-- catch-all) to one or more targets (mailboxes of the tenant, or external addresses).
-- Kinds: alias (address → mailboxes/aliases of the tenant), forward (mailbox or alias →
-- external addresses; approved, expiring), catchall (unknown local parts of a domain → one
-- mailbox; approved, expiring), offboarding (an offboarded address kept for a colleague).
-- Only `active` routes with `expires_at` unset or in the future, and only confirmed targets,
-- carry mail: see routing::service::targets, the query the mail plane mirrors.
CREATE TABLE routes (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants(id),
    domain_id           TEXT NOT NULL REFERENCES domains(id),
    kind                TEXT NOT NULL CHECK (kind IN ('alias', 'forward', 'catchall', 'offboarding')),
    source              TEXT NOT NULL,
    -- unconfirmed: approved, waiting for an external recipient to confirm
    state               TEXT NOT NULL CHECK (state IN ('unconfirmed', 'active', 'expired', 'removed')),
    expires_at          INTEGER,
    reason              TEXT NOT NULL DEFAULT '',
    change_request_id   TEXT REFERENCES change_requests(id),
    requested_by        TEXT,
    requested_by_label  TEXT NOT NULL,
    approved_by_label   TEXT,
    created_at          INTEGER NOT NULL,
    ended_at            INTEGER,
    ended_reason        TEXT,
    reminded_at         INTEGER
);
-- One live route per source: two catch-alls for a domain, or two rules for one address,
-- cannot exist at once.
CREATE UNIQUE INDEX routes_live_source ON routes(source) WHERE state IN ('unconfirmed', 'active');
CREATE INDEX routes_tenant ON routes(tenant_id, state);
CREATE INDEX routes_expiry ON routes(state, expires_at);

CREATE TABLE route_targets (
    route_id            TEXT NOT NULL REFERENCES routes(id),
    address             TEXT NOT NULL,
    target_mailbox_id   TEXT REFERENCES mailboxes(id),
    external            INTEGER NOT NULL DEFAULT 0,
    -- recipient confirmation (a tenant policy): a one-time link, hashed, expiring
    confirm_hash        TEXT,
    confirm_expires_at  INTEGER,
    confirmed_at        INTEGER,
    PRIMARY KEY (route_id, address)
);
CREATE INDEX route_targets_mailbox ON route_targets(target_mailbox_id);
CREATE UNIQUE INDEX route_targets_confirm ON route_targets(confirm_hash);

-- The offboarding aliases move into routes.
INSERT INTO routes (id, tenant_id, domain_id, kind, source, state, expires_at, reason,
    change_request_id, requested_by_label, approved_by_label, created_at)
SELECT a.id, a.tenant_id, (SELECT s.domain_id FROM mailboxes s WHERE s.address = a.address), 'offboarding', a.address, a.state, a.expires_at, '',
    a.change_request_id, a.created_by_label, a.created_by_label, a.created_at
FROM aliases a JOIN mailboxes m ON m.id = a.target_mailbox_id;
INSERT INTO route_targets (route_id, address, target_mailbox_id, external, confirmed_at)
SELECT a.id, m.address, m.id, 0, a.created_at FROM aliases a JOIN mailboxes m ON m.id = a.target_mailbox_id;
DROP TABLE aliases;

-- Per-tenant routing policy.
ALTER TABLE tenants ADD COLUMN alias_policy TEXT NOT NULL DEFAULT 'direct';
ALTER TABLE tenants ADD COLUMN forward_allowlist TEXT NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN route_default_days INTEGER NOT NULL DEFAULT 30;
ALTER TABLE tenants ADD COLUMN route_max_days INTEGER NOT NULL DEFAULT 90;
ALTER TABLE tenants ADD COLUMN forward_confirmation INTEGER NOT NULL DEFAULT 0;

-- Recurring jobs (the routing expiry sweep…) wait for their time; the worker creates them.
ALTER TABLE jobs ADD COLUMN run_after INTEGER;
