-- Take the maintenance lock for this transaction; false when another process holds it, so one
-- pass runs at a time across workers and servers.
SELECT pg_try_advisory_xact_lock(1131376246)
