-- Running jobs whose worker is gone (dead, stopped, or no heartbeat inside the liveness timeout,
-- counted from the server's start at the earliest: see mark_lost_workers), locked for this pass;
-- maintenance decides what becomes of each. ran and pickup (seconds: start until now, queued until
-- start) count the ended attempt in the per-minute task figures.
SELECT j.id, j.task, j.queue, j.tenant, j.attempts, j.max_attempts, j.timeout, j.worker_id, j.started_at,
       greatest(0, extract(epoch FROM now() - j.started_at))::float8 AS ran,
       extract(epoch FROM j.started_at - j.queued_at)::float8 AS pickup
FROM conveyor_jobs j
WHERE j.state = 'running'
  AND NOT EXISTS (
      SELECT 1 FROM conveyor_workers w
      WHERE w.id = j.worker_id AND w.state NOT IN ('stopped', 'dead')
        AND greatest(w.last_heartbeat, pg_postmaster_start_time()) >= now() - make_interval(secs => %(liveness)s))
FOR UPDATE OF j SKIP LOCKED
