-- The unrevoked key with this hash.
SELECT id, tenant, role, name, created_at, revoked_at FROM conveyor_api_keys
WHERE key_hash = :hash AND revoked_at IS NULL
