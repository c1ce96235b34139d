-- The domain-control registry: per domain, who controls it outside Mailward — registrar and
-- the account there (who holds it, its recovery address, whether MFA is on), the DNS
-- provider, expiry and auto-renew, whose card pays — and the delegation it should have
-- (expected NS, and DS where DNSSEC is used; the DNS scanner compares them with what is
-- served). warnings holds the codes in force at the last check, alerted those an alert was
-- raised for (each fires once while it holds). version guards concurrent edits.
CREATE TABLE domain_control (
    domain_id          TEXT PRIMARY KEY REFERENCES domains(id) ON DELETE CASCADE,
    tenant_id          TEXT NOT NULL REFERENCES tenants(id),
    registrar          TEXT NOT NULL DEFAULT '',
    registrar_account  TEXT NOT NULL DEFAULT '',
    dns_provider       TEXT NOT NULL DEFAULT '',
    expires_at         INTEGER,            -- midnight UTC of the expiry date
    expiry_source      TEXT,               -- 'manual' or 'rdap'
    auto_renew         INTEGER,            -- 1, 0, NULL = not recorded
    recovery_address   TEXT NOT NULL DEFAULT '',
    mfa                INTEGER,            -- 1, 0, NULL = not recorded
    billing_owner      TEXT NOT NULL DEFAULT '',
    expected_ns        TEXT NOT NULL DEFAULT '',  -- host names, lower case, sorted, space-separated
    expected_ds        TEXT NOT NULL DEFAULT '',  -- DS records (key tag, algorithm, digest type, digest), one per line
    notes              TEXT NOT NULL DEFAULT '',
    reviewed_by_label  TEXT,
    reviewed_at        INTEGER,
    rdap_at            INTEGER,
    rdap_error         TEXT,
    warnings           TEXT NOT NULL DEFAULT '[]',
    alerted            TEXT NOT NULL DEFAULT '[]',
    version            INTEGER NOT NULL DEFAULT 1,
    updated_by_label   TEXT NOT NULL,
    updated_at         INTEGER NOT NULL
);
CREATE INDEX domain_control_tenant ON domain_control(tenant_id);
