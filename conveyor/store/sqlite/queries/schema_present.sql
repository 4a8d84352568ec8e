-- Whether Conveyor's schema-version table exists.
SELECT count(*) > 0 AS present FROM sqlite_master WHERE type = 'table' AND name = 'conveyor_schema_version'
