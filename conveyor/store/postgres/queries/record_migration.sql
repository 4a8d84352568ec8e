-- Record a migration as applied.
INSERT INTO conveyor_schema_version (version, name) VALUES (%(version)s, %(name)s)
