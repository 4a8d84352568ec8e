-- Running jobs whose worker is gone (dead, stopped, or no heartbeat inside the liveness timeout,
-- counted from the server's start at the earliest: see mark_lost_workers), locked for this pass;
-- maintenance decides what becomes of each.
SELECT j.id, j.task, j.queue, j.attempts, j.max_attempts, j.timeout, j.worker_id, j.started_at
FROM conveyor_jobs j
WHERE j.state = 'running'
  AND NOT EXISTS (
      SELECT 1 FROM conveyor_workers w
      WHERE w.id = j.worker_id AND w.state NOT IN ('stopped', 'dead')
        AND greatest(w.last_heartbeat, pg_postmaster_start_time()) >= now() - make_interval(secs => %(liveness)s))
FOR UPDATE OF j SKIP LOCKED
