-- DMARC aggregate reports (RFC 7489 appendix C / RFC 9990), one row per report and one per
-- record in it. A report is known by who sent it, its id, its domain and its date range:
-- importing it again changes nothing.
CREATE TABLE dmarc_reports (
    id          TEXT PRIMARY KEY,
    domain_id   TEXT NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    tenant_id   TEXT NOT NULL,
    org_name    TEXT NOT NULL,
    report_id   TEXT NOT NULL,
    date_begin  BIGINT NOT NULL,
    date_end    BIGINT NOT NULL,
    policy      TEXT NOT NULL,
    messages    BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    via         TEXT NOT NULL CHECK (via IN ('upload', 'api', 'mailbox')),
    UNIQUE (domain_id, org_name, report_id, date_begin, date_end)
);

CREATE TABLE dmarc_rows (
    report_id    TEXT NOT NULL REFERENCES dmarc_reports(id) ON DELETE CASCADE,
    domain_id    TEXT NOT NULL,
    day          BIGINT NOT NULL,      -- the report's first day (UTC midnight)
    source_ip    TEXT NOT NULL,
    messages     BIGINT NOT NULL,
    disposition  TEXT NOT NULL,         -- none, quarantine, reject (what the receiver did)
    dkim_aligned BIGINT NOT NULL,      -- DMARC's DKIM result: aligned pass
    spf_aligned  BIGINT NOT NULL,
    dkim_fail    BIGINT NOT NULL,      -- some DKIM signature failed to verify
    spf_softfail BIGINT NOT NULL,
    header_from  TEXT NOT NULL
);
CREATE INDEX dmarc_rows_domain_day ON dmarc_rows(domain_id, day);
CREATE INDEX dmarc_rows_domain_source ON dmarc_rows(domain_id, source_ip);
