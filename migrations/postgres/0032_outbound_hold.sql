-- Incident mode can hold a tenant's outbound mail (issue 21): while `outbound_held_at` is set on
-- an incident in force, `mailward policy` answers HOLD for submissions of its tenant (of every
-- tenant for a platform incident): Postfix keeps them in its hold queue, nothing leaves.
ALTER TABLE incidents ADD COLUMN outbound_held_at BIGINT;
ALTER TABLE incidents ADD COLUMN outbound_held_by_label TEXT;
-- Messages put on hold, counted per tenant and hour beside those sent and refused.
ALTER TABLE send_counts ADD COLUMN held BIGINT NOT NULL DEFAULT 0;
