-- A worker process announces itself (state running, heartbeat now), or a worker declared dead
-- re-registers under its id after handing back what it ran (its old leases stay void). It holds
-- no lock yet: attach_worker_lock records the one it holds.
INSERT INTO conveyor_workers (id, hostname, pid, queues, concurrency, version, state)
VALUES (%(id)s, %(hostname)s, %(pid)s, %(queues)s, %(concurrency)s, %(version)s, 'running')
ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, pid = excluded.pid, queues = excluded.queues,
    concurrency = excluded.concurrency, version = excluded.version, state = 'running', desired_state = NULL,
    last_heartbeat = now(), stopped_at = NULL, lock_key = NULL, lock_free_since = NULL, detected_by = NULL
