-- Refresh a worker's liveness and counters; returns the state an operator asked for. A worker
-- declared dead is not revived here (no row: it must re-register, see worker_state).
UPDATE conveyor_workers SET last_heartbeat = :now, state = :state, stopped_at = NULL,
    jobs_in_flight = :inflight, processed = :processed, failed = :failed
WHERE id = :id AND state <> 'dead' RETURNING desired_state
