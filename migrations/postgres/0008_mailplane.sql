-- The mail plane's contract: Postfix and Dovecot read these views (and nothing else), and
-- Dovecot writes mailbox usage into mail_usage. `mailward mailplane render` writes their
-- configuration. The views mirror routing::service::TARGETS_SQL (which reads
-- mail_live_domains too): what the panel says is live is exactly what the mail servers do.

-- App passwords carry a public selector (their first group of four characters), so that
-- Dovecot finds the one row to verify: a passdb query must return a single row.
ALTER TABLE app_passwords ADD COLUMN selector TEXT;
CREATE UNIQUE INDEX app_passwords_selector ON app_passwords(mailbox_id, selector)
    WHERE revoked_at IS NULL;

-- Usage as Dovecot reports it (its quota_clone plugin, through a dict over this table).
-- Triggers carry it to the mailbox and to the tenant's pool, which the panel shows.
CREATE TABLE mail_usage (
    address   TEXT PRIMARY KEY,
    bytes     BIGINT NOT NULL DEFAULT 0,
    messages  BIGINT NOT NULL DEFAULT 0
);

-- Domains that take mail: active, of an active tenant (a suspended tenant's domains stop
-- receiving mail, as the panel says).
CREATE VIEW mail_live_domains AS
SELECT d.id AS id, d.name AS name, d.tenant_id AS tenant_id
FROM domains d
JOIN tenants t ON t.id = d.tenant_id
WHERE d.status = 'active' AND t.status = 'active';

-- Postfix's virtual_mailbox_domains.
CREATE VIEW mail_domains AS
SELECT name AS domain, tenant_id FROM mail_live_domains;

-- Mailboxes that receive mail (active and locked: a locked mailbox keeps receiving, it
-- only cannot sign in). `login` = 1 where the owner's password opens IMAP and submission.
-- quota_bytes is what Dovecot enforces: the mailbox's allocation (else the whole pool), but
-- never more than the pool leaves after the tenant's other mailboxes (offboarded ones whose
-- mail is still kept included). Dovecot reads it at every delivery and login, so the pool
-- holds as usage grows; at least 1 byte (0 would mean "no limit" to Dovecot).
CREATE VIEW mail_users AS
SELECT m.id AS id, m.address AS address, m.password_hash AS password, m.status AS status,
       m.tenant_id AS tenant_id, d.name AS domain,
       GREATEST(1, LEAST(COALESCE(m.quota_bytes, p.storage_bytes),
                  p.storage_bytes - COALESCE((
                      SELECT SUM(u.bytes) FROM mail_usage u JOIN mailboxes o ON o.address = u.address
                      WHERE o.tenant_id = m.tenant_id AND o.id <> m.id), 0))) AS quota_bytes,
       COALESCE(m.quota_bytes, p.storage_bytes) AS allocated_bytes,
       p.storage_bytes AS pool_bytes,
       CASE WHEN m.status = 'active' AND m.password_hash IS NOT NULL THEN 1 ELSE 0 END AS login
FROM mailboxes m
JOIN mail_live_domains d ON d.id = m.domain_id
JOIN tenants t ON t.id = m.tenant_id
JOIN plans p ON p.id = t.plan_id
WHERE m.status IN ('active', 'locked');

