-- The mail plane's lookups as indexed point queries (Postfix asks mail_aliases and
-- mail_inactive once per recipient). As UNION views they were built whole before the filter:
-- ≈ 200–500 ms per lookup at 100,000 mailboxes on SQLite. As UNION ALL views the planner
-- flattens them and the `WHERE source = …` reaches every branch, each an index search.
-- Same rows as before (UNION ALL keeps duplicates, so none may arise): a route's target that
-- is its own source mailbox is already the mailbox's own row, and one live route per source
-- (routes_live_source) with one row per target (the primary key) leaves no other duplicate.
-- PostgreSQL pushed the filter down already (≈ 2 ms); the views stay the same on both databases.
-- CREATE OR REPLACE keeps the grants of the mail plane's role (scripts/mailplane-role.pg.sql).

-- As on SQLite (where the partial routes_live_source cannot serve `state = 'active'`).
CREATE INDEX routes_source ON routes(source, state);

CREATE OR REPLACE VIEW mail_aliases AS
SELECT m.address AS source, m.address AS target
FROM mailboxes m
JOIN mail_live_domains d ON d.id = m.domain_id
WHERE m.status IN ('invited', 'active', 'locked')
UNION ALL
SELECT r.source AS source, t.address AS target
FROM routes r
JOIN route_targets t ON t.route_id = r.id
JOIN mail_live_domains d ON d.id = r.domain_id
WHERE r.state = 'active'
  AND (r.expires_at IS NULL OR r.expires_at > CAST(EXTRACT(EPOCH FROM now()) AS BIGINT))
  AND NOT (t.target_mailbox_id IS NOT NULL AND t.address = r.source)
  AND (t.external = 1 AND t.confirmed_at IS NOT NULL
       OR t.external = 0 AND EXISTS (
            SELECT 1 FROM mailboxes tm JOIN mail_live_domains td ON td.id = tm.domain_id
            WHERE tm.id = t.target_mailbox_id AND tm.status IN ('active', 'locked'))
       OR t.external = 0 AND t.target_mailbox_id IS NULL AND EXISTS (
            SELECT 1 FROM routes ar JOIN mail_live_domains ad ON ad.id = ar.domain_id
            WHERE ar.source = t.address AND ar.kind = 'alias' AND ar.state = 'active'
              AND (ar.expires_at IS NULL
                   OR ar.expires_at > CAST(EXTRACT(EPOCH FROM now()) AS BIGINT))));

-- The second branch leaves out invited mailboxes (the first has them), so no address repeats.
CREATE OR REPLACE VIEW mail_inactive AS
SELECT m.address AS address
FROM mailboxes m
WHERE m.status = 'invited'
UNION ALL
SELECT r.source AS address
FROM routes r
WHERE r.state = 'active' AND r.kind <> 'catchall'
  AND (r.expires_at IS NULL OR r.expires_at > CAST(EXTRACT(EPOCH FROM now()) AS BIGINT))
  AND NOT EXISTS (SELECT 1 FROM mail_aliases a WHERE a.source = r.source)
  AND NOT EXISTS (SELECT 1 FROM mailboxes im WHERE im.address = r.source AND im.status = 'invited');

-- Dovecot's userdb reads quota_bytes at every delivery and login. It summed the usage of the
-- tenant's other mailboxes (a read of the whole tenant per lookup); the same number is kept
-- by the mail_usage triggers: the pool's use (tenants.storage_used) less this mailbox's own
-- (mailboxes.used_bytes). NUMERIC, the type the sum gave the column (a view keeps its types).
CREATE OR REPLACE VIEW mail_users AS
SELECT m.id AS id, m.address AS address, m.password_hash AS password, m.status AS status,
       m.tenant_id AS tenant_id, d.name AS domain,
       CAST(GREATEST(1, LEAST(COALESCE(m.quota_bytes, p.storage_bytes),
                  p.storage_bytes - (COALESCE(t.storage_used, 0) - COALESCE(m.used_bytes, 0)))) AS NUMERIC) AS quota_bytes,
       COALESCE(m.quota_bytes, p.storage_bytes) AS allocated_bytes,
       p.storage_bytes AS pool_bytes,
       CASE WHEN m.status = 'active' AND m.password_hash IS NOT NULL THEN 1 ELSE 0 END AS login
FROM mailboxes m
JOIN mail_live_domains d ON d.id = m.domain_id
JOIN tenants t ON t.id = m.tenant_id
JOIN plans p ON p.id = t.plan_id
WHERE m.status IN ('active', 'locked');

-- PostgreSQL plans every query it is sent, and Postfix sends plain queries (no prepared
-- statements): planning the routing views takes 1–2.5 ms, twenty times the lookup itself,
-- six lookups per RCPT. Postfix calls these functions instead (`mailward mailplane render`
-- on PostgreSQL); a plpgsql function keeps its plan for the connection, which Postfix's
-- proxymap holds open. Each reads one view with the caller's rights (the mail plane's role
-- reads the views), so the views stay the contract; SQLite caches its own plans and reads the
-- views directly.
CREATE FUNCTION mail_lookup_domain(key TEXT) RETURNS SETOF TEXT LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY SELECT v.domain FROM mail_domains v WHERE v.domain = key;
END $$;

CREATE FUNCTION mail_lookup_user(key TEXT) RETURNS SETOF TEXT LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY SELECT v.address FROM mail_users v WHERE v.address = key;
END $$;

CREATE FUNCTION mail_lookup_login(key TEXT) RETURNS SETOF TEXT LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY SELECT v.address FROM mail_users v WHERE v.address = key AND v.login = 1;
END $$;

CREATE FUNCTION mail_lookup_aliases(key TEXT) RETURNS SETOF TEXT LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY SELECT v.target FROM mail_aliases v WHERE v.source = key;
END $$;

CREATE FUNCTION mail_lookup_inactive(key TEXT) RETURNS SETOF TEXT LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY SELECT v.address FROM mail_inactive v WHERE v.address = key;
END $$;
