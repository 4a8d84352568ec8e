-- Running jobs of the given workers (a JSON array of ids, just declared dead); maintenance decides
-- what becomes of each (the write lock is held). The columns of select_orphans.
SELECT id, task, queue, tenant, attempts, max_attempts, timeout, worker_id, started_at,
       max(0, :now - started_at) AS ran, started_at - queued_at AS pickup
FROM conveyor_jobs
WHERE state = 'running' AND worker_id IN (SELECT value FROM json_each(:workers))
