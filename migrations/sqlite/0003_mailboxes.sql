-- Mailboxes: addresses in a tenant's domains. Their quota is an allocation out of the
-- tenant's storage pool (NULL = "unlimited within the pool"); used bytes arrive from the
-- mail plane (NULL until it has reported). Provisioning, resets and offboarding build on it.

CREATE TABLE mailboxes (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    domain_id     TEXT NOT NULL REFERENCES domains(id),
    local_part    TEXT NOT NULL,
    address       TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('invited', 'active', 'locked', 'offboarded')),
    quota_bytes   INTEGER CHECK (quota_bytes IS NULL OR quota_bytes > 0),
    used_bytes    INTEGER,
    critical      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX mailboxes_domain ON mailboxes(domain_id, local_part);
CREATE INDEX mailboxes_tenant ON mailboxes(tenant_id);

-- Dashboard sorting and filtering over many domains.
CREATE INDEX domains_status ON domains(status, unicode_name);
CREATE INDEX domains_unicode ON domains(unicode_name, name);
CREATE INDEX tenants_name ON tenants(name);
