-- The mail probes of the batch being verified (JSON {domain: [check…]}; NULL before they are
-- sent and again whenever the plan moves to another stage or batch).
ALTER TABLE dns_bulk_plans ADD COLUMN probes TEXT;
