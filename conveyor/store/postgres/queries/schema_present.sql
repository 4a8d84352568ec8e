-- Whether Conveyor's schema-version table exists.
SELECT to_regclass('conveyor_schema_version') IS NOT NULL AS present
