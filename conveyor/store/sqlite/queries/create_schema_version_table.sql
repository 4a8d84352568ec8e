-- The table recording which numbered migrations were applied.
CREATE TABLE IF NOT EXISTS conveyor_schema_version
    (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at REAL NOT NULL)
