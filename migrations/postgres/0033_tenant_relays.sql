-- A tenant's own outgoing SMTP relay (issue 21). Free plans bring their own; paid plans send
-- through the platform's managed relay unless the tenant sets one. `mailward policy` answers
-- Postfix's socketmap lookups from here: which relay a hosted sender's mail leaves through,
-- and with which credentials. The password is sealed (core::sealed), bound to the tenant, the
-- host, the port and the user name: a sealed password copied to another row or host does not
-- open.
CREATE TABLE tenant_relays (
    tenant_id        TEXT PRIMARY KEY REFERENCES tenants(id),
    host             TEXT NOT NULL,
    port             BIGINT NOT NULL CHECK (port BETWEEN 1 AND 65535),
    tls              TEXT NOT NULL CHECK (tls IN ('starttls', 'tls')),
    username         TEXT NOT NULL,
    password_enc     TEXT NOT NULL,
    updated_at       BIGINT NOT NULL,
    updated_by_label TEXT NOT NULL,
    -- The last connection test: when, whether it passed, what the relay said.
    tested_at        BIGINT,
    test_ok          BIGINT,
    test_result      TEXT
);
