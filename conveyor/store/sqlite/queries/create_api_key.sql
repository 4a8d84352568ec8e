-- Store a new API key (its hash only).
INSERT INTO conveyor_api_keys (id, key_hash, tenant, role, name, created_at)
VALUES (:id, :hash, :tenant, :role, :name, :now)
