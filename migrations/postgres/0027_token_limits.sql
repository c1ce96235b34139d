-- An API token can be limited to some of its account's tenants and to source addresses.
-- tenant_ids: comma-separated tenant ids (NULL: every tenant the account sees);
-- allow_from: comma-separated addresses or CIDR ranges (NULL: from anywhere).
ALTER TABLE api_tokens ADD COLUMN tenant_ids TEXT;
ALTER TABLE api_tokens ADD COLUMN allow_from TEXT;
