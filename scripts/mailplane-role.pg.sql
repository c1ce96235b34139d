-- A PostgreSQL role for the mail servers: read the mail_* views, write mail_usage, nothing
-- else (views read their tables with their owner's rights; the usage trigger is SECURITY
-- DEFINER). Replace MAILPLANE_ROLE, run it as Mailward's database owner, then render with
--   mailward mailplane render --mail-database-url postgres://MAILPLANE_ROLE:…@host/db …
-- The mail-plane tests run every PostgreSQL case through such a role.
CREATE ROLE MAILPLANE_ROLE LOGIN;
GRANT SELECT ON mail_live_domains, mail_domains, mail_users, mail_homes, mail_app_passwords,
                mail_sender_logins, mail_shared_groups,
                mail_aliases, mail_inactive TO MAILPLANE_ROLE;
GRANT SELECT, INSERT, UPDATE ON mail_usage TO MAILPLANE_ROLE;
-- Postfix's lookups go through these (migration 0026: their plans stay with the connection).
GRANT EXECUTE ON FUNCTION mail_lookup_domain(TEXT), mail_lookup_user(TEXT),
                          mail_lookup_login(TEXT), mail_lookup_aliases(TEXT),
                          mail_lookup_inactive(TEXT) TO MAILPLANE_ROLE;
