-- Delegation (issue 21): another mailbox of the same tenant may send as a mailbox (an
-- assistant for a manager, a team for info@). A row is a grant; revoking deletes it (the
-- audit log keeps the history). Offboarding either mailbox revokes its grants.
CREATE TABLE mailbox_delegations (
    mailbox_id       TEXT NOT NULL REFERENCES mailboxes(id),
    delegate_id      TEXT NOT NULL REFERENCES mailboxes(id),
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    created_at       BIGINT NOT NULL,
    created_by_label TEXT NOT NULL,
    PRIMARY KEY (mailbox_id, delegate_id),
    CHECK (mailbox_id <> delegate_id)
);
CREATE INDEX mailbox_delegations_delegate ON mailbox_delegations(delegate_id);
CREATE INDEX mailbox_delegations_tenant ON mailbox_delegations(tenant_id);

-- Postfix's sender-login map (smtpd_sender_login_maps): which logins may send as an address.
-- An active mailbox that can sign in, as itself; and the active delegates of an active
-- mailbox. Several rows for one address: Postfix joins them (any of them may send).
-- Written over the tables (not over mail_users) so each branch is an index search.
CREATE VIEW mail_sender_logins AS
SELECT m.address AS address, m.address AS login
FROM mailboxes m
JOIN mail_live_domains d ON d.id = m.domain_id
WHERE m.status = 'active' AND m.password_hash IS NOT NULL
UNION ALL
SELECT s.address AS address, dm.address AS login
FROM mailboxes s
JOIN mail_live_domains sd ON sd.id = s.domain_id
JOIN mailbox_delegations g ON g.mailbox_id = s.id
JOIN mailboxes dm ON dm.id = g.delegate_id
WHERE s.status = 'active' AND dm.status = 'active' AND dm.password_hash IS NOT NULL;

CREATE OR REPLACE FUNCTION mail_lookup_login(key TEXT) RETURNS SETOF TEXT LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY SELECT v.login FROM mail_sender_logins v WHERE v.address = key;
END $$;
