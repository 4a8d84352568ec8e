-- Wait for the migration lock (held to the end of the transaction): one process migrates at a time.
SELECT pg_advisory_xact_lock(1131376247)
