-- Running jobs of the given workers (just declared dead), locked for this pass; maintenance
-- decides what becomes of each.
SELECT j.id, j.task, j.queue, j.attempts, j.max_attempts, j.timeout, j.worker_id, j.started_at
FROM conveyor_jobs j
WHERE j.state = 'running' AND j.worker_id = ANY(%(workers)s)
FOR UPDATE OF j SKIP LOCKED
