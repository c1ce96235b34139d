-- DNS changes as production changes. Where each domain's DNS is managed: "rfc2136" (Mailward
-- updates the zone's primary nameserver itself, signed with the domain's TSIG key, sealed at
-- rest like DKIM keys) or "manual" (someone edits the zone elsewhere and says when it is done).
-- No row: manual.
CREATE TABLE dns_providers (
    domain_id        TEXT PRIMARY KEY REFERENCES domains(id) ON DELETE CASCADE,
    tenant_id        TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('rfc2136', 'manual')),
    server           TEXT,             -- primary nameserver, ip:port
    zone             TEXT,             -- the zone that holds the domain (the domain or a parent)
    tsig_name        TEXT,
    tsig_algorithm   TEXT,
    tsig_secret      TEXT,             -- sealed (core::sealed), bound to the domain
    -- 1: an owner allows changes outside the baseline's record sets (and to NS).
    allow_unmanaged  BIGINT NOT NULL DEFAULT 0,
    tested_at        BIGINT,
    test_result      TEXT,             -- the last connection test, in words
    updated_at       BIGINT NOT NULL,
    updated_by       TEXT NOT NULL
);

-- One row per approved DNS change (change kind dns.record): what the zone should hold now
-- (want: the after-values, or the before-values while a rollback is verified), where its
-- verification stands, and each check's result. The change request itself (payload, before,
-- reason, decision) is the changes capability's row with the same id.
CREATE TABLE dns_changes (
    change_id      TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL,
    domain_id      TEXT NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    fqdn           TEXT NOT NULL,
    rtype          TEXT NOT NULL,
    before_values  TEXT NOT NULL,      -- JSON array, as the primary answered before
    after_values   TEXT NOT NULL,      -- JSON array
    want           TEXT NOT NULL CHECK (want IN ('after', 'before')),
    phase          TEXT NOT NULL CHECK (phase IN ('awaiting_entry', 'verifying', 'verified',
                       'rolling_back', 'rolled_back', 'rollback_failed', 'failed')),
    serial_before  BIGINT,                 -- the SOA serial before the update (NULL: unknown)
    checks         TEXT NOT NULL DEFAULT '[]',  -- JSON: the latest result of each check
    deadline       BIGINT,                 -- verification gives up after this
    note           TEXT,               -- why it failed or was rolled back, in words
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX dns_changes_domain ON dns_changes (domain_id, created_at);
