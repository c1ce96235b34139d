-- Tenancy: the plan catalogue, tenants with pooled storage, and their domains.
-- Sizes are bytes (decimal: 1 GB = 1,000,000,000 bytes). Booleans are 0/1 integers.

CREATE TABLE plans (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    max_domains    BIGINT NOT NULL CHECK (max_domains >= 1),
    storage_bytes  BIGINT NOT NULL CHECK (storage_bytes >= 0),
    managed_smtp   BIGINT NOT NULL DEFAULT 0,
    position       BIGINT NOT NULL,
    retired_at     BIGINT,
    created_at     BIGINT NOT NULL
);
INSERT INTO plans (id, name, max_domains, storage_bytes, managed_smtp, position, created_at) VALUES
    ('plan_free',    'Free',     1,    1000000000, 0, 1, 0),
    ('plan_starter', 'Starter',  3,   10000000000, 1, 2, 0),
    ('plan_pro',     'Pro',     10,   50000000000, 1, 3, 0),
    ('plan_agency',  'Agency',  50,  200000000000, 1, 4, 0);

CREATE TABLE tenants (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL,
    slug               TEXT NOT NULL UNIQUE,
    plan_id            TEXT NOT NULL REFERENCES plans(id),
    status             TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
    contact_name       TEXT,
    contact_email      TEXT,
    -- maintained counters (updated in the same transaction as the change they count)
    domain_count       BIGINT NOT NULL DEFAULT 0,
    storage_allocated  BIGINT NOT NULL DEFAULT 0,
    -- bytes used as the mail plane reports it; NULL until it has reported
    storage_used       BIGINT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);

CREATE TABLE domains (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL REFERENCES tenants(id),
    name               TEXT NOT NULL UNIQUE,
    unicode_name       TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('pending', 'active', 'suspended')),
    category           TEXT NOT NULL,
    catch_all_enabled  BIGINT NOT NULL DEFAULT 0,
    mailbox_count      BIGINT NOT NULL DEFAULT 0,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX domains_tenant ON domains(tenant_id);

-- Scoped roles: operators see all tenants or a listed set; tenant admins and client viewers
-- belong to exactly one tenant.
ALTER TABLE users ADD COLUMN all_tenants BIGINT NOT NULL DEFAULT 1;
CREATE TABLE user_tenants (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    PRIMARY KEY (user_id, tenant_id)
);
CREATE INDEX user_tenants_tenant ON user_tenants(tenant_id);
-- Invitations to a tenant role name their tenant.
ALTER TABLE invites ADD COLUMN tenant_id TEXT REFERENCES tenants(id);
