-- Every API key, oldest first.
SELECT id, tenant, role, name, created_at, revoked_at FROM conveyor_api_keys ORDER BY created_at
