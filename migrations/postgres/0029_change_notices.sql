-- Notices about change requests (issue 22): approvers are mailed when a request starts to wait,
-- the requester when it is decided. The columns record that the notice went out (claimed by
-- the notices job, so two instances never mail twice); requests from before this migration
-- count as notified, so an upgrade mails nobody about the past.
ALTER TABLE change_requests ADD COLUMN notified_at BIGINT;
ALTER TABLE change_requests ADD COLUMN decision_notified_at BIGINT;
UPDATE change_requests SET notified_at = requested_at, decision_notified_at = requested_at;
CREATE INDEX change_requests_unannounced ON change_requests(requested_at) WHERE notified_at IS NULL;
CREATE INDEX change_requests_untold ON change_requests(requested_at) WHERE decision_notified_at IS NULL;
