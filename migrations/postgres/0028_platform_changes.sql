-- Change requests about the platform itself (an operator made owner, an operator's wider
-- tenant scope, a reset of someone's second factor) belong to no tenant.
ALTER TABLE change_requests ALTER COLUMN tenant_id DROP NOT NULL;
