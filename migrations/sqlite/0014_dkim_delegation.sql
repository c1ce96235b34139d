-- DKIM selectors delegated to a zone the operator controls (`dkim_zone`): the customer
-- publishes two CNAMEs once (mw1._domainkey and mw2._domainkey → mwN.<domain>.<zone>) and
-- Mailward writes the key records into the operator zone itself (RFC 2136), so a rotation
-- needs no customer edit. One row per domain that delegates or once did; no row: the key
-- records are the customer's to publish.
CREATE TABLE dkim_delegations (
    domain_id  TEXT PRIMARY KEY REFERENCES domains(id) ON DELETE CASCADE,
    tenant_id  TEXT NOT NULL,
    zone       TEXT NOT NULL,
    -- 1: new keys take the delegated selectors. 0: delegation is being taken back (the next
    -- key is the customer's to publish; the delegated key's records stay until it retires).
    enabled    INTEGER NOT NULL DEFAULT 1,
    since      INTEGER NOT NULL
);
