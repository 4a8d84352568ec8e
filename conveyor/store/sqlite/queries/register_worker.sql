-- A worker process announces itself (state running, heartbeat now).
INSERT INTO conveyor_workers (id, hostname, pid, queues, concurrency, version, started_at, last_heartbeat, state)
VALUES (:id, :hostname, :pid, :queues, :concurrency, :version, :now, :now, 'running')
