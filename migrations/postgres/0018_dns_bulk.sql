-- Bulk DNS changes (change kind dns.bulk): one approval for a plan over many domains of a
-- tenant, run by the job dns.bulk — a canary domain first (batch 0), then batches of
-- batch_size, each verified on every nameserver before the next; a failing batch is rolled
-- back and the plan stops, earlier batches stay. Every step is written before the next, so a
-- restart (or kill -9) resumes where it was without applying anything twice.
CREATE TABLE dns_bulk_plans (
    change_id        TEXT PRIMARY KEY,      -- the change request (kind dns.bulk)
    tenant_id        TEXT NOT NULL,
    title            TEXT NOT NULL,
    batch_size       BIGINT NOT NULL,
    batches          BIGINT NOT NULL,           -- batches after the canary
    -- JSON [[domain, percent]]: zones the plan would change or delete more than
    -- dns_bulk_max_percent of; approving needs an override with a reason first.
    unsafe_zones     TEXT NOT NULL DEFAULT '[]',
    override_by      TEXT,
    override_reason  TEXT,
    override_at      BIGINT,
    state            TEXT NOT NULL CHECK (state IN ('planned', 'running', 'done', 'stopped', 'undoing', 'undone')),
    batch            BIGINT NOT NULL DEFAULT 0, -- the batch being worked on (0: the canary)
    stage            TEXT NOT NULL DEFAULT 'apply'
                     CHECK (stage IN ('apply', 'verify', 'rollback', 'verify_rollback')),
    deadline         BIGINT,                    -- the current verification gives up after this
    note             TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

CREATE TABLE dns_bulk_items (
    change_id      TEXT NOT NULL,
    seq            BIGINT NOT NULL,
    tenant_id      TEXT NOT NULL,
    domain_id      TEXT NOT NULL,
    domain         TEXT NOT NULL,
    batch          BIGINT NOT NULL,
    fqdn           TEXT NOT NULL,
    rtype          TEXT NOT NULL,
    before_values  TEXT NOT NULL,           -- JSON, read from the primary when planned
    after_values   TEXT NOT NULL,
    ttl            BIGINT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('pending', 'applied', 'verified', 'failed',
                       'rolled_back', 'skipped')),
    serial_before  BIGINT,
    detail         TEXT,
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (change_id, seq)
);
CREATE INDEX dns_bulk_items_batch ON dns_bulk_items (change_id, batch);
