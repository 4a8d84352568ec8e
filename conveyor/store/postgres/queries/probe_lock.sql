-- Take the worker-lock probe's lock for this transaction; false when another process is probing,
-- so one probe runs at a time (two at once would each hold the locks the other tries). Not the
-- maintenance lock: a maintenance pass never waits for, or is skipped because of, a probe.
SELECT pg_try_advisory_xact_lock(1131376248)
