-- Record a migration as applied.
INSERT INTO conveyor_schema_version (version, name, applied_at) VALUES (:version, :name, :now)
