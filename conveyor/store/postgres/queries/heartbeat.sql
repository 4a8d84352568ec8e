-- Refresh a worker's liveness and counters; returns the state an operator asked for. A worker
-- declared dead comes back to life here (its old leases stay void).
UPDATE conveyor_workers SET last_heartbeat = now(), state = %(state)s, stopped_at = NULL,
    jobs_in_flight = %(inflight)s, processed = %(processed)s, failed = %(failed)s
WHERE id = %(id)s
RETURNING desired_state
