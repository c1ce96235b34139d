-- DNS: domain ownership verification, the health summary the dashboard sorts and filters by,
-- per-category baseline templates, the latest observation of each record set, DKIM keys.

-- Verification (tenancy owns domains): a TXT record `_mailward-challenge.<domain>` holding
-- `mailward-verify=<token>` proves control of the zone. Domains that were activated before
-- verification existed count as verified ("legacy").
ALTER TABLE domains ADD COLUMN verify_token TEXT;
ALTER TABLE domains ADD COLUMN verified_at INTEGER;
ALTER TABLE domains ADD COLUMN verified_how TEXT CHECK (verified_how IN ('dns', 'override', 'legacy'));
UPDATE domains SET verify_token = lower(hex(randomblob(16)));
UPDATE domains SET verified_at = updated_at, verified_how = 'legacy' WHERE status <> 'pending';
-- The scanner's summary, written through tenancy's store: what the Health column shows.
ALTER TABLE domains ADD COLUMN dns_health TEXT NOT NULL DEFAULT 'unknown'
    CHECK (dns_health IN ('unknown', 'green', 'amber', 'red'));
ALTER TABLE domains ADD COLUMN dns_reason TEXT;
ALTER TABLE domains ADD COLUMN dns_drift INTEGER NOT NULL DEFAULT 0;
ALTER TABLE domains ADD COLUMN dns_checked_at INTEGER;
CREATE INDEX domains_health ON domains(dns_health, name);

-- One template per domain category (a missing row means the built-in default).
CREATE TABLE dns_templates (
    category    TEXT PRIMARY KEY CHECK (category IN ('standard', 'transactional', 'marketing', 'parked')),
    body        TEXT NOT NULL,          -- JSON: dns::Template
    updated_at  INTEGER NOT NULL,
    updated_by  TEXT NOT NULL
);

-- The latest observation of each expected (or unexpectedly present) record set.
CREATE TABLE dns_records (
    domain_id    TEXT NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    tenant_id    TEXT NOT NULL,
    name         TEXT NOT NULL,         -- owner name, relative to the domain ('@', '_dmarc', …)
    rtype        TEXT NOT NULL,         -- MX, TXT, SRV
    purpose      TEXT NOT NULL,         -- mx, spf, dkim, dmarc, mta-sts, tls-rpt, srv, verify
    expected     TEXT NOT NULL,         -- JSON array of values
    observed     TEXT,                  -- JSON array of values; NULL when unknown
    status       TEXT NOT NULL CHECK (status IN ('ok', 'missing', 'changed', 'extra', 'unknown')),
    detail       TEXT,
    observed_at  INTEGER NOT NULL,
    since        INTEGER NOT NULL,      -- when this status began
    PRIMARY KEY (domain_id, name, rtype, purpose)
);

-- DKIM keys: private halves encrypted (ChaCha20-Poly1305 under the DKIM key file).
CREATE TABLE dkim_keys (
    id           TEXT PRIMARY KEY,
    domain_id    TEXT NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    tenant_id    TEXT NOT NULL,
    selector     TEXT NOT NULL,
    algorithm    TEXT NOT NULL CHECK (algorithm IN ('rsa', 'ed25519')),
    public_key   TEXT NOT NULL,         -- base64, as published in p=
    private_enc  TEXT NOT NULL,         -- base64(nonce || ciphertext)
    state        TEXT NOT NULL CHECK (state IN ('published', 'active', 'retiring', 'retired')),
    created_at   INTEGER NOT NULL,
    seen_at      INTEGER,               -- seen on every authoritative nameserver
    active_at    INTEGER,
    retire_after INTEGER,
    retired_at   INTEGER,
    UNIQUE (domain_id, selector)
);
-- At most one signing key per domain.
CREATE UNIQUE INDEX dkim_keys_active ON dkim_keys(domain_id) WHERE state = 'active';
-- …and at most one waiting to be seen (a rotation in progress): two clicks make one key.
CREATE UNIQUE INDEX dkim_keys_published ON dkim_keys(domain_id) WHERE state = 'published';
