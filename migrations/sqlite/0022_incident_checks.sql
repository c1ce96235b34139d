-- "Validate domain control" during an incident: for each affected domain, each item of the
-- domain-control registry (registrar access, DNS provider access, recovery address, MFA,
-- delegation) confirmed by a named person, with the time and an optional note. The domain's
-- name is kept so the checklist reads right after the domain is gone.
CREATE TABLE incident_checks (
    incident_id         TEXT NOT NULL REFERENCES incidents(id),
    domain_id           TEXT NOT NULL,
    domain_name         TEXT NOT NULL,
    item                TEXT NOT NULL,
    note                TEXT NOT NULL DEFAULT '',
    confirmed_by        TEXT,
    confirmed_by_label  TEXT NOT NULL,
    confirmed_at        INTEGER NOT NULL,
    PRIMARY KEY (incident_id, domain_id, item)
);
