-- Rollback through the change-request queue: a rollback is a change request of the same
-- kind that points at the applied request it undoes; applying it marks that one rolled_back.
ALTER TABLE change_requests ADD COLUMN rollback_of TEXT REFERENCES change_requests(id);
-- The object as applying the change left it (JSON): a rollback refuses when the object no
-- longer looks like this (someone changed it since).
ALTER TABLE change_requests ADD COLUMN after_state TEXT;
-- At most one rollback waits for each applied request.
CREATE UNIQUE INDEX change_requests_one_rollback ON change_requests(rollback_of)
    WHERE state = 'pending';