-- Live app passwords, one row per protocol they were issued for ('imap' or 'smtp', which is
-- Dovecot's service name for Postfix's SASL requests). App passwords made before this
-- migration have no selector: the mail plane cannot find them (the owner's page says so).
CREATE VIEW mail_app_passwords AS
SELECT m.address AS address, a.selector AS selector, 'imap' AS protocol, a.secret_hash AS password
FROM app_passwords a
JOIN mailboxes m ON m.id = a.mailbox_id
JOIN mail_live_domains d ON d.id = m.domain_id
WHERE a.revoked_at IS NULL AND a.selector IS NOT NULL
  AND (a.expires_at IS NULL OR a.expires_at > CAST(EXTRACT(EPOCH FROM now()) AS BIGINT))
  AND m.status = 'active'
  AND (' ' || a.protocols || ' ') LIKE '% imap %'
UNION ALL
SELECT m.address, a.selector, 'smtp', a.secret_hash
FROM app_passwords a
JOIN mailboxes m ON m.id = a.mailbox_id
JOIN mail_live_domains d ON d.id = m.domain_id
WHERE a.revoked_at IS NULL AND a.selector IS NOT NULL
  AND (a.expires_at IS NULL OR a.expires_at > CAST(EXTRACT(EPOCH FROM now()) AS BIGINT))
  AND m.status = 'active'
  AND (' ' || a.protocols || ' ') LIKE '% smtp %';

-- Where mail for an address goes (Postfix's virtual_alias_maps; it looks up user@domain,
-- then @domain for the catch-all, and follows aliases of aliases itself):
--  * every mailbox not offboarded maps to itself, so a catch-all never takes mail for a
--    real mailbox (one not activated yet is refused: see mail_inactive);
--  * routes that are active and unexpired, in live domains, to confirmed external targets,
--    to live mailboxes of live domains, and to live aliases;
--  * `@domain` → the catch-all's target.
CREATE VIEW mail_aliases AS
SELECT m.address AS source, m.address AS target
FROM mailboxes m
JOIN mail_live_domains d ON d.id = m.domain_id
WHERE m.status IN ('invited', 'active', 'locked')
UNION
SELECT r.source AS source, t.address AS target
FROM routes r
JOIN route_targets t ON t.route_id = r.id
JOIN mail_live_domains d ON d.id = r.domain_id
WHERE r.state = 'active'
  AND (r.expires_at IS NULL OR r.expires_at > CAST(EXTRACT(EPOCH FROM now()) AS BIGINT))
  AND (t.external = 1 AND t.confirmed_at IS NOT NULL
       OR t.external = 0 AND EXISTS (
            SELECT 1 FROM mailboxes tm JOIN mail_live_domains td ON td.id = tm.domain_id
            WHERE tm.id = t.target_mailbox_id AND tm.status IN ('active', 'locked'))
       OR t.external = 0 AND t.target_mailbox_id IS NULL AND EXISTS (
            SELECT 1 FROM routes ar JOIN mail_live_domains ad ON ad.id = ar.domain_id
            WHERE ar.source = t.address AND ar.kind = 'alias' AND ar.state = 'active'
              AND (ar.expires_at IS NULL
                   OR ar.expires_at > CAST(EXTRACT(EPOCH FROM now()) AS BIGINT))));

-- Addresses refused at RCPT as unknown although they map somewhere above or would fall to
-- the catch-all: mailboxes not activated yet, and live routes whose targets are all gone
-- (the panel says such an address receives nothing; the catch-all must not take it).
CREATE VIEW mail_inactive AS
SELECT m.address AS address
FROM mailboxes m
WHERE m.status = 'invited'
UNION
SELECT r.source AS address
FROM routes r
WHERE r.state = 'active' AND r.kind <> 'catchall'
  AND (r.expires_at IS NULL OR r.expires_at > CAST(EXTRACT(EPOCH FROM now()) AS BIGINT))
  AND NOT EXISTS (SELECT 1 FROM mail_aliases a WHERE a.source = r.source);

-- Increments under row locks, so that concurrent deliveries to one tenant add up. SECURITY
-- DEFINER: a database role for the mail servers needs no rights on mailboxes or tenants.
CREATE FUNCTION mail_usage_sync() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    tid TEXT;
    before BIGINT;
BEGIN
    SELECT tenant_id, COALESCE(used_bytes, 0) INTO tid, before
        FROM mailboxes WHERE address = NEW.address FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    UPDATE mailboxes SET used_bytes = NEW.bytes WHERE address = NEW.address;
    UPDATE tenants SET storage_used = COALESCE(storage_used, 0) + NEW.bytes - before
        WHERE id = tid;
    RETURN NULL;
END
$$;

CREATE TRIGGER mail_usage_sync AFTER INSERT OR UPDATE OF bytes ON mail_usage
    FOR EACH ROW EXECUTE FUNCTION mail_usage_sync();
