-- Running jobs of the given workers (just declared dead), locked for this pass; maintenance
-- decides what becomes of each. The columns of select_orphans (ran, pickup: the per-minute figures).
SELECT j.id, j.task, j.queue, j.tenant, j.attempts, j.max_attempts, j.timeout, j.worker_id, j.started_at,
       greatest(0, extract(epoch FROM now() - j.started_at))::float8 AS ran,
       extract(epoch FROM j.started_at - j.queued_at)::float8 AS pickup
FROM conveyor_jobs j
WHERE j.state = 'running' AND j.worker_id = ANY(%(workers)s)
FOR UPDATE OF j SKIP LOCKED
