-- Revoke a key; no row back when it was unknown or already revoked.
UPDATE conveyor_api_keys SET revoked_at = :now WHERE id = :id AND revoked_at IS NULL RETURNING id
