-- An incident's postmortem: what people add to what Mailward pre-fills from the audit log
-- (the timeline between T and the end, what changed, who approved it, which control let it
-- through). Shared with the tenant's client viewers when `shared` is 1.
CREATE TABLE incident_postmortems (
    incident_id       TEXT PRIMARY KEY REFERENCES incidents(id),
    root_cause        TEXT NOT NULL DEFAULT '',
    blocking_control  TEXT NOT NULL DEFAULT '',
    -- JSON [{"what": "...", "owner": "..."}]: follow-up actions with their owners.
    actions           TEXT NOT NULL DEFAULT '[]',
    shared            BIGINT NOT NULL DEFAULT 0,
    updated_by_label  TEXT NOT NULL,
    updated_at        BIGINT NOT NULL
);
