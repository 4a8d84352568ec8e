-- The newest migration applied.
SELECT coalesce(max(version), 0) AS version FROM conveyor_schema_version
