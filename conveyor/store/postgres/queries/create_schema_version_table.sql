-- The table recording which numbered migrations were applied.
CREATE TABLE IF NOT EXISTS conveyor_schema_version
    (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
