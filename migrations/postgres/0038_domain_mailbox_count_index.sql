-- The platform's mailbox total (the dashboard's figure, the mailbox list's count) sums the
-- domains' maintained counters. Summed from the table it reads every domain row (0.7 ms at
-- 5,000 domains on SQLite, on every dashboard view); from this index, its small entries.
CREATE INDEX domains_mailbox_count ON domains(tenant_id, mailbox_count);
